using System.Security.Cryptography;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Kernels;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Actors;

/// <summary>
/// Owns the job's flat parameters and optimizer state. For each step it hands the current parameters
/// and a shard to every assigned worker, collects their gradient sums (<see cref="GradientAggregator"/>),
/// applies the optimizer to their sample-weighted average and reports the new version to the
/// coordinator. Serves parameters on request and writes checkpoints.
/// </summary>
public sealed partial class ParameterServerActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private TrainingJob? _job;
    private Model? _model;
    private Optimizer? _optimizer;
    private GradientAggregator? _aggregator;
    private float[] _mean = [];
    private float[] _trainable = []; // what is stepped and sent: the model's buffer, or its trainable range when layers are frozen
    private long _version;
    private IActorRef _coordinator = ActorRefs.Nobody;
    private IReadOnlyList<ShardAssignment> _shards = [];
    // Communication options (Modes/): 16-bit gradients are decoded here; async/ssp epochs run in the loop;
    // local SGD replaces the optimizer step by the models' average.
    private readonly Modes.GradientDecoder _decoder = new();
    private Modes.AsyncUpdateLoop? _async;
    private bool _localSgd;
    private readonly WorkTeam? _team;
    private readonly bool _ownsTeam;
    private readonly Action<int, int> _applyRange; // the optimizer over one range of the trainable parameters
    private Serialization.ReceiveBufferPool? _receivePool; // the data plane's, on a cluster node: received gradients go back after their step
    private Hosting.StepTrace? _trace; // DISTTRAIN_STEP_TRACE: a timeline of each step

    /// <param name="threads">
    /// Threads for the averaging and optimizer passes at the end of a step (element-wise, so the result is
    /// the same bits for any count). Local mode passes its worker count: the workers are idle then.
    /// </param>
    /// <param name="team">A team owned by the caller instead (local mode shares it with the workers, see <see cref="Hosting.StepAssist"/>).</param>
    public ParameterServerActor(int threads = 1, WorkTeam? team = null)
    {
        _ownsTeam = team is null;
        _team = team ?? (threads > 1 ? new WorkTeam(threads) : null);
        _applyRange = (start, length) => _optimizer!.ApplyRange(_trainable, _mean, start, length);
        Receive<StartParameterServer>(Start);
        Receive<RunStep>(RunStep);
        Receive<GradientsComputed>(OnGradients);
        Receive<RunAsyncEpoch>(RunAsync);
        Receive<AsyncWorkerLost>(l => { if (_job?.JobId == l.JobId) _async?.OnWorkerLost(l, Context); _version = _async?.Version ?? _version; });
        Receive<GetParameters>(m =>
        {
            if (_model is null || _job?.JobId != m.JobId) return;
            FrozenParameters.Sync(_model, _trainable);
            Wire.Send(Context, Sender, new ParametersSnapshot(m.JobId, _version, (float[])_model.Parameters.Clone()));
        });
        Receive<SaveCheckpoint>(Save);
        ReceiveFaultMessages();
        ReceiveWorkerStateMessages();
    }

    protected override void PreStart()
    {
        _receivePool = Transport.DataPlane.Find(Context.System)?.ReceivePool;
        _trace = Hosting.StepTrace.Of(Context.System);
    }

    protected override void PostStop()
    {
        _workerStatesTimer?.Cancel();
        if (_ownsTeam) _team?.Dispose();
        base.PostStop();
    }

    public static Props Props(int threads = 1) => Akka.Actor.Props.Create(() => new ParameterServerActor(threads, null));

    /// <summary>A parameter server that steps on <paramref name="team"/>, which the caller owns and disposes.</summary>
    public static Props Props(WorkTeam team) => Akka.Actor.Props.Create(() => new ParameterServerActor(team.Size, team));

    private void Start(StartParameterServer msg)
    {
        var job = msg.Job;
        try
        {
            var model = new Model(job.Model);
            // Frozen layers have no optimizer state and no gradient: everything below runs over the trainable range.
            var optimizer = Optimizer.Create(job.Optimizer, model.TrainableParameterCount);
            var startEpoch = 0;
            long version = 0;
            Checkpoint? resumed = null;
            if (msg.ResumeFrom is { } path)
            {
                var ck = CheckpointFile.Read(path);
                if (ck.Spec.Hash != job.Model.Hash)
                    throw new ArgumentException($"checkpoint {path} holds a different model (spec hash {ck.Spec.Hash[..12]}, job {job.Model.Hash[..12]})");
                ck.Parameters.CopyTo(model.Parameters, 0);
                if (ck.OptimizerState is { } st) optimizer.LoadState(st);
                startEpoch = ck.Metadata.Epoch;
                version = ck.Metadata.Step;
                resumed = ck;
            }
            else
            {
                model.InitializeParameters(job.Seed);
                if (job.Base is { } b)
                {
                    var sha = JobModel.LoadBase(model, b.Checkpoint);
                    if (sha != b.ParametersSha256)
                        throw new ArgumentException($"base checkpoint {b.Checkpoint} on the parameter server's node holds other parameters (sha256 {sha[..12]}) than the job's ({b.ParametersSha256[..Math.Min(12, b.ParametersSha256.Length)]})");
                }
            }
            Install(job, model, optimizer, version);
            if (resumed is not null) KeepForRestore(job, resumed);
            Sender.Tell(new ParameterServerReady(job.JobId, _version, model.ParameterCount, job.Model.Hash, startEpoch));
        }
        catch (Exception e) when (e is ArgumentException or CheckpointFormatException or IOException or NotSupportedException)
        {
            _log.Error("Parameter server cannot start job {0}: {1}", job.JobId, e.Message);
            Sender.Tell(new ParameterServerFailed(job.JobId, e.Message));
        }
    }

    /// <summary>Makes the job current (a fresh start, a resume, or a standby's takeover from a replica).</summary>
    private void Install(TrainingJob job, Model model, Optimizer optimizer, long version)
    {
        if (_pendingSave is { } pending) FinishSave(pending, "had not answered when the parameter server took up a job");
        _restore = null;
        _shards = [];
        _job = job;
        _model = model;
        _optimizer = optimizer;
        _aggregator = new GradientAggregator(model.TrainableParameterCount);
        _mean = new float[model.TrainableParameterCount];
        _trainable = FrozenParameters.TrainableArray(model);
        _version = version;
        _coordinator = Sender;
        _async = new Modes.AsyncUpdateLoop(job.Seed, model, optimizer, CommunicationSpec.Of(job).ActiveCompensation);
        _localSgd = CommunicationSpec.Of(job).Mode == TrainingMode.LocalSgd;
    }

    /// <summary>A shard of the current step for its worker (or for the worker it is re-issued to).</summary>
    private ComputeGradients ShardMessage(ShardAssignment shard, int attempt, int epoch, int step) =>
        new(_job!.JobId, _version, attempt, epoch, step, shard.ShardIndex, shard.SampleIds, _job.Seed, _trainable, shard.LocalSteps);

    private void RunStep(RunStep msg)
    {
        if (_model is null || _job?.JobId != msg.JobId) return;
        if (msg.Version != _version)
        {
            _log.Warning("Step {0} asked for version {1} but the parameters are at {2}; ignored", msg.Step, msg.Version, _version);
            return;
        }
        _coordinator = Sender;
        _shards = msg.Shards;
        _aggregator!.Begin(_version, msg.Attempt, msg.Epoch, msg.Step, msg.Shards.Count);
        // The master parameters go out as they are, without a copy: they change only when every shard
        // of the current attempt has answered, and a worker copies them into its replica before it
        // computes, so no worker of this attempt can still be reading them then. A worker that was
        // dropped from the step may read a later version, but its answer carries an old attempt and is
        // ignored. (A copy here cost ~50 us per step on the MLP: docs/benchmarks.md.)
        _trace?.Mark(Hosting.StepTrace.Point.PsStepStart, _version, -1);
        SendRestoredStates(msg.Shards);
        foreach (var shard in msg.Shards)
        {
            _trace?.Mark(Hosting.StepTrace.Point.PsSendStart, _version, shard.ShardIndex);
            Wire.Send(Context, shard.Worker, ShardMessage(shard, msg.Attempt, msg.Epoch, msg.Step));
            _trace?.Mark(Hosting.StepTrace.Point.PsSendEnd, _version, shard.ShardIndex);
        }
        WatchStragglers(msg);
    }

    private void OnGradients(GradientsComputed msg)
    {
        if (_aggregator is null || _job?.JobId != msg.JobId) return;
        _trace?.Mark(Hosting.StepTrace.Point.PsGradient, msg.Version, msg.ShardIndex);
        var gradient = _decoder.Decode(msg, _model!.ParameterCount);
        if (_async!.Owns(msg))
        {
            _async.OnGradients(msg, gradient, Context);
            _version = _async.Version;
            return;
        }
        var outcome = _aggregator.Add(msg.Version, msg.Attempt, msg.ShardIndex, gradient, msg.Samples, msg.LossSum, msg.Correct);
        switch (outcome)
        {
            case ContributionOutcome.Accepted:
                break;
            case ContributionOutcome.NonFinite:
                // Counted as answered and dropped: the step completes without it (StepCompleted reports it).
                _log.Warning("Dropped a non-finite gradient from worker {0} (version {1}, shard {2}, loss sum {3})",
                    msg.WorkerId, msg.Version, msg.ShardIndex, msg.LossSum);
                break;
            case ContributionOutcome.Duplicate:
                _receivePool?.Return(msg.Gradient); // not kept: a later step may reuse the array
                StragglerAnswered(msg);
                _log.Debug("Discarded a second answer for shard {0} of version {1} from worker {2}", msg.ShardIndex, msg.Version, msg.WorkerId);
                return;
            case ContributionOutcome.Stale or ContributionOutcome.NoStep:
                _receivePool?.Return(msg.Gradient);
                _log.Debug("Ignored {0} gradient from worker {1} (version {2}, shard {3})", outcome, msg.WorkerId, msg.Version, msg.ShardIndex);
                return;
            default:
                _log.Warning("Refused gradient from worker {0} (version {1}, shard {2}): {3}", msg.WorkerId, msg.Version, msg.ShardIndex, outcome);
                return;
        }
        StragglerAnswered(msg);
        if (!_aggregator.IsComplete) return;
        _trace?.Mark(Hosting.StepTrace.Point.PsPassStart, msg.Version, -1);
        var lr = _optimizer!.CurrentLearningRate;
        var applied = _aggregator.CompleteInto(_mean, _team, _localSgd ? null : _applyRange);
        foreach (var shard in _aggregator.DroppedAtCompletion)
            _log.Warning("Dropped a non-finite gradient from worker {0} (version {1}, shard {2})", WorkerOf(shard), msg.Version, shard);
        if (applied && _localSgd) Modes.LocalSgdWorker.OuterStep(_trainable, _mean);
        else if (applied) _optimizer.CompleteStep();
        _version++;
        _trace?.Mark(Hosting.StepTrace.Point.PsPassEnd, msg.Version, -1);
        var totals = _aggregator.Totals;
        _coordinator.Tell(new StepCompleted(msg.JobId, _version, _aggregator.Epoch, _aggregator.Step, totals.Samples, totals.LossSum, totals.Correct, lr,
            _aggregator.DroppedShards, applied, AppliedSampleIds(), Steps: StepsCovered()));
        // The gradients that came off the data plane go back to its pool for the next step's (others are refused).
        if (_receivePool is { } pool) _aggregator.ReleaseGradients(pool);
    }

    private string WorkerOf(int shardIndex)
    {
        foreach (var s in _shards) if (s.ShardIndex == shardIndex) return s.Worker.Path.Name;
        return "?";
    }

    // Local SGD: a round covers as many schedule steps as its local batches.
    private int StepsCovered()
    {
        var steps = 1;
        foreach (var s in _shards) if (s.LocalSteps is { } l) steps = Math.Max(steps, l.Length);
        return steps;
    }

    private void RunAsync(RunAsyncEpoch msg)
    {
        if (_model is null || _job?.JobId != msg.JobId) return;
        if (msg.Version != _version)
        {
            _log.Warning("Async epoch {0} asked for version {1} but the parameters are at {2}; ignored", msg.Epoch, msg.Version, _version);
            return;
        }
        _coordinator = Sender;
        _async!.Begin(msg, Sender, Context);
        _version = _async.Version;
    }

    // The samples whose gradients went into the average: the coordinator's per-sample visit accounting.
    private int[] AppliedSampleIds()
    {
        var count = 0;
        foreach (var s in _shards) if (_aggregator!.IsAccepted(s.ShardIndex)) count += s.SampleIds.Length;
        var ids = new int[count];
        var at = 0;
        foreach (var s in _shards)
        {
            if (!_aggregator!.IsAccepted(s.ShardIndex)) continue;
            s.SampleIds.CopyTo(ids, at);
            at += s.SampleIds.Length;
        }
        return ids;
    }

    private void Save(SaveCheckpoint msg)
    {
        if (_model is null || _job?.JobId != msg.JobId) return;
        FrozenParameters.Sync(_model, _trainable);
        var ck = new Checkpoint(_job.Model, (float[])_model.Parameters.Clone(), _job.Optimizer, _optimizer!.SaveState(), msg.Metadata with { Step = _version });
        // The parameters are taken now; a mode whose workers keep state of their own writes once they have reported it.
        if (!BeginSaveWithWorkerStates(msg, ck)) Write(msg, ck, Sender);
    }

    private void Write(SaveCheckpoint msg, Checkpoint checkpoint, IActorRef replyTo)
    {
        try
        {
            CheckpointFile.Write(msg.Path, checkpoint);
            replyTo.Tell(new CheckpointSaved(msg.JobId, msg.Path, checkpoint.Metadata.Step, ParametersSha256(checkpoint.Parameters)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error("Cannot write checkpoint {0}: {1}", msg.Path, e.Message);
            replyTo.Tell(new CheckpointFailed(msg.JobId, msg.Path, e.Message));
        }
    }

    /// <summary>SHA-256 of the little-endian bytes of the parameters: equal hashes mean bit-identical runs.</summary>
    public static string ParametersSha256(float[] parameters) =>
        Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(parameters.AsSpan())));
}
