using System.Security.Cryptography;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Core.Checkpoints;
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
    private long _version;
    private IActorRef _coordinator = ActorRefs.Nobody;
    private IReadOnlyList<ShardAssignment> _shards = [];

    public ParameterServerActor()
    {
        Receive<StartParameterServer>(Start);
        Receive<RunStep>(RunStep);
        Receive<GradientsComputed>(OnGradients);
        Receive<GetParameters>(m =>
        {
            if (_model is null || _job?.JobId != m.JobId) return;
            Wire.Send(Context, Sender, new ParametersSnapshot(m.JobId, _version, (float[])_model.Parameters.Clone()));
        });
        Receive<SaveCheckpoint>(Save);
        ReceiveFaultMessages();
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new ParameterServerActor());

    private void Start(StartParameterServer msg)
    {
        var job = msg.Job;
        try
        {
            var model = new Model(job.Model);
            var optimizer = Optimizer.Create(job.Optimizer, model.ParameterCount);
            var startEpoch = 0;
            long version = 0;
            if (msg.ResumeFrom is { } path)
            {
                var ck = CheckpointFile.Read(path);
                if (ck.Spec.Hash != job.Model.Hash)
                    throw new ArgumentException($"checkpoint {path} holds a different model (spec hash {ck.Spec.Hash[..12]}, job {job.Model.Hash[..12]})");
                ck.Parameters.CopyTo(model.Parameters, 0);
                if (ck.OptimizerState is { } st) optimizer.LoadState(st);
                startEpoch = ck.Metadata.Epoch;
                version = ck.Metadata.Step;
            }
            else
            {
                model.InitializeParameters(job.Seed);
            }
            _job = job;
            _model = model;
            _optimizer = optimizer;
            _aggregator = new GradientAggregator(model.ParameterCount);
            _mean = new float[model.ParameterCount];
            _version = version;
            _coordinator = Sender;
            Sender.Tell(new ParameterServerReady(job.JobId, _version, model.ParameterCount, job.Model.Hash, startEpoch));
        }
        catch (Exception e) when (e is ArgumentException or CheckpointFormatException or IOException or NotSupportedException)
        {
            _log.Error("Parameter server cannot start job {0}: {1}", job.JobId, e.Message);
            Sender.Tell(new ParameterServerFailed(job.JobId, e.Message));
        }
    }

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
        var parameters = _model.Parameters;
        foreach (var shard in msg.Shards)
        {
            Wire.Send(Context, shard.Worker, new ComputeGradients(msg.JobId, _version, msg.Attempt, msg.Epoch, msg.Step, shard.ShardIndex, shard.SampleIds, _job.Seed, parameters));
        }
        WatchStragglers(msg);
    }

    private void OnGradients(GradientsComputed msg)
    {
        if (_aggregator is null || _job?.JobId != msg.JobId) return;
        var outcome = _aggregator.Add(msg.Version, msg.Attempt, msg.ShardIndex, msg.Gradient, msg.Samples, msg.LossSum, msg.Correct);
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
                StragglerAnswered(msg);
                _log.Debug("Discarded a second answer for shard {0} of version {1} from worker {2}", msg.ShardIndex, msg.Version, msg.WorkerId);
                return;
            case ContributionOutcome.Stale or ContributionOutcome.NoStep:
                _log.Debug("Ignored {0} gradient from worker {1} (version {2}, shard {3})", outcome, msg.WorkerId, msg.Version, msg.ShardIndex);
                return;
            default:
                _log.Warning("Refused gradient from worker {0} (version {1}, shard {2}): {3}", msg.WorkerId, msg.Version, msg.ShardIndex, outcome);
                return;
        }
        StragglerAnswered(msg);
        if (!_aggregator.IsComplete) return;
        var totals = _aggregator.Totals;
        var lr = _optimizer!.CurrentLearningRate;
        var dropped = _aggregator.DroppedShards;
        var applied = _aggregator.CompleteInto(_mean);
        if (applied) _optimizer.Step(_model!.Parameters, _mean);
        _version++;
        _coordinator.Tell(new StepCompleted(msg.JobId, _version, _aggregator.Epoch, _aggregator.Step, totals.Samples, totals.LossSum, totals.Correct, lr,
            dropped, applied, AppliedSampleIds()));
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
        try
        {
            var ck = new Checkpoint(_job.Model, (float[])_model.Parameters.Clone(), _job.Optimizer, _optimizer!.SaveState(), msg.Metadata with { Step = _version });
            CheckpointFile.Write(msg.Path, ck);
            Sender.Tell(new CheckpointSaved(msg.JobId, msg.Path, _version, ParametersSha256(_model.Parameters)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error("Cannot write checkpoint {0}: {1}", msg.Path, e.Message);
            Sender.Tell(new CheckpointFailed(msg.JobId, msg.Path, e.Message));
        }
    }

    /// <summary>SHA-256 of the little-endian bytes of the parameters: equal hashes mean bit-identical runs.</summary>
    public static string ParametersSha256(float[] parameters) =>
        Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(parameters.AsSpan())));
}
