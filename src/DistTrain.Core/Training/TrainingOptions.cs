namespace DistTrain.Core.Training;

/// <summary>Hyper-parameters of the loop itself (the model, loss and optimizer are given separately).</summary>
public sealed record TrainingOptions(int Epochs, int BatchSize, ulong Seed, bool Shuffle = true, int Patience = 0, int EvaluationBatchSize = 1024)
{
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be >= 1 (got {Epochs}).");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be >= 1 (got {BatchSize}).");
        if (Patience < 0) throw new ArgumentException($"patience must be >= 0 (got {Patience}); 0 turns early stopping off.");
        if (EvaluationBatchSize < 1) throw new ArgumentException($"evaluation batch size must be >= 1 (got {EvaluationBatchSize}).");
    }
}

/// <summary>One epoch's figures, as written to metrics.jsonl.</summary>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy,
    double SamplesPerSecond, double Seconds, long Step, float LearningRate);

/// <summary>Progress within an epoch, for live progress bars.</summary>
public readonly record struct StepProgress(int Epoch, int Step, int StepsPerEpoch, double RunningLoss, double RunningAccuracy, double SamplesPerSecond);

/// <summary>Patience on validation loss: stop after <c>patience</c> epochs without improvement (0 = never).</summary>
public sealed class EarlyStopping
{
    private readonly int _patience;

    public EarlyStopping(int patience) => _patience = patience;

    public double BestLoss { get; private set; } = double.PositiveInfinity;

    public int BestEpoch { get; private set; } = -1;

    public int EpochsWithoutImprovement { get; private set; }

    /// <summary>Puts back the state of another instance (a replica taken on another node).</summary>
    public void Restore(double bestLoss, int bestEpoch, int epochsWithoutImprovement)
    {
        BestLoss = bestLoss;
        BestEpoch = bestEpoch;
        EpochsWithoutImprovement = epochsWithoutImprovement;
    }

    /// <summary>Records an epoch's validation loss; returns true when training should stop.</summary>
    public bool Observe(int epoch, double validationLoss)
    {
        if (validationLoss < BestLoss)
        {
            BestLoss = validationLoss;
            BestEpoch = epoch;
            EpochsWithoutImprovement = 0;
            return false;
        }
        EpochsWithoutImprovement++;
        return _patience > 0 && EpochsWithoutImprovement >= _patience;
    }
}
