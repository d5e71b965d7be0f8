using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;
using DistTrain.Data.Presets;

namespace DistTrain.Data.Tests.Training;

/// <summary>The course-notes penguin classifier with the single-replica loop: 4 measurements, 5, 5, 3 species.</summary>
public class PenguinsMlpTrainingTests
{
    private static (double Accuracy, double Untrained) Train(ModelSpec spec, LossKind lossKind, int epochs, ulong seed)
    {
        var csv = Penguins.LoadEmbedded();
        var split = Splits.Stratified(csv, 0.7, 0.15, seed);
        var standardizer = Standardizer.Fit(csv, split.Train);
        var (train, _, test) = Splits.Views(standardizer.Apply(csv), split);
        var model = new Model(spec);
        model.InitializeParameters(seed);
        var computer = new GradientComputer(model, Loss.Create(lossKind));
        var untrained = computer.Evaluate(test, 64);
        var trainer = new Trainer(computer, Optimizer.Create(new OptimizerSpec(OptimizerKind.Adam, 0.01f), model.ParameterCount),
            new TrainingOptions(epochs, BatchSize: 16, seed));
        trainer.Run(train, null);
        var r = computer.Evaluate(test, 64);
        return ((double)r.Correct / r.Samples, (double)untrained.Correct / untrained.Samples);
    }

    [Theory]
    [InlineData(1ul)]
    [InlineData(42ul)]
    public void Course_network_with_cross_entropy_reaches_95_percent_on_the_test_split(ulong seed)
    {
        var (accuracy, untrained) = Train(Penguins.DefaultModel, LossKind.SoftmaxCrossEntropy, 100, seed);
        Assert.True(accuracy >= 0.95, $"test accuracy {accuracy:0.000} (seed {seed})");
        Assert.True(untrained < 0.8, $"the untrained network already scores {untrained:0.000}: the test would prove nothing");
    }

    [Fact]
    public void Course_network_with_softmax_outputs_and_mean_squared_error_reaches_95_percent()
    {
        // The course notes' form: y = [P(Adelie), P(Gentoo), P(Chinstrap)] compared with one-hot labels by MSE.
        var spec = Penguins.DefaultModel with { Layers = [.. Penguins.DefaultModel.Layers, new ActivationSpec(ActivationKind.Softmax)] };
        var (accuracy, _) = Train(spec, LossKind.MeanSquaredError, 150, 42);
        Assert.True(accuracy >= 0.95, $"test accuracy {accuracy:0.000}");
    }
}
