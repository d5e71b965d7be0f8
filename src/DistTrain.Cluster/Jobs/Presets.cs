using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Jobs;

/// <summary>
/// Named jobs that run without any file: data source, model and hyper-parameters that are known to work.
/// Every field can be overridden from the command line.
/// </summary>
public static class Presets
{
    public static IReadOnlyList<string> Names { get; } = ["penguins", "fashion-mlp", "fashion-cnn", "shapes-cnn", "shapes-resnet"];

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

    /// <summary>
    /// A small CNN for the synthetic shapes (triangle, square, circle); at the preset's 20×20 grey:
    /// conv 5×5 (16, no padding) → (16, 16, 16), then three times 2×2 max-pool with 3×3 convs (32, 32)
    /// between → (32, 2, 2) → dense 64 → 3. The 5×5 first layer sees a corner whole (the shapes are
    /// 6–11 px across at 20 px) and costs little because the input has one channel. Its padding is chosen
    /// so that the three pools divide the map exactly for any even size (20, 28: none; 16, 24, 32: 2), so
    /// no border rows fall off when the CLI rebuilds the network for another --image-size. ReLU comes after
    /// each pool: max and ReLU commute, so it is the usual conv-ReLU-pool network with ReLU on a quarter of
    /// the values.
    /// </summary>
    public static ModelSpec ShapesCnn(int size = ShapesImageSize, int channels = 1) => new([channels, size, size],
    [
        new Conv2DSpec(16, 5, 1, ShapesFirstPadding(size)), new MaxPool2DSpec(2), new ActivationSpec(ActivationKind.ReLU),
        new Conv2DSpec(32, 3, 1, 1), new MaxPool2DSpec(2), new ActivationSpec(ActivationKind.ReLU),
        new Conv2DSpec(32, 3, 1, 1), new MaxPool2DSpec(2), new ActivationSpec(ActivationKind.ReLU),
        new FlattenSpec(),
        new DenseSpec(64), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(3, Initializer.Glorot),
    ]);

    // shapes-cnn defaults: 6000 images of 20×20 (4200 train), 6 epochs of batch 16, Adam 3e-3 annealed by
    // cosine to 6e-5 over the whole run, with the course-notes augmentation. Measured single-replica on
    // 2 shared cores: test accuracy 0.986–0.993 over seeds 1, 2, 3, 5–8, 42, in 5–8 s of training
    // (tests/DistTrain.Data.Tests/Training/ShapesCnnTrainingTests.cs trains the same network for 4 epochs).
    private const int ShapesImageSize = 20, ShapesCount = 6000, ShapesEpochs = 6, ShapesBatch = 16;
    private const double ShapesTrainFraction = 0.7;

    /// <summary>Padding p of the 5×5 first layer such that (size + 2p − 4) is a multiple of 8 (when size is even).</summary>
    private static int ShapesFirstPadding(int size) => (8 - (size - 4) % 8) % 8 / 2;

    /// <summary>
    /// The preset's cosine schedule runs over all of its steps. It is fixed in the job, so overriding
    /// --epochs, --batch-size or --count leaves it as it is: past its end the rate holds the minimum.
    /// </summary>
    private static OptimizerSpec ShapesOptimizer
    {
        get
        {
            var steps = (long)EpochSchedule.StepsPerEpoch((int)Math.Round(ShapesCount * ShapesTrainFraction), ShapesBatch) * ShapesEpochs;
            return new OptimizerSpec(OptimizerKind.Adam, 3e-3f, Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: steps, MinLearningRate: 6e-5f));
        }
    }

    /// <summary>
    /// The trainable head on a frozen ResNet-18's 512 features (DataSpec.Features = "resnet18"):
    /// dense 64 + ReLU → dense classes. The base has no trainable parameters, so its features are computed
    /// once per node when the job is prepared (docs/resnet.md).
    /// </summary>
    public static ModelSpec ResNetHead(int classes) => new([ResNetFeatureCount],
    [
        new DenseSpec(64), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(classes, Initializer.Glorot),
    ]);

    public const int ResNetFeatureCount = 512;

    // shapes-resnet: 300 synthetic RGB shapes at ResNet's 224×224 (180 train / 30 validation / 90 test).
    private const int ShapesResNetCount = 300;

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
            "shapes-cnn" => new TrainingJob(jobId, new DataSpec("shapes", ImageSize: ShapesImageSize, Channels: 1, Count: ShapesCount, Augment: true), ShapesCnn(),
                LossKind.SoftmaxCrossEntropy, ShapesOptimizer, Epochs: ShapesEpochs, BatchSize: ShapesBatch, Seed: seed,
                TrainFraction: ShapesTrainFraction, ValidationFraction: 0.15),
            "shapes-resnet" => new TrainingJob(jobId, new DataSpec("shapes", ImageSize: 224, Channels: 3, Count: ShapesResNetCount, Features: "resnet18"),
                ResNetHead(3), LossKind.SoftmaxCrossEntropy, new OptimizerSpec(OptimizerKind.Adam, 1e-3f), Epochs: 10, BatchSize: 16, Seed: seed,
                TrainFraction: 0.6, ValidationFraction: 0.1),
            _ => throw new ArgumentException($"Unknown preset '{name}'; choose one of: {string.Join(", ", Names)}."),
        };
    }

    /// <summary>The course-notes network: 4 inputs, two hidden layers of five neurons, 3 outputs.</summary>
    public static ModelSpec PenguinsModel => Data.Presets.Penguins.DefaultModel;
}
