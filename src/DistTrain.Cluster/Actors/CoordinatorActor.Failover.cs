using Akka.Actor;
using Akka.Event;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.State;

namespace DistTrain.Cluster.Actors;

// Parameter-server failover, coordinator side: every disttrain.replicate-every steps it has the parameter
// server send a replica of the job to the standby ps nodes; started on a standby node (the singletons
// moved), it asks the local standby for the last replica and continues the job from it.
public sealed partial class CoordinatorActor
{
    private FaultSettings _faults = FaultSettings.Off;
    private ReplicaSnapshot? _restoring;
    private JobResumed? _resumed;

    private void ReceiveFailoverMessages()
    {
        _faults = FaultSettings.FromConfig(Context.System.Settings.Config);
        Receive<ReplicaSnapshot>(OnReplica);
        Receive<NoReplica>(_ => { });
    }

    protected override void PreStart()
    {
        if (_faults.ReplicateEvery > 0) Context.ActorSelection("/user/" + StandbyActor.Name).Tell(new GetReplica());
    }

    /// <summary>A subscriber that arrives while a job runs (e.g. after a takeover) learns which job it is.</summary>
    private void CatchUp(IActorRef subscriber)
    {
        if (_job is not null && _schedule is not null && _reference is not null && _phase is Phase.Stepping or Phase.Evaluating)
        {
            subscriber.Tell(new JobStarted(_job.JobId, _workers.Ready().Count, _reference.TrainCount, _schedule.StepsPerEpoch, _job));
            if (_resumed?.JobId == _job.JobId) subscriber.Tell(_resumed);
        }
    }

    private CoordinatorReplica CaptureCoordinator() =>
        new(_job!, _schedule!.Capture(), _reference!, [.. _history], _lastCheckpoint, _lastSha, _badSteps, _trainSeconds, _trainSamples, [.. _subscribers]);

    /// <summary>After a completed step: every k versions, a replica goes to the standbys.</summary>
    private void MaybeReplicate()
    {
        if (_faults.ReplicateEvery > 0 && _version % _faults.ReplicateEvery == 0) Replicate();
    }

    private void Replicate()
    {
        if (_job is null || _schedule is null || _reference is null) return;
        _parameterServer.Tell(new CaptureReplica(_job.JobId, CaptureCoordinator()));
    }

    private void ForgetReplica()
    {
        if (_faults.ReplicateEvery > 0 && _job is not null) _parameterServer.Tell(new ClearReplica(_job.JobId));
    }

    private void OnReplica(ReplicaSnapshot r)
    {
        if (_job is not null || _phase != Phase.Idle) return;
        var c = r.Coordinator;
        _log.Warning("Taking over job {0} from a replica at version {1} (epoch {2}, step {3})", r.JobId, r.Version, c.Schedule.Epoch + 1, c.Schedule.Step);
        _restoring = r;
        _job = c.Job;
        _resumeFrom = null;
        _requester = ActorRefs.Nobody;
        _reference = c.Reference;
        _psReady = false;
        _history.Clear();
        _history.AddRange(c.History);
        _lastCheckpoint = c.LastCheckpoint;
        _lastSha = c.LastSha;
        _badSteps = c.BadSteps;
        _trainSeconds = c.TrainSeconds;
        _trainSamples = c.TrainSamples;
        _phase = Phase.Preparing;
        _jobClock.Restart();
        // The old coordinator's subscribers (result writers on the other nodes) keep getting events; those that
        // died with it are dropped when their Terminated arrives.
        foreach (var s in c.Subscribers)
            if (_subscribers.Add(s)) Context.Watch(s);
        _parameterServer.Tell(new RestoreParameterServer(c.Job, r.Version, r.Parameters, r.OptimizerState, c.Schedule.Epoch));
        foreach (var (id, handle, _) in _workers.All())
        {
            _workers.SetStatus(id, WorkerStatus.Preparing);
            handle.Tell(new PrepareJob(_job));
        }
        _prepareTimeout = Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.EffectivePrepareTimeout, Self, new PrepareTimedOut(_job.JobId), Self);
    }

    /// <summary>
    /// Called when training begins, with the fresh schedule: a taken-over job continues where its replica
    /// left off (returns true: this method started the next phase); a new job sends its first replica.
    /// </summary>
    private bool ResumeFromReplica()
    {
        if (_restoring is not { } r)
        {
            if (_faults.ReplicateEvery > 0) Replicate();
            return false;
        }
        _restoring = null;
        var s = _schedule!;
        s.Restore(r.Coordinator.Schedule);
        _resumed = new JobResumed(_job!.JobId, r.Version, s.Epoch, s.Step, s.StepsPerEpoch);
        Publish(_resumed);
        if (s.Finished) BeginEvaluation(DataSplit.Test);
        else if (s.EpochDone) BeginEvaluation(DataSplit.Validation);
        else NextStep();
        return true;
    }
}
