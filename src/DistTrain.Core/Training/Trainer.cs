using System.Diagnostics;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Training;

/// <summary>
/// Single-replica synchronous training: per epoch a seeded permutation cut into mini-batches; per step
/// the gradient sum over the batch (<see cref="GradientComputer"/>), divided by the batch size, then one
/// optimizer step; validation at each epoch's end; early stopping on validation loss. The actors do the
/// same work split across workers, with the same <see cref="EpochSchedule"/> and the same averaging.
/// </summary>
public sealed class Trainer
{
    private readonly GradientComputer _computer;
    private readonly Optimizer _optimizer;
    private readonly TrainingOptions _options;

    public Trainer(GradientComputer computer, Optimizer optimizer, TrainingOptions options)
    {
        options.Validate();
        if (optimizer.ParameterCount != computer.Model.TrainableParameterCount)
            throw new ArgumentException($"Optimizer has {optimizer.ParameterCount} parameters; the model has {computer.Model.TrainableParameterCount} trainable ones.");
        _computer = computer;
        _optimizer = optimizer;
        _options = options;
    }

    public Model Model => _computer.Model;

    public Optimizer Optimizer => _optimizer;

    /// <summary>First epoch <see cref="Run"/> trains (for resuming from a checkpoint).</summary>
    public int StartEpoch { get; set; }

    /// <summary>One synchronous step over the given dataset indices; returns what the batch saw.</summary>
    public BatchResult Step(IDataset train, ReadOnlySpan<int> batch, int epoch)
    {
        // An empty batch would scale the zero gradient by 1/0 and write NaN into every parameter.
        if (batch.IsEmpty) throw new ArgumentException("A training step needs at least one sample; the batch is empty.", nameof(batch));
        var result = _computer.Compute(train, batch, _options.Seed, epoch);
        // Only the trainable range: frozen parameters have no gradient and no optimizer state.
        var grads = Model.TrainableGradients;
        GradientMath.Scale(grads, 1f / result.Samples);
        _optimizer.Step(Model.TrainableParameters, grads);
        return result;
    }

    public IReadOnlyList<EpochMetrics> Run(IDataset train, IDataset? validation,
        Action<EpochMetrics>? onEpoch = null, Action<StepProgress>? onStep = null, CancellationToken cancel = default)
    {
        var history = new List<EpochMetrics>();
        var stopper = new EarlyStopping(_options.Patience);
        var steps = EpochSchedule.StepsPerEpoch(train.Count, _options.BatchSize);
        for (var epoch = StartEpoch; epoch < _options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var order = EpochSchedule.Permutation(train.Count, _options.Seed, epoch, _options.Shuffle);
            var total = default(BatchResult);
            for (var s = 0; s < steps; s++)
            {
                cancel.ThrowIfCancellationRequested();
                var (start, len) = EpochSchedule.Batch(train.Count, _options.BatchSize, s);
                total += Step(train, order.AsSpan(start, len), epoch);
                onStep?.Invoke(new StepProgress(epoch, s + 1, steps, total.LossSum / total.Samples, (double)total.Correct / total.Samples,
                    total.Samples / Math.Max(clock.Elapsed.TotalSeconds, 1e-9)));
            }
            var seconds = clock.Elapsed.TotalSeconds;
            double? valLoss = null, valAcc = null;
            if (validation is { Count: > 0 })
            {
                var v = _computer.Evaluate(validation, _options.EvaluationBatchSize);
                valLoss = v.LossSum / v.Samples;
                valAcc = (double)v.Correct / v.Samples;
            }
            var metrics = new EpochMetrics(epoch + 1, total.LossSum / total.Samples, (double)total.Correct / total.Samples, valLoss, valAcc,
                total.Samples / Math.Max(seconds, 1e-9), seconds, _optimizer.StepCount, _optimizer.CurrentLearningRate);
            history.Add(metrics);
            onEpoch?.Invoke(metrics);
            if (valLoss is { } vl && stopper.Observe(epoch, vl)) break;
        }
        return history;
    }
}
