using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Tests.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Core.Tests.Training;

public sealed class TrainerTests
{
    private static readonly ModelSpec Mlp = new([2], [new DenseSpec(16), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(3)]);

    private static readonly OptimizerSpec Adam = new(OptimizerKind.Adam, 0.01f);

    private static GradientComputer Computer(ulong initSeed = 11, LossKind loss = LossKind.SoftmaxCrossEntropy)
    {
        var model = new Model(Mlp);
        model.InitializeParameters(initSeed);
        return new GradientComputer(model, Loss.Create(loss));
    }

    private static Trainer NewTrainer(GradientComputer computer, TrainingOptions options, OptimizerSpec? spec = null)
        => new(computer, Optimizer.Create(spec ?? Adam, computer.Model.ParameterCount), options);

    [Fact]
    public void Trainer_separates_three_blobs_within_a_few_epochs()
    {
        var train = new BlobsDataset(300, seed: 1);
        var test = new BlobsDataset(150, seed: 2);
        var computer = Computer();
        var before = computer.Evaluate(test, 64);
        var history = NewTrainer(computer, new TrainingOptions(Epochs: 4, BatchSize: 16, Seed: 5)).Run(train, test);
        Assert.Equal(4, history.Count);
        var last = history[^1];
        Assert.True(last.ValidationAccuracy >= 0.95, $"held-out accuracy {last.ValidationAccuracy} after 4 epochs (from {(double)before.Correct / before.Samples} before training)");
        Assert.True(last.TrainAccuracy >= 0.9, $"train accuracy {last.TrainAccuracy}");
        Assert.True(last.ValidationLoss < before.LossSum / before.Samples, "validation loss did not fall");
        Assert.Equal(4 * EpochSchedule.StepsPerEpoch(300, 16), last.Step);
    }

    [Fact]
    public void Two_runs_with_the_same_seeds_give_bit_identical_parameters()
    {
        var train = new BlobsDataset(300, seed: 1);
        float[] Run(ulong seed)
        {
            var computer = Computer();
            NewTrainer(computer, new TrainingOptions(Epochs: 2, BatchSize: 32, Seed: seed)).Run(train, null);
            return computer.Model.Parameters;
        }
        var a = Run(5);
        Approx.Identical(a, Run(5), "parameters of the second run");
        Assert.False(a.AsSpan().SequenceEqual(Run(6)), "a different shuffle seed should give different parameters");
    }

    [Fact]
    public void A_trainer_step_is_gradient_sum_then_scale_by_one_over_n_then_optimizer_step()
    {
        var train = new BlobsDataset(60, seed: 3);
        int[] batch = [5, 17, 2, 40, 33, 8, 59];
        var options = new TrainingOptions(Epochs: 1, BatchSize: batch.Length, Seed: 21);

        var viaTrainer = Computer();
        var trainer = NewTrainer(viaTrainer, options);
        var result = trainer.Step(train, batch, epoch: 2);

        var manual = Computer();
        var optimizer = Optimizer.Create(Adam, manual.Model.ParameterCount);
        var expected = manual.Compute(train, batch, options.Seed, epoch: 2);
        var sum = (float[])manual.Model.Gradients.Clone();
        GradientMath.Scale(manual.Model.Gradients, 1f / batch.Length);
        optimizer.Step(manual.Model.Parameters, manual.Model.Gradients);

        Assert.Equal(expected, result);
        Approx.Identical(manual.Model.Parameters, viaTrainer.Model.Parameters, "parameters after one step");
        Assert.Equal(1, trainer.Optimizer.StepCount);
        // The mean really is the sum over n: compare with the unscaled sum.
        for (var i = 0; i < sum.Length; i++) Approx.Equal(sum[i] / batch.Length, manual.Model.Gradients[i], 1e-6, 0, $"mean gradient {i}");
    }

    private static (float[] Gradient, BatchResult Result) GradientOf(GradientComputer computer, IDataset data, ReadOnlySpan<int> ids)
    {
        var result = computer.Compute(data, ids, seed: 3, epoch: 0);
        return ((float[])computer.Model.Gradients.Clone(), result);
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        var scale = 0f;
        foreach (var v in expected) scale = Math.Max(scale, Math.Abs(v));
        Approx.Equal(expected, actual, 1e-5, 1e-6 * scale, what);
    }

    [Theory]
    [InlineData(LossKind.SoftmaxCrossEntropy)]
    [InlineData(LossKind.MeanSquaredError)]
    public void The_gradient_of_a_batch_is_the_sum_of_the_gradients_of_its_two_halves(LossKind loss)
    {
        var data = new BlobsDataset(90, seed: 4);
        var ids = EpochSchedule.Permutation(data.Count, 9, 0).AsSpan(0, 37).ToArray();
        var computer = Computer(loss: loss);
        var (whole, wholeResult) = GradientOf(computer, data, ids);
        var (first, firstResult) = GradientOf(computer, data, ids.AsSpan(0, 15));
        var (second, secondResult) = GradientOf(computer, data, ids.AsSpan(15));
        var sum = (float[])first.Clone();
        GradientMath.Add(sum, second);
        AssertClose(whole, sum, "whole-batch gradient vs sum of halves");
        var combined = firstResult + secondResult;
        Assert.Equal(wholeResult.Samples, combined.Samples);
        Assert.Equal(wholeResult.Correct, combined.Correct);
        Approx.Equal(wholeResult.LossSum, combined.LossSum, 1e-6, 0, "loss sum");

        // Accumulate adds the second half on top of the first without zeroing.
        computer.Compute(data, ids.AsSpan(0, 15), 3, 0);
        computer.Accumulate(data, ids.AsSpan(15), 3, 0);
        AssertClose(whole, computer.Model.Gradients, "Compute(first half) + Accumulate(second half)");
    }

    [Fact]
    public void The_batch_gradient_of_the_model_is_the_sum_of_per_sample_gradients()
    {
        var data = new BlobsDataset(30, seed: 6);
        int[] ids = [0, 4, 9, 13, 21, 22, 29, 7];
        var computer = Computer();
        var (whole, result) = GradientOf(computer, data, ids);
        var sum = new float[whole.Length];
        var loss = 0.0;
        foreach (var id in ids)
        {
            var (g, r) = GradientOf(computer, data, [id]);
            GradientMath.Add(sum, g);
            loss += r.LossSum;
        }
        AssertClose(whole, sum, "batch gradient vs sum of per-sample gradients");
        Approx.Equal(result.LossSum, loss, 1e-6, 0, "batch loss vs sum of per-sample losses");
        Assert.Contains(whole, v => v != 0f);
    }

    [Fact]
    public void Compute_starts_from_zero_gradients()
    {
        var data = new BlobsDataset(30, seed: 6);
        var computer = Computer();
        var (once, _) = GradientOf(computer, data, [1, 2, 3]);
        var (twice, _) = GradientOf(computer, data, [1, 2, 3]);
        Approx.Identical(once, twice, "gradient computed twice");
    }

    [Fact]
    public void Run_stops_once_validation_loss_has_not_improved_for_patience_epochs()
    {
        var train = new BlobsDataset(300, seed: 1);
        // As the model learns the true classes it grows ever more wrong on shifted labels, so validation
        // loss rises from the second epoch on: the first epoch is the best one.
        var validation = new ShiftedLabels(new BlobsDataset(90, seed: 2));
        var seen = new List<EpochMetrics>();
        var history = NewTrainer(Computer(), new TrainingOptions(Epochs: 20, BatchSize: 16, Seed: 5, Patience: 2))
            .Run(train, validation, seen.Add);
        Assert.Equal(3, history.Count);
        Assert.Equal(history, seen);
        Assert.True(history[1].ValidationLoss > history[0].ValidationLoss && history[2].ValidationLoss > history[0].ValidationLoss,
            $"validation losses {string.Join(", ", history.Select(h => h.ValidationLoss))}");
    }

    [Fact]
    public void Run_reports_every_step_and_can_be_cancelled()
    {
        var train = new BlobsDataset(100, seed: 1);
        using var cancel = new CancellationTokenSource();
        var steps = new List<StepProgress>();
        var trainer = NewTrainer(Computer(), new TrainingOptions(Epochs: 3, BatchSize: 16, Seed: 5));
        Assert.Throws<OperationCanceledException>(() => trainer.Run(train, null, onStep: p =>
        {
            steps.Add(p);
            if (p.Epoch == 1 && p.Step == 2) cancel.Cancel();
        }, cancel: cancel.Token));
        Assert.Equal(EpochSchedule.StepsPerEpoch(100, 16) + 2, steps.Count);
        Assert.Equal(steps.Count, trainer.Optimizer.StepCount);
        Assert.All(steps, p => Assert.Equal(7, p.StepsPerEpoch));
    }

    [Fact]
    public void A_step_over_an_empty_batch_throws_instead_of_writing_NaN()
    {
        var computer = Computer();
        var before = (float[])computer.Model.Parameters.Clone();
        var trainer = NewTrainer(computer, new TrainingOptions(1, 8, 0));
        var e = Assert.Throws<ArgumentException>(() => trainer.Step(new BlobsDataset(10, 1), [], 0));
        Assert.Contains("empty", e.Message);
        Approx.Identical(before, computer.Model.Parameters, "parameters");
        Assert.Equal(0, trainer.Optimizer.StepCount);
    }

    [Fact]
    public void A_trainer_refuses_an_optimizer_sized_for_another_model()
    {
        var computer = Computer();
        var e = Assert.Throws<ArgumentException>(() =>
            new Trainer(computer, Optimizer.Create(Adam, computer.Model.ParameterCount + 1), new TrainingOptions(1, 8, 0)));
        Assert.Contains($"{computer.Model.ParameterCount + 1} parameters", e.Message);
    }

    [Theory]
    [InlineData(0, 8, 0, 8, "epochs")]
    [InlineData(1, 0, 0, 8, "batch size")]
    [InlineData(1, 8, -1, 8, "patience")]
    [InlineData(1, 8, 0, 0, "evaluation batch size")]
    public void TrainingOptions_name_the_setting_that_is_out_of_range(int epochs, int batch, int patience, int evalBatch, string field)
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingOptions(epochs, batch, 1, Patience: patience, EvaluationBatchSize: evalBatch).Validate());
        Assert.StartsWith(field, e.Message);
    }
}
