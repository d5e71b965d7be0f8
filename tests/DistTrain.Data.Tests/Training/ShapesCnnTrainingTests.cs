using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;
using DistTrain.Data.Synthetic;

namespace DistTrain.Data.Tests.Training;

// Inside namespace DistTrain.Data.*, "Augmentation" would name the namespace; import the type here.
using DistTrain.Data.Augmentation;

/// <summary>
/// End-to-end check that the shapes task is learnable by a small CNN in seconds: the network, data and
/// optimizer of the <c>shapes-cnn</c> preset (DistTrain.Cluster/Jobs/Presets.cs, repeated here because this
/// project does not reference Cluster), trained for 4 epochs instead of the preset's 6 to stay fast in a
/// Debug build. Measured in Release on 2 shared cores, 4 epochs: test accuracy 0.971 / 0.988 / 0.974 / 0.968
/// (seeds 1, 2, 3, 42) and 0.971–0.982 (seeds 5–10), about 3.5 s of training; 6 epochs: 0.986–0.993.
/// </summary>
public sealed class ShapesCnnTrainingTests
{
    private const int Size = 20, Count = 6000, Epochs = 4, BatchSize = 16;

    [Fact]
    public void Small_cnn_reaches_95_percent_test_accuracy_on_the_synthetic_shapes_in_four_epochs()
    {
        const ulong seed = 42;
        var all = ShapesDataset.Generate(Count, Size, channels: 1, seed);
        var split = Splits.Stratified(all, 0.7, 0.15, seed);
        // The course-notes augmentation (PresetDataLoader.DefaultAugmentation): flips, mirrors, skews and
        // shifts leave a triangle a triangle, and keep the 4200 training images from being memorised.
        var augmented = all.WithAugmentation(new Augmentation(horizontalFlip: 0.5f, verticalMirror: 0.1f,
            skew: 0.1f, skewProbability: 0.3f, shift: 2, shiftProbability: 0.3f));
        var train = new DatasetView(augmented, split.Train);
        var test = new DatasetView(all, split.Test);

        // ReLU after each pool: max and ReLU commute, so this is conv-ReLU-pool with ReLU on a quarter of the values.
        var spec = new ModelSpec([1, Size, Size],
        [
            // (1, 20, 20) -> conv 5×5 (16, 16, 16) -> pool (16, 8, 8)
            new Conv2DSpec(16, 5), new MaxPool2DSpec(2), new ActivationSpec(ActivationKind.ReLU),
            // -> conv 3×3 (32, 8, 8) -> pool (32, 4, 4)
            new Conv2DSpec(32, 3, 1, 1), new MaxPool2DSpec(2), new ActivationSpec(ActivationKind.ReLU),
            // -> conv 3×3 (32, 4, 4) -> pool (32, 2, 2)
            new Conv2DSpec(32, 3, 1, 1), new MaxPool2DSpec(2), new ActivationSpec(ActivationKind.ReLU),
            new FlattenSpec(),
            new DenseSpec(64), new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(3, Initializer.Glorot),
        ]);
        var model = new Model(spec);
        model.InitializeParameters(seed);
        var computer = new GradientComputer(model, Loss.Create(LossKind.SoftmaxCrossEntropy));
        var before = computer.Evaluate(test, 512);

        var totalSteps = (long)EpochSchedule.StepsPerEpoch(train.Count, BatchSize) * Epochs;
        var optimizer = Optimizer.Create(new OptimizerSpec(OptimizerKind.Adam, 3e-3f,
            Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: totalSteps, MinLearningRate: 6e-5f)), model.ParameterCount);
        var history = new Trainer(computer, optimizer, new TrainingOptions(Epochs, BatchSize, seed)).Run(train, validation: null);
        var after = computer.Evaluate(test, 512);

        var accuracyBefore = (double)before.Correct / before.Samples;
        var accuracy = (double)after.Correct / after.Samples;
        Assert.Equal(Epochs, history.Count);
        Assert.Equal(900, after.Samples);
        Assert.True(accuracyBefore < 0.5, $"the untrained network already scores {accuracyBefore:F3}; the task would be trivial");
        Assert.True(accuracy >= 0.95,
            $"test accuracy {accuracy:F3} after {Epochs} epochs (train accuracy per epoch: {string.Join(", ", history.Select(h => h.TrainAccuracy.ToString("F3")))})");
    }
}
