using DistTrain.Core.Training;

namespace DistTrain.Cluster.State;

/// <summary>
/// The coordinator's plan: which epoch and step come next, the samples of each step cut into shards for
/// the current workers, the epoch's running figures, and when to stop (epochs done or no validation
/// improvement for Patience epochs). Uses the same <see cref="EpochSchedule"/> as the single-replica loop,
/// so N workers see exactly the global batches one replica would. Pure state, no Akka.
/// </summary>
public sealed class TrainingSchedule
{
    private readonly int _trainCount;
    private readonly int _batchSize;
    private readonly ulong _seed;
    private readonly bool _shuffle;
    private readonly EarlyStopping _stopper;
    private int[] _order = [];
    private readonly int[] _visits;

    public TrainingSchedule(int trainCount, int batchSize, int epochs, ulong seed, int patience, int startEpoch = 0, bool shuffle = true)
    {
        if (trainCount < 1) throw new ArgumentException($"the training split is empty; nothing to train on");
        _trainCount = trainCount;
        _batchSize = batchSize;
        Epochs = epochs;
        _seed = seed;
        _shuffle = shuffle;
        _stopper = new EarlyStopping(patience);
        _visits = new int[trainCount];
        StepsPerEpoch = EpochSchedule.StepsPerEpoch(trainCount, batchSize);
        Epoch = startEpoch;
        Finished = startEpoch >= epochs;
        if (!Finished) _order = EpochSchedule.Permutation(_trainCount, _seed, Epoch, _shuffle);
    }

    public int Epochs { get; }

    public int StepsPerEpoch { get; }

    /// <summary>0-based epoch in progress.</summary>
    public int Epoch { get; private set; }

    /// <summary>0-based step within the epoch that runs next.</summary>
    public int Step { get; private set; }

    public bool Finished { get; private set; }

    public bool StoppedEarly { get; private set; }

    /// <summary>Figures of the steps completed in this epoch so far.</summary>
    public BatchResult EpochTotals { get; private set; }

    /// <summary>True when every step of the epoch completed and validation is due before the next epoch.</summary>
    public bool EpochDone => Step >= StepsPerEpoch;

    /// <summary>The samples of the current step, cut into <paramref name="workers"/> contiguous shards (empty shards omitted).</summary>
    public IReadOnlyList<int[]> PlanStep(int workers)
    {
        if (Finished || EpochDone) throw new InvalidOperationException("no step to plan: the epoch is done or training finished");
        return PlanStepAt(Step, workers);
    }

    /// <summary>
    /// The samples of step <paramref name="step"/> of the current epoch (at or after the current step), cut
    /// into shards as <see cref="PlanStep"/> does: local SGD and async modes plan several steps ahead.
    /// </summary>
    public IReadOnlyList<int[]> PlanStepAt(int step, int workers)
    {
        if (Finished || step < Step || step >= StepsPerEpoch)
            throw new InvalidOperationException($"no step {step} to plan: the epoch is at step {Step} of {StepsPerEpoch}{(Finished ? " and training finished" : "")}");
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "need at least one worker");
        var (start, length) = EpochSchedule.Batch(_trainCount, _batchSize, step);
        var shards = new List<int[]>(workers);
        var n = Math.Min(workers, length);
        for (var s = 0; s < n; s++)
        {
            var (o, l) = EpochSchedule.Shard(length, n, s);
            shards.Add(_order.AsSpan(start + o, l).ToArray());
        }
        return shards;
    }

    /// <summary>
    /// Records the completed step's figures and the samples whose gradients it averaged, and moves to the
    /// next step.
    /// </summary>
    /// <remarks><paramref name="steps"/>: how many steps the update covered (local SGD rounds, async updates that applied several batches).</remarks>
    public void CompleteStep(BatchResult result, ReadOnlySpan<int> appliedSampleIds = default, int steps = 1)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"an update covers at least one step (at step {Step} of {StepsPerEpoch})");
        EpochTotals += result;
        foreach (var id in appliedSampleIds)
        {
            if ((uint)id >= (uint)_visits.Length)
                throw new ArgumentOutOfRangeException(nameof(appliedSampleIds), id, $"sample id outside the training split of {_visits.Length}");
            _visits[id]++;
        }
        Step += steps;
    }

    /// <summary>How many times each training sample's gradient was applied in the current epoch.</summary>
    public ReadOnlySpan<int> Visits => _visits;

    /// <summary>Fewest and most visits of any training sample this epoch: (1, 1) means every sample exactly once.</summary>
    public (int Min, int Max) VisitRange()
    {
        int min = int.MaxValue, max = 0;
        foreach (var v in _visits)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }

    /// <summary>
    /// Closes the epoch with its validation loss (null when there is no validation split); returns true
    /// when training is finished (all epochs, or early stopping).
    /// </summary>
    public bool CompleteEpoch(double? validationLoss)
    {
        if (!EpochDone) throw new InvalidOperationException($"epoch {Epoch} still has {StepsPerEpoch - Step} steps to run");
        var stop = validationLoss is { } v && _stopper.Observe(Epoch, v);
        Epoch++;
        Step = 0;
        EpochTotals = default;
        Array.Clear(_visits);
        if (stop) StoppedEarly = true;
        Finished = stop || Epoch >= Epochs;
        if (!Finished) _order = EpochSchedule.Permutation(_trainCount, _seed, Epoch, _shuffle);
        return Finished;
    }

    /// <summary>Where the schedule stands, for a replica on another node (see <see cref="Restore"/>).</summary>
    public ScheduleState Capture() => new(Epoch, Step, EpochTotals.Samples, EpochTotals.LossSum, EpochTotals.Correct, _visits.ToArray(),
        _stopper.BestLoss, _stopper.BestEpoch, _stopper.EpochsWithoutImprovement, StoppedEarly, Finished);

    /// <summary>
    /// Continues from a captured state of a schedule built for the same job (same training count, batch,
    /// epochs, seed and patience): the same position, epoch figures, visit counts and early-stopping
    /// state, hence the same next steps.
    /// </summary>
    public void Restore(ScheduleState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Visits.Length != _visits.Length)
            throw new ArgumentException($"the replica counts visits of {state.Visits.Length} training samples but this schedule has {_visits.Length}");
        if (state.Step < 0 || state.Step > StepsPerEpoch)
            throw new ArgumentException($"the replica is at step {state.Step} but an epoch has {StepsPerEpoch} steps");
        Epoch = state.Epoch;
        Step = state.Step;
        EpochTotals = new BatchResult(state.Samples, state.LossSum, state.Correct);
        state.Visits.CopyTo(_visits, 0);
        _stopper.Restore(state.BestLoss, state.BestEpoch, state.EpochsWithoutImprovement);
        StoppedEarly = state.StoppedEarly;
        Finished = state.Finished || Epoch >= Epochs;
        if (!Finished) _order = EpochSchedule.Permutation(_trainCount, _seed, Epoch, _shuffle);
    }
}

/// <summary>A <see cref="TrainingSchedule"/>'s position and figures (plain data: it travels in replicas).</summary>
public sealed record ScheduleState(int Epoch, int Step, int Samples, double LossSum, int Correct, int[] Visits, double BestLoss, int BestEpoch,
    int EpochsWithoutImprovement, bool StoppedEarly, bool Finished);
