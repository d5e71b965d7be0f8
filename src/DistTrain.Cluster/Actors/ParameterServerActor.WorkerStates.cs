using Akka.Actor;
using Akka.Event;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Checkpoints;

namespace DistTrain.Cluster.Actors;

/// <summary>
/// Checkpoints of modes whose workers keep state of their own (local SGD's optimizer, the error-feedback residual of
/// 16-bit gradients in synchronous rounds): the parameters are captured when the coordinator asks, then each worker
/// of the last round is asked for its state, on the same road as the rounds (so the answer is the state after that
/// round, before the next), and the file is written once all have answered or <see cref="WorkerStateTimeout"/> has
/// passed (disttrain.checkpoint-worker-state-timeout). A resumed job hands each saved state to the worker of the same shard with its first round.
/// </summary>
public sealed partial class ParameterServerActor
{
    /// <summary>How long a checkpoint waits for the workers' states by default; one that has not answered by then is left out (it would start fresh on resume).</summary>
    public static readonly TimeSpan DefaultWorkerStateTimeout = TimeSpan.FromSeconds(10);

    public const string WorkerStateTimeoutKey = "disttrain.checkpoint-worker-state-timeout";

    private TimeSpan WorkerStateTimeout => _workerStateTimeout ??=
        Context.System.Settings.Config.GetTimeSpan(WorkerStateTimeoutKey, DefaultWorkerStateTimeout, allowInfinite: false);

    private TimeSpan? _workerStateTimeout;

    private PendingSave? _pendingSave;
    private ICancelable? _workerStatesTimer;
    private Dictionary<int, WorkerState>? _restore; // a resumed job's saved worker states, by shard, until its first round

    private sealed class PendingSave(SaveCheckpoint request, IActorRef replyTo, Checkpoint checkpoint, HashSet<int> waiting)
    {
        public SaveCheckpoint Request { get; } = request;
        public IActorRef ReplyTo { get; } = replyTo;
        public Checkpoint Checkpoint { get; } = checkpoint;
        /// <summary>The parameter version the checkpoint holds.</summary>
        public long Version => Checkpoint.Metadata.Step;
        public HashSet<int> Waiting { get; } = waiting;
        public List<WorkerState> States { get; } = [];
        public List<string> LeftOut { get; } = [];
    }

    private sealed record WorkerStatesDue(long Version);

    /// <summary>Whether this job's workers keep state that a checkpoint must collect: local SGD, or 16-bit gradients in synchronous rounds.</summary>
    private static bool WorkersKeepState(TrainingJob job) => CommunicationSpec.Of(job) is var c
        && (c.Mode == TrainingMode.LocalSgd || (c.Mode == TrainingMode.Sync && c.Compression != GradientCompression.None));

    private void ReceiveWorkerStateMessages()
    {
        Receive<WorkerLocalState>(OnWorkerState);
        Receive<WorkerStatesDue>(d =>
        {
            if (_pendingSave is { } p && p.Version == d.Version) FinishSave(p, "did not answer within " + WorkerStateTimeout.TotalSeconds + " s");
        });
    }

    /// <summary>Starts a checkpoint that collects the workers' states; false when this job has none to collect.</summary>
    private bool BeginSaveWithWorkerStates(SaveCheckpoint msg, Checkpoint checkpoint)
    {
        if (!WorkersKeepState(_job!) || _shards.Count == 0) return false;
        if (_pendingSave is { } earlier) FinishSave(earlier, "had not answered when the next checkpoint was asked for");
        var pending = new PendingSave(msg, Sender, checkpoint, [.. _shards.Select(s => s.ShardIndex)]);
        _pendingSave = pending;
        foreach (var shard in _shards)
            Wire.Send(Context, shard.Worker, new WorkerLocalState(msg.JobId, WorkerStateRole.Request, shard.ShardIndex, _version));
        _workerStatesTimer = Context.System.Scheduler.ScheduleTellOnceCancelable(WorkerStateTimeout, Self, new WorkerStatesDue(_version), Self);
        return true;
    }

    private void OnWorkerState(WorkerLocalState msg)
    {
        if (msg.Role != WorkerStateRole.Report || _pendingSave is not { } p || p.Request.JobId != msg.JobId || !p.Waiting.Remove(msg.ShardIndex)) return;
        // The state must follow the round that produced the captured parameters (version − 1); another means this
        // worker's last round was not that one (it joined later, or the answer overtook a round), so it is left out.
        if (msg.Version != p.Version - 1)
            p.LeftOut.Add($"shard {msg.ShardIndex} (its state follows version {msg.Version}, not {p.Version - 1})");
        else if (msg.Optimizer is not null || msg.Residual is not null)
            p.States.Add(new WorkerState(msg.ShardIndex, msg.Optimizer, msg.Residual));
        if (p.Waiting.Count == 0) FinishSave(p, null);
    }

    private void FinishSave(PendingSave p, string? missingReason)
    {
        _pendingSave = null;
        _workerStatesTimer?.Cancel();
        _workerStatesTimer = null;
        if (missingReason is not null)
            foreach (var shard in p.Waiting) p.LeftOut.Add($"shard {shard} ({missingReason})");
        if (p.LeftOut.Count > 0)
            _log.Warning("Checkpoint {0} leaves out the state of {1}: a job resumed from it starts those workers' own optimizer or residual afresh",
                p.Request.Path, string.Join(", ", p.LeftOut));
        var checkpoint = p.Checkpoint with { WorkerStates = [.. p.States.OrderBy(s => s.Slot)] };
        Write(p.Request, checkpoint, p.ReplyTo);
    }

    /// <summary>After a resume: the saved worker states, handed out with the first round.</summary>
    private void KeepForRestore(TrainingJob job, Checkpoint checkpoint)
    {
        _restore = null;
        if (checkpoint.WorkerStates is not { Count: > 0 } states) return;
        if (!WorkersKeepState(job))
        {
            _log.Info("Checkpoint holds {0} workers' own states, which a {1} job does not use; not restored", states.Count, CommunicationSpec.Of(job).Mode);
            return;
        }
        _restore = states.ToDictionary(s => s.Slot);
    }

    /// <summary>Before a round's shards go out: the saved states of the first round after a resume, each to its shard's worker.</summary>
    private void SendRestoredStates(IReadOnlyList<ShardAssignment> shards)
    {
        if (_restore is not { } restore) return;
        _restore = null;
        foreach (var shard in shards)
            if (restore.Remove(shard.ShardIndex, out var s))
                Wire.Send(Context, shard.Worker, new WorkerLocalState(_job!.JobId, WorkerStateRole.Restore, shard.ShardIndex, _version, s.Optimizer, s.Residual));
        if (restore.Count > 0)
            _log.Warning("The resumed job runs {0} shards but its checkpoint holds the workers' states of shards {1} as well; those are not used",
                shards.Count, string.Join(", ", restore.Keys.Order()));
    }
}
