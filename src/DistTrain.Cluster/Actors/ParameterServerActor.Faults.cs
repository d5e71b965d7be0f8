using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.State;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Actors;

// Fault tolerance of the parameter server: straggler re-issue (disttrain.step-deadline) and replicas for
// the standby ps nodes (disttrain.replicate-every). Decisions in StragglerTracker; this file moves messages.
public sealed partial class ParameterServerActor
{
    private FaultSettings _faults = FaultSettings.Off;
    private StragglerTracker<IActorRef>? _stragglers;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private ICancelable? _stragglerTimer;
    private bool _noStandbyLogged;

    // Outside a cluster (tests that wire a standby by hand) every capture goes ahead, as before.
    private bool AnotherPsNodeIsUp()
    {
        if (((ExtendedActorSystem)Context.System).Provider is not Akka.Cluster.ClusterActorRefProvider) return true;
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        foreach (var m in cluster.State.Members)
            if (m.HasRole("ps") && !m.Address.Equals(cluster.SelfAddress) && m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.WeaklyUp)
                return true;
        return false;
    }

    private sealed record StragglerCheck(long Version, int Attempt);

    private void ReceiveFaultMessages()
    {
        _faults = FaultSettings.FromConfig(Context.System.Settings.Config);
        if (_faults.StepDeadline is { } deadline) _stragglers = new StragglerTracker<IActorRef>(deadline);
        Receive<StragglerCheck>(OnStragglerCheck);
        Receive<CaptureReplica>(OnCaptureReplica);
        Receive<ClearReplica>(c => Context.ActorSelection("/user/" + StandbyActor.Name).Tell(c));
        Receive<RestoreParameterServer>(OnRestore);
    }

    /// <summary>Called after a step's shards went out: start its deadline.</summary>
    private void WatchStragglers(RunStep msg)
    {
        if (_stragglers is null) return;
        var owners = new IActorRef[msg.Shards.Count];
        foreach (var s in msg.Shards) owners[s.ShardIndex] = s.Worker;
        _stragglers.Begin(owners, _clock.Elapsed);
        ScheduleStragglerCheck(msg.Version, msg.Attempt);
    }

    private void ScheduleStragglerCheck(long version, int attempt)
    {
        _stragglerTimer?.Cancel();
        if (_stragglers?.NextCheck(_clock.Elapsed) is not { } at) return;
        var delay = at - _clock.Elapsed;
        if (delay < TimeSpan.FromMilliseconds(1)) delay = TimeSpan.FromMilliseconds(1);
        _stragglerTimer = Context.System.Scheduler.ScheduleTellOnceCancelable(delay, Self, new StragglerCheck(version, attempt), Self);
    }

    /// <summary>
    /// Called for an answer that counted (accepted or dropped as non-finite) or came twice. The worker is free
    /// now: a shard already past its deadline and waiting for a free worker is looked at straight away.
    /// </summary>
    private void StragglerAnswered(GradientsComputed msg)
    {
        if (_stragglers is null) return;
        _stragglers.Answered(msg.ShardIndex, Sender);
        if (_aggregator is { InProgress: true } agg && _stragglers.Overdue(_clock.Elapsed)) Self.Tell(new StragglerCheck(agg.Version, agg.Attempt));
    }

    private void OnStragglerCheck(StragglerCheck c)
    {
        var agg = _aggregator;
        if (_stragglers is null || agg is null || !agg.InProgress || agg.Version != c.Version || agg.Attempt != c.Attempt || _model is null) return;
        foreach (var (shardIndex, target) in _stragglers.Due(_clock.Elapsed))
        {
            var shard = _shards[shardIndex];
            // In one process the target's earlier answer is its gradient buffer itself, which the re-issued
            // shard is about to overwrite: keep a copy in the aggregator.
            foreach (var s in _shards)
                if (s.Worker.Equals(target)) agg.DetachSlot(s.ShardIndex);
            _log.Warning("Step {0} (version {1}): shard {2} unanswered by {3} after {4:0.###} s; re-issued to {5}",
                agg.Step, agg.Version, shardIndex, shard.Worker.Path.Name, _stragglers.Deadline.TotalSeconds, target.Path.Name);
            Wire.Send(Context, target, ShardMessage(shard, agg.Attempt, agg.Epoch, agg.Step));
        }
        ScheduleStragglerCheck(c.Version, c.Attempt);
    }

    private void OnCaptureReplica(CaptureReplica c)
    {
        if (_model is null || _optimizer is null || _job?.JobId != c.JobId) return;
        if (!AnotherPsNodeIsUp())
        {
            // A replica is for a standby on another ps node: with none, capturing copied the parameters and the
            // optimizer state (2.8 MB for W2) every few steps only to keep them on this node.
            if (!_noStandbyLogged) _log.Info("No other ps node is up: replicas are not captured until one is (start a second ps node for failover)");
            _noStandbyLogged = true;
            return;
        }
        _noStandbyLogged = false;
        FrozenParameters.Sync(_model, _trainable);
        var snapshot = new ReplicaSnapshot(c.JobId, _version, (float[])_model.Parameters.Clone(), _optimizer.SaveState(), c.Coordinator);
        Context.ActorSelection("/user/" + StandbyActor.Name).Tell(snapshot, Self);
    }

    private void OnRestore(RestoreParameterServer msg)
    {
        var job = msg.Job;
        try
        {
            var model = new Model(job.Model);
            if (msg.Parameters.Length != model.ParameterCount)
                throw new ArgumentException($"the replica holds {msg.Parameters.Length} parameters but the job's model has {model.ParameterCount}");
            // The replica holds every parameter (frozen ones too); the optimizer covers the trainable range.
            var optimizer = Optimizer.Create(job.Optimizer, model.TrainableParameterCount);
            msg.Parameters.CopyTo(model.Parameters, 0);
            if (msg.OptimizerState is { } st) optimizer.LoadState(st);
            Install(job, model, optimizer, msg.Version);
            _log.Warning("Parameter server took over job {0} from a replica at version {1}", job.JobId, msg.Version);
            Sender.Tell(new ParameterServerReady(job.JobId, _version, model.ParameterCount, job.Model.Hash, msg.StartEpoch));
        }
        catch (ArgumentException e)
        {
            _log.Error("Parameter server cannot restore job {0}: {1}", job.JobId, e.Message);
            Sender.Tell(new ParameterServerFailed(job.JobId, e.Message));
        }
    }
}
