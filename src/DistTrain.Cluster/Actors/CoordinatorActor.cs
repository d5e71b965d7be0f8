using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.State;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Actors;

/// <summary>
/// Schedules a job's epochs and steps over the workers registered at each step, collects loss and
/// accuracy, runs validation at each epoch's end and the test evaluation at the end, asks the parameter
/// server for checkpoints, and publishes progress. Decisions live in <see cref="TrainingSchedule"/>,
/// <see cref="WorkerRegistry{THandle}"/>; this actor moves messages.
/// </summary>
public sealed partial class CoordinatorActor : ReceiveActor
{
    private enum Phase { Idle, Preparing, Stepping, Evaluating, Finishing }

    private readonly IActorRef _parameterServer;
    private readonly CoordinatorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly WorkerRegistry<IActorRef> _workers = new();
    private readonly HashSet<IActorRef> _subscribers = [];
    private Phase _phase = Phase.Idle;
    private TrainingJob? _job;
    private string? _resumeFrom;
    private IActorRef _requester = ActorRefs.Nobody;
    private JobPrepared? _reference;
    private bool _psReady;
    private int _startEpoch;
    private long _version;
    private int _attempt;
    private int _badSteps;
    private TrainingSchedule? _schedule;
    private Modes.CoordinatorModes _modes = new(CommunicationSpec.Default);
    private readonly Stopwatch _epochClock = new();
    private readonly Stopwatch _jobClock = new();
    private double _trainSeconds;
    private long _trainSamples;
    private ICancelable? _prepareTimeout;
    private readonly List<EpochMetrics> _history = [];
    private string? _lastCheckpoint;
    private string _lastSha = "";

    // Evaluation in progress.
    private DataSplit _evalSplit;
    private readonly Dictionary<int, (int Length, string WorkerId)> _evalPending = [];
    private float[] _evalParameters = [];
    private long _evalVersion;
    private BatchResult _evalTotals;
    private int[] _evalLabels = [];
    private int[] _evalPredictions = [];
    private double? _lastValLoss;
    private double? _lastValAccuracy;
    private int _stepShards;
    private float _learningRate; // of the epoch's last step, for EpochMetrics (metrics.jsonl)
    private readonly Dictionary<int, string> _stepShardOwners = [];

    public CoordinatorActor(IActorRef parameterServer, CoordinatorSettings settings)
    {
        settings.Validate();
        _parameterServer = parameterServer;
        _settings = settings;
        Receive<RegisterWorker>(OnRegister);
        Receive<Terminated>(t => OnWorkerLost(t.ActorRef, "stopped or became unreachable"));
        Receive<SubscribeProgress>(s => { if (_subscribers.Add(s.Subscriber)) CatchUp(s.Subscriber); Context.Watch(s.Subscriber); });
        Receive<StartTraining>(OnStart);
        Receive<JobPrepared>(OnPrepared);
        Receive<JobPreparationFailed>(f =>
        {
            _log.Error("Worker {0} could not prepare job {1}: {2}", f.WorkerId, f.JobId, f.Reason);
            _workers.SetStatus(f.WorkerId, WorkerStatus.Refused);
            Publish(new WorkerLeft(f.JobId, f.WorkerId, _workers.Ready().Count, f.Reason));
            if (_phase == Phase.Preparing && _workers.All().All(w => w.Status == WorkerStatus.Refused))
                Fail($"no worker could prepare the job: {f.Reason}");
        });
        Receive<ParameterServerReady>(r =>
        {
            if (r.JobId != _job?.JobId) return;
            if (_resumeFrom is not null && r.StartEpoch >= _job.Epochs)
            {
                Fail($"the checkpoint {_resumeFrom} already completed {r.StartEpoch} epochs and the job asks for {_job.Epochs}; ask for more epochs to continue it");
                return;
            }
            _psReady = true;
            _startEpoch = r.StartEpoch;
            _version = r.Version;
            TryBeginTraining();
        });
        Receive<ParameterServerFailed>(f => { if (f.JobId == _job?.JobId) Fail($"parameter server: {f.Reason}"); });
        Receive<PrepareTimedOut>(t =>
        {
            if (_phase == Phase.Preparing && t.JobId == _job?.JobId)
                Fail($"only {_workers.Ready().Count} of the {_settings.MinimumWorkers} required workers were ready after {_settings.EffectivePrepareTimeout.TotalSeconds:0} s" +
                     (_psReady ? "" : ", and the parameter server did not answer"));
        });
        Receive<StepCompleted>(OnStepCompleted);
        Receive<ParametersSnapshot>(OnParameters);
        Receive<ShardEvaluated>(OnShardEvaluated);
        Receive<CheckpointSaved>(c =>
        {
            if (c.JobId != _job?.JobId) return;
            _lastCheckpoint = c.Path;
            _lastSha = c.ParametersSha256;
            if (_phase == Phase.Finishing) Complete();
        });
        Receive<CheckpointFailed>(c =>
        {
            if (c.JobId != _job?.JobId) return;
            _log.Error("Checkpoint {0} failed: {1}", c.Path, c.Reason);
            if (_phase == Phase.Finishing) Fail($"could not write the final checkpoint {c.Path}: {c.Reason}");
        });
        ReceiveFailoverMessages();
    }

    public static Props Props(IActorRef parameterServer, CoordinatorSettings settings) =>
        Akka.Actor.Props.Create(() => new CoordinatorActor(parameterServer, settings));

    private sealed record PrepareTimedOut(string JobId);

    private void OnRegister(RegisterWorker r)
    {
        r.Worker.Tell(new WorkerRegistered(r.WorkerId));
        var outcome = _workers.Register(r.WorkerId, r.Worker);
        if (outcome == RegistrationOutcome.Known) return;
        Context.Watch(r.Worker);
        _log.Info("Worker {0} registered ({1})", r.WorkerId, outcome);
        // The parameter server runs on this node: its parameters for that worker take the data plane from the first step.
        _ = Transport.DataPlane.Find(Context.System)?.Preconnect(r.Worker.Path.Address);
        if (_job is not null && _phase != Phase.Finishing)
        {
            _workers.SetStatus(r.WorkerId, WorkerStatus.Preparing);
            r.Worker.Tell(new PrepareJob(_job));
        }
    }

    private void OnStart(StartTraining msg)
    {
        var replyTo = msg.ReplyTo ?? Sender;
        if (_job is not null)
        {
            replyTo.Tell(new TrainingRejected(msg.Job.JobId, $"the coordinator is running job {_job.JobId}; submit again when it has finished"));
            return;
        }
        try
        {
            msg.Job.Validate();
        }
        catch (ArgumentException e)
        {
            replyTo.Tell(new TrainingRejected(msg.Job.JobId, e.Message));
            return;
        }
        _job = msg.Job.OutputDirectory is null && _settings.OutputRoot is { } root
            ? msg.Job with { OutputDirectory = Path.Combine(root, SafeName(msg.Job.JobId)) }
            : msg.Job;
        _resumeFrom = msg.ResumeFrom;
        _requester = replyTo;
        _reference = null;
        _psReady = false;
        _history.Clear();
        _lastCheckpoint = null;
        _phase = Phase.Preparing;
        _jobClock.Restart();
        _trainSeconds = 0;
        _trainSamples = 0;
        _badSteps = 0;
        _log.Info("Job {0}: preparing {1} registered workers", _job.JobId, _workers.Count);
        _parameterServer.Tell(new StartParameterServer(_job, _resumeFrom));
        foreach (var (id, handle, _) in _workers.All())
        {
            _workers.SetStatus(id, WorkerStatus.Preparing);
            handle.Tell(new PrepareJob(_job));
        }
        _prepareTimeout = Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.EffectivePrepareTimeout, Self, new PrepareTimedOut(_job.JobId), Self);
    }

    private void OnPrepared(JobPrepared p)
    {
        if (p.JobId != _job?.JobId) return;
        if (!_workers.TryGet(p.WorkerId, out var worker, out _)) return;
        var problem = CheckCompatible(p);
        if (problem is not null)
        {
            _log.Error("Refusing worker {0} for job {1}: {2}", p.WorkerId, p.JobId, problem);
            _workers.SetStatus(p.WorkerId, WorkerStatus.Refused);
            worker.Tell(new WorkerRefused(p.JobId, p.WorkerId, problem));
            return;
        }
        _reference ??= p;
        _workers.SetStatus(p.WorkerId, WorkerStatus.Ready);
        Publish(new WorkerJoined(p.JobId, p.WorkerId, _workers.Ready().Count));
        TryBeginTraining();
    }

    private string? CheckCompatible(JobPrepared p)
    {
        if (p.ModelSpecHash != _job!.Model.Hash)
            return $"its model-spec hash {Short(p.ModelSpecHash)} differs from the job's {Short(_job.Model.Hash)}; run the same DistTrain version and model spec on every node";
        if (_job.Base is { } b && p.BaseSha256 != b.ParametersSha256)
            return $"its base checkpoint {b.Checkpoint} holds other parameters (sha256 {Short(p.BaseSha256 ?? "none")}) than the job's (sha256 {Short(b.ParametersSha256)}); give every node the same base checkpoint";
        if (_reference is null) return null;
        if (p.TrainCount != _reference.TrainCount || p.ValidationCount != _reference.ValidationCount || p.TestCount != _reference.TestCount)
            return $"it loaded {p.TrainCount}/{p.ValidationCount}/{p.TestCount} train/validation/test samples but worker {_reference.WorkerId} loaded " +
                   $"{_reference.TrainCount}/{_reference.ValidationCount}/{_reference.TestCount}; give every node the same data";
        if (p.DataFingerprint != _reference.DataFingerprint)
            return $"its data fingerprint {Short(p.DataFingerprint)} differs from worker {_reference.WorkerId}'s {Short(_reference.DataFingerprint)}; give every node the same data file" +
                   (_job.Data.Features is { } f ? $" and the same {f} model file" : "");
        return null;
    }

    private static string SafeName(string jobId)
    {
        var chars = jobId.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return new string(chars).TrimStart('.');
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;

    private void TryBeginTraining()
    {
        if (_phase != Phase.Preparing || !_psReady || _reference is null) return;
        var ready = _workers.Ready().Count;
        if (ready < _settings.MinimumWorkers) return;
        _prepareTimeout?.Cancel();
        _schedule = new TrainingSchedule(_reference.TrainCount, _job!.BatchSize, _job.Epochs, _job.Seed, _job.Patience, _startEpoch);
        _modes = new Modes.CoordinatorModes(CommunicationSpec.Of(_job));
        _log.Info("Job {0}: training with {1} workers, {2} steps per epoch", _job.JobId, ready, _schedule.StepsPerEpoch);
        Publish(new JobStarted(_job.JobId, ready, _reference.TrainCount, _schedule.StepsPerEpoch, _job));
        _epochClock.Restart();
        if (ResumeFromReplica()) return;
        if (_schedule.Finished) BeginEvaluation(DataSplit.Test);
        else NextStep();
    }

    private void NextStep()
    {
        var ready = _workers.Ready();
        if (ready.Count == 0)
        {
            Fail("every worker has left; the job cannot continue (its last checkpoint is kept)");
            return;
        }
        _phase = Phase.Stepping;
        if (_modes.Comm.AppliesOnArrival)
        {
            // Async/ssp: the parameter server runs the rest of the epoch itself (Modes/AsyncUpdateLoop).
            if (_modes.AsyncRunning) return;
            _stepShardOwners.Clear();
            for (var i = 0; i < ready.Count; i++) _stepShardOwners[i] = ready[i].Id;
            _attempt++;
            _parameterServer.Tell(_modes.StartAsync(_job!.JobId, _schedule!, _version, _attempt, ready.Select(r => r.Handle).ToList()));
            return;
        }
        var shards = _modes.PlanStep(_schedule!, ready.Count);
        var assignments = new List<ShardAssignment>(shards.Count);
        _stepShardOwners.Clear();
        for (var i = 0; i < shards.Count; i++)
        {
            assignments.Add(new ShardAssignment(i, ready[i].Handle, shards[i].SampleIds, shards[i].LocalSteps));
            _stepShardOwners[i] = ready[i].Id;
        }
        _stepShards = shards.Count;
        _attempt++;
        _parameterServer.Tell(new RunStep(_job!.JobId, _version, _attempt, _schedule!.Epoch, _schedule.Step, assignments));
    }

    private void OnStepCompleted(StepCompleted s)
    {
        if (_phase != Phase.Stepping || s.JobId != _job?.JobId || s.Version != _version + 1) return;
        _version = s.Version;
        _learningRate = s.LearningRate;
        if (s.DroppedShards > 0)
        {
            _badSteps++;
            Publish(new GradientsDropped(_job.JobId, _schedule!.Epoch, _schedule.Step, s.DroppedShards, s.Applied, _badSteps));
            if (_badSteps >= _settings.MaxConsecutiveBadSteps)
            {
                Fail($"{_badSteps} steps in a row produced NaN or infinite gradients (epoch {_schedule.Epoch + 1}, step {_schedule.Step + 1}); " +
                     "none reached the parameters. " + (_lastCheckpoint is null ? "No checkpoint was written yet. " : $"The last good checkpoint is {_lastCheckpoint}. ") +
                     "Lower the learning rate or check the data for extreme values.");
                return;
            }
        }
        else
        {
            _badSteps = 0;
        }
        _schedule!.CompleteStep(new BatchResult(s.Samples, s.LossSum, s.Correct), s.AppliedSampleIds, s.Steps);
        _modes.Observe(s);
        MaybeReplicate();
        var t = _schedule.EpochTotals;
        var elapsed = Math.Max(_epochClock.Elapsed.TotalSeconds, 1e-9);
        Publish(new StepProgressed(_job.JobId, new StepProgress(_schedule.Epoch, _schedule.Step, _schedule.StepsPerEpoch,
            t.LossSum / t.Samples, (double)t.Correct / t.Samples, t.Samples / elapsed)));
        if (_schedule.EpochDone)
        {
            _epochClock.Stop();
            if (_modes.EndEpoch(_job.JobId, _schedule.Epoch) is { } staleness) Publish(staleness);
            BeginEvaluation(DataSplit.Validation);
        }
        else
        {
            NextStep();
        }
    }

    private void BeginEvaluation(DataSplit split)
    {
        var count = split == DataSplit.Validation ? _reference!.ValidationCount : _reference!.TestCount;
        _evalSplit = split;
        _phase = Phase.Evaluating;
        _evalTotals = default;
        _evalLabels = new int[count];
        _evalPredictions = new int[count];
        _evalPending.Clear();
        if (count == 0)
        {
            EvaluationDone();
            return;
        }
        _parameterServer.Tell(new GetParameters(_job!.JobId));
    }

    private void OnParameters(ParametersSnapshot p)
    {
        if (_phase != Phase.Evaluating || p.JobId != _job?.JobId) return;
        _evalParameters = p.Parameters;
        _evalVersion = p.Version;
        var ready = _workers.Ready();
        if (ready.Count == 0) { Fail("every worker has left during evaluation"); return; }
        var count = _evalLabels.Length;
        var shards = Math.Min(ready.Count, count);
        for (var i = 0; i < shards; i++)
        {
            var (start, length) = EpochSchedule.Shard(count, shards, i);
            _evalPending[start] = (length, ready[i].Id);
            Wire.Send(Context, ready[i].Handle, new EvaluateShard(_job.JobId, _evalVersion, _evalSplit, start, length, _evalParameters));
        }
    }

    private void OnShardEvaluated(ShardEvaluated e)
    {
        if (_phase != Phase.Evaluating || e.JobId != _job?.JobId || e.Split != _evalSplit || e.Version != _evalVersion) return;
        if (!_evalPending.Remove(e.Start)) return;
        _evalTotals += new BatchResult(e.Samples, e.LossSum, e.Correct);
        e.Labels.CopyTo(_evalLabels, e.Start);
        e.Predictions.CopyTo(_evalPredictions, e.Start);
        if (_evalPending.Count == 0) EvaluationDone();
    }

    private void EvaluationDone()
    {
        var t = _evalTotals;
        double? loss = t.Samples > 0 ? t.LossSum / t.Samples : null;
        double? accuracy = t.Samples > 0 ? (double)t.Correct / t.Samples : null;
        if (_evalSplit == DataSplit.Validation) FinishEpoch(loss, accuracy);
        else FinishJob(loss ?? double.NaN, accuracy ?? double.NaN);
    }

    private void FinishEpoch(double? valLoss, double? valAccuracy)
    {
        var s = _schedule!;
        var t = s.EpochTotals;
        var seconds = _epochClock.Elapsed.TotalSeconds;
        _trainSeconds += seconds;
        _trainSamples += t.Samples;
        _lastValLoss = valLoss;
        _lastValAccuracy = valAccuracy;
        var metrics = new EpochMetrics(s.Epoch + 1, t.LossSum / t.Samples, (double)t.Correct / t.Samples, valLoss, valAccuracy,
            t.Samples / Math.Max(seconds, 1e-9), seconds, _version, _learningRate);
        _history.Add(metrics);
        var (visitsMin, visitsMax) = s.VisitRange();
        Publish(new EpochCompleted(_job!.JobId, metrics, _workers.Ready().Count, t.Samples, visitsMin, visitsMax));
        var finished = s.CompleteEpoch(valLoss);
        if (!finished && _job.OutputDirectory is not null && _job.CheckpointEvery > 0 && s.Epoch % _job.CheckpointEvery == 0)
            RequestCheckpoint();
        if (finished)
        {
            BeginEvaluation(DataSplit.Test);
        }
        else
        {
            _epochClock.Restart();
            NextStep();
        }
    }

    private CheckpointMetadata Metadata() => new(_schedule!.Epoch, _version, _job!.Seed, _reference!.ClassNames, _job.Loss, _reference.Normalization,
        JobMetadata.ToExtra(_job));

    private void RequestCheckpoint()
    {
        if (_job?.OutputDirectory is null) return;
        _parameterServer.Tell(new SaveCheckpoint(_job.JobId, Path.Combine(_job.OutputDirectory, "checkpoint.dtck"), Metadata()));
    }

    private double _testLoss;
    private double _testAccuracy;

    private void FinishJob(double testLoss, double testAccuracy)
    {
        _testLoss = testLoss;
        _testAccuracy = testAccuracy;
        _phase = Phase.Finishing;
        if (_job!.OutputDirectory is not null)
        {
            RequestCheckpoint();
        }
        else
        {
            // Without an output folder the hash still identifies the result.
            _lastSha = ParameterServerActor.ParametersSha256(_evalParameters);
            Complete();
        }
    }

    private void Complete()
    {
        var job = _job!;
        var done = new TrainingCompleted(job.JobId, _history.Count, _version, _testLoss, _testAccuracy, _evalLabels, _evalPredictions,
            _reference!.ClassNames, _trainSamples / Math.Max(_trainSeconds, 1e-9), _jobClock.Elapsed.TotalSeconds, _workers.Ready().Count,
            _lastCheckpoint, _lastSha, _schedule?.StoppedEarly ?? false);
        _log.Info("Job {0} finished: test accuracy {1:0.0000}, {2} steps", job.JobId, _testAccuracy, _version);
        Publish(done);
        EndJob();
    }

    private void Fail(string reason)
    {
        var jobId = _job?.JobId ?? "?";
        _log.Error("Job {0} failed: {1}", jobId, reason);
        Publish(new TrainingFailed(jobId, reason));
        EndJob();
    }

    private void EndJob()
    {
        ForgetReplica();
        _prepareTimeout?.Cancel();
        _job = null;
        _schedule = null;
        _phase = Phase.Idle;
        _requester = ActorRefs.Nobody;
        foreach (var (id, _, _) in _workers.All()) _workers.SetStatus(id, WorkerStatus.Registered);
    }

    private void OnWorkerLost(IActorRef actor, string why)
    {
        if (_subscribers.Remove(actor)) return;
        var id = _workers.FindId(actor);
        if (id is null) return;
        _workers.Remove(id);
        _log.Warning("Worker {0} left: {1}", id, why);
        if (_job is null) return;
        Publish(new WorkerLeft(_job.JobId, id, _workers.Ready().Count, why));
        if (_phase == Phase.Stepping && _stepShardOwners.ContainsValue(id))
        {
            // Re-run the whole step with the workers that remain: every sample of the batch counted once.
            // Async/ssp: the parameter server hands the lost worker's batch to another, and NextStep only
            // fails the job when no worker is left.
            if (_modes.AsyncRunning) _parameterServer.Tell(new AsyncWorkerLost(_job.JobId, _attempt, actor));
            NextStep();
        }
        else if (_phase == Phase.Evaluating)
        {
            var ready = _workers.Ready();
            if (ready.Count == 0) { Fail("every worker has left during evaluation"); return; }
            var lost = _evalPending.Where(p => p.Value.WorkerId == id).ToList();
            var i = 0;
            foreach (var (start, (length, _)) in lost)
            {
                var target = ready[i++ % ready.Count];
                _evalPending[start] = (length, target.Id);
                Wire.Send(Context, target.Handle, new EvaluateShard(_job.JobId, _evalVersion, _evalSplit, start, length, _evalParameters));
            }
        }
    }

    private void Publish(object message)
    {
        foreach (var s in _subscribers) s.Tell(message);
        if (!_requester.IsNobody() && !_subscribers.Contains(_requester)) _requester.Tell(message);
    }
}
