using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Jobs;

/// <summary>
/// Named jobs that run without any file: data source, model and hyper-parameters that are known to work.
/// Every field can be overridden from the command line.
/// </summary>
public static class Presets
{
    public static IReadOnlyList<string> Names { get; } = ["penguins", "fashion-mlp", "fashion-cnn", "shapes-cnn"];

    /// <summary>The W2 benchmark network: 784-256-128-10, ReLU.</summary>
    public static ModelSpec FashionMlp { get; } = new([1, 28, 28],
    [
        new FlattenSpec(),
        new DenseSpec(256), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(128), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(10, Initializer.Glorot),
    ]);

    /// <summary>The W3 benchmark network (DESIGN.md §4).</summary>
    public static ModelSpec FashionCnn { get; } = new([1, 28, 28],
    [
        new Conv2DSpec(32, 3, 1, 1), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2),
        new Conv2DSpec(64, 3, 1, 1), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2),
        new SpatialDropoutSpec(0.25f),
        new FlattenSpec(),
        new DenseSpec(128), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(10, Initializer.Glorot),
    ]);

    /// <summary>A small CNN for the synthetic shapes (triangle, square, circle) at 32×32 grey.</summary>
    public static ModelSpec ShapesCnn(int size = 32, int channels = 1) => new([channels, size, size],
    [
        new Conv2DSpec(8, 3, 1, 1), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2),
        new Conv2DSpec(16, 3, 1, 1), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2),
        new DropoutSpec(0.1f),
        new FlattenSpec(),
        new DenseSpec(32), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(3, Initializer.Glorot),
    ]);

    public static TrainingJob Get(string name, ulong seed = 42, string? jobId = null)
    {
        jobId ??= $"{name}-{seed}";
        return name switch
        {
            "penguins" => new TrainingJob(jobId, new DataSpec("penguins"), PenguinsModel, LossKind.SoftmaxCrossEntropy,
                new OptimizerSpec(OptimizerKind.Adam, 0.01f), Epochs: 100, BatchSize: 16, Seed: seed, TrainFraction: 0.7, ValidationFraction: 0.15),
            "fashion-mlp" => new TrainingJob(jobId, new DataSpec("fashion-mnist"), FashionMlp, LossKind.SoftmaxCrossEntropy,
                new OptimizerSpec(OptimizerKind.Adam, 1e-3f), Epochs: 3, BatchSize: 128, Seed: seed, TrainFraction: 1.0, ValidationFraction: 0.0),
            "fashion-cnn" => new TrainingJob(jobId, new DataSpec("fashion-mnist"), FashionCnn, LossKind.SoftmaxCrossEntropy,
                new OptimizerSpec(OptimizerKind.Adam, 1e-3f), Epochs: 1, BatchSize: 128, Seed: seed, TrainFraction: 1.0, ValidationFraction: 0.0),
            "shapes-cnn" => new TrainingJob(jobId, new DataSpec("shapes", ImageSize: 32, Channels: 1, Count: 1200, Augment: true), ShapesCnn(), LossKind.SoftmaxCrossEntropy,
                new OptimizerSpec(OptimizerKind.Adam, 2e-3f), Epochs: 15, BatchSize: 32, Seed: seed, TrainFraction: 0.7, ValidationFraction: 0.15),
            _ => throw new ArgumentException($"Unknown preset '{name}'; choose one of: {string.Join(", ", Names)}."),
        };
    }

    /// <summary>The course-notes network: 4 inputs, two hidden layers of five neurons, 3 outputs.</summary>
    public static ModelSpec PenguinsModel => Data.Presets.Penguins.DefaultModel;
}
