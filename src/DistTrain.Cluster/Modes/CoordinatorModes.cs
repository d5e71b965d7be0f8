using Akka.Actor;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;

namespace DistTrain.Cluster.Modes;

/// <summary>
/// The coordinator's side of the communication options: how a step is planned (one global batch cut
/// into shards, or k batches per worker for local SGD), when an async/ssp epoch is handed to the
/// parameter server as a whole, and the staleness figures of the epoch. Pure state, no Akka calls.
/// </summary>
public sealed class CoordinatorModes(CommunicationSpec comm)
{
    private int _updates;
    private int _maxStaleness;
    private long _stalenessSum;

    public CommunicationSpec Comm { get; } = comm;

    /// <summary>True between handing an async/ssp epoch to the parameter server and its last update.</summary>
    public bool AsyncRunning { get; private set; }

    /// <summary>
    /// The shards of the next synchronous step (or local-SGD round): sample ids per worker and, for local
    /// SGD, the sizes of its k local batches. Empty shards are left out, as in <see cref="TrainingSchedule.PlanStep"/>.
    /// </summary>
    public IReadOnlyList<(int[] SampleIds, int[]? LocalSteps)> PlanStep(TrainingSchedule schedule, int workers)
    {
        if (Comm.Mode != TrainingMode.LocalSgd)
        {
            var shards = schedule.PlanStep(workers);
            var plain = new (int[], int[]?)[shards.Count];
            for (var i = 0; i < shards.Count; i++) plain[i] = (shards[i], null);
            return plain;
        }
        if (schedule.Finished || schedule.EpochDone) throw new InvalidOperationException("no local-SGD round to plan: the epoch is done");
        var rounds = Math.Min(Comm.LocalSteps, schedule.StepsPerEpoch - schedule.Step);
        var ids = new List<int>[workers];
        var sizes = new int[workers][];
        for (var w = 0; w < workers; w++)
        {
            ids[w] = [];
            sizes[w] = new int[rounds];
        }
        for (var r = 0; r < rounds; r++)
        {
            var shards = schedule.PlanStepAt(schedule.Step + r, workers);
            for (var w = 0; w < shards.Count; w++)
            {
                ids[w].AddRange(shards[w]);
                sizes[w][r] = shards[w].Length;
            }
        }
        var plan = new List<(int[], int[]?)>(workers);
        for (var w = 0; w < workers; w++)
            if (ids[w].Count > 0) plan.Add((ids[w].ToArray(), sizes[w]));
        return plan;
    }

    /// <summary>The rest of the current epoch as one async run over these workers; marks the run as started.</summary>
    public RunAsyncEpoch StartAsync(string jobId, TrainingSchedule schedule, long version, int attempt, IReadOnlyList<IActorRef> workers)
    {
        if (!Comm.AppliesOnArrival) throw new InvalidOperationException($"mode {Comm.Mode} does not run epochs asynchronously");
        var batches = new int[schedule.StepsPerEpoch - schedule.Step][];
        for (var i = 0; i < batches.Length; i++) batches[i] = schedule.PlanStepAt(schedule.Step + i, 1)[0];
        AsyncRunning = true;
        _updates = 0;
        _maxStaleness = 0;
        _stalenessSum = 0;
        return new RunAsyncEpoch(jobId, version, attempt, schedule.Epoch, schedule.Step, batches, workers, Comm.Bound);
    }

    public void Observe(StepCompleted s)
    {
        if (!AsyncRunning) return;
        _updates++;
        _maxStaleness = Math.Max(_maxStaleness, s.Staleness);
        _stalenessSum += s.Staleness;
    }

    /// <summary>At the end of an async epoch: its staleness report (null in the synchronous modes).</summary>
    public StalenessReport? EndEpoch(string jobId, int epoch)
    {
        if (!AsyncRunning) return null;
        AsyncRunning = false;
        return new StalenessReport(jobId, epoch, _updates, _maxStaleness, _updates == 0 ? 0 : (double)_stalenessSum / _updates, Comm.Bound);
    }
}
