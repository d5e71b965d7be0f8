using Akka.Actor;
using Akka.Event;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Actors;

/// <summary>
/// Holds one model replica. Loads the job's data from its own node, computes gradient sums on the
/// shards it is given at the parameter version it is given, and evaluates shards of the validation and
/// test splits. All the math is <see cref="GradientComputer"/>; this actor only moves messages.
/// </summary>
public sealed class WorkerActor : ReceiveActor, IWithTimers
{
    private readonly string _workerId;
    private readonly IJobDataLoader _loader;
    private readonly IActorRef _coordinator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private TrainingJob? _job;
    private JobData? _data;
    private GradientComputer? _computer;
    private Modes.WorkerModes? _modes;
    private readonly TimeSpan? _announceEvery;
    private Serialization.ReceiveBufferPool? _receivePool; // the data plane's, on a cluster node
    private Hosting.StepTrace? _trace; // DISTTRAIN_STEP_TRACE: a timeline of each step
    private float[]? _loaded; // the parameters of the last message loaded: in use until the next message's replace them
    private readonly Hosting.StepAssist? _assist; // local mode: lend this thread to the step's pass after sending
    private static readonly TimeSpan PreconnectWait = TimeSpan.FromSeconds(2);
    private bool _registered; // a coordinator answered an announcement
    private int _unanswered; // announcements since the start without any answer

    /// <summary>A cluster worker warns after this many unanswered announcements (30 s at the default 3 s interval), then as often again.</summary>
    public const int UnansweredAnnouncementsBeforeWarning = 10;

    public WorkerActor(string workerId, IJobDataLoader loader, IActorRef coordinator, TimeSpan? announceEvery = null, Hosting.StepAssist? assist = null)
    {
        _assist = assist;
        _workerId = workerId;
        _loader = loader;
        _coordinator = coordinator;
        _announceEvery = announceEvery;
        Receive<Announce>(_ =>
        {
            _coordinator.Tell(new RegisterWorker(_workerId, Self));
            if (_registered || ++_unanswered % UnansweredAnnouncementsBeforeWarning != 0) return;
            _log.Warning("Worker {0}: no coordinator has answered its announcements for {1:0.#} s. Check that a node with the ps role " +
                "is up in this cluster (--roles ps / DISTTRAIN_ROLES) and that this node's seeds (--seeds / DISTTRAIN_SEEDS) are that cluster's.",
                _workerId, (_unanswered * _announceEvery!.Value).TotalSeconds);
        });
        Receive<WorkerRegistered>(_ =>
        {
            if (_registered) return;
            _registered = true;
            _log.Info("Worker {0} registered with the coordinator {1}", _workerId, Sender.Path);
        });
        Receive<PrepareJob>(Prepare);
        Receive<ComputeGradients>(Compute);
        Receive<EvaluateShard>(Evaluate);
        Receive<WorkerLocalState>(OnLocalState);
        Receive<WorkerRefused>(r =>
        {
            _log.Error("Worker {0} was refused for job {1}: {2}", _workerId, r.JobId, r.Reason);
            if (_job?.JobId == r.JobId) Reset();
        });
    }

    /// <param name="announceEvery">
    /// In a cluster the coordinator singleton may move; re-announcing periodically lets a new coordinator
    /// find its workers (re-announcements of a known worker change nothing). Null: announce once.
    /// </param>
    /// <param name="assist">Local mode only: the parameter server's team, which this worker helps once its gradient is sent.</param>
    public static Props Props(string workerId, IJobDataLoader loader, IActorRef coordinator, TimeSpan? announceEvery = null,
        Hosting.StepAssist? assist = null) =>
        Akka.Actor.Props.Create(() => new WorkerActor(workerId, loader, coordinator, announceEvery, assist));

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed class Announce
    {
        public static readonly Announce Instance = new();
    }

    protected override void PreStart()
    {
        _receivePool = Transport.DataPlane.Find(Context.System)?.ReceivePool;
        _trace = Hosting.StepTrace.Of(Context.System);
        _coordinator.Tell(new RegisterWorker(_workerId, Self));
        if (_announceEvery is { } every) Timers.StartPeriodicTimer("announce", Announce.Instance, every);
    }

    private void Reset()
    {
        _job = null;
        _data = null;
        _computer = null;
        _modes = null;
        Replace(null);
    }

    // Hands the previous message's parameters back to the data plane's pool once newer ones replaced them in
    // the replica (the pool refuses arrays it did not lend: in local mode the ps's master buffer).
    private void Replace(float[]? parameters)
    {
        if (_loaded is { } previous && !ReferenceEquals(previous, parameters)) _receivePool?.Return(previous);
        _loaded = parameters;
    }

    private void Prepare(PrepareJob msg)
    {
        var job = msg.Job;
        // The coordinator runs beside the parameter server: connect while the data loads, so that the first
        // gradient takes the data plane rather than Akka.Remote (waited for below, briefly).
        var connecting = Transport.DataPlane.Find(Context.System)?.Preconnect(Sender.Path.Address);
        try
        {
            var data = _loader.Load(job);
            // Frozen layers' values (seed, then the base checkpoint on this node) never travel: built here.
            var (model, baseSha) = JobModel.Create(job, initialize: false);
            var computer = new GradientComputer(model, Loss.Create(job.Loss));
            // Augmented inputs differ per epoch, so only unaugmented jobs may cache frozen features.
            var cached = !job.Data.Augment && computer.EnableFeatureCache(data.FeatureCaches.For(model));
            if (!data.Train.SampleShape.Equals(model.InputShape))
                throw new ArgumentException($"the data's samples have shape {data.Train.SampleShape} but the model expects {model.InputShape}");
            if (data.ClassNames.Count != model.OutputShape.Size)
                throw new ArgumentException($"the data has {data.ClassNames.Count} classes but the model outputs {model.OutputShape.Size} values");
            _job = job;
            _data = data;
            _computer = computer;
            _modes = new Modes.WorkerModes(job, computer);
            // Milliseconds on one machine or a LAN; a peer that does not answer costs at most this, and its
            // messages then go through Akka.Remote as before.
            try
            {
                connecting?.Wait(PreconnectWait);
            }
            catch (AggregateException)
            {
                // Not connected: the first messages go through Akka.Remote.
            }
            Sender.Tell(new JobPrepared(job.JobId, _workerId, job.Model.Hash, data.Train.Count, data.Validation.Count, data.Test.Count,
                data.Fingerprint, data.ClassNames, data.Normalization, baseSha));
            _log.Info("Worker {0} prepared job {1}: {2} training samples, {3} parameters ({4} frozen{5})", _workerId, job.JobId, data.Train.Count,
                model.ParameterCount, model.FrozenParameterCount, cached ? ", frozen features cached" : "");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or Core.Checkpoints.CheckpointFormatException or InvalidOperationException or NotSupportedException or UnauthorizedAccessException)
        {
            Reset();
            _log.Error("Worker {0} cannot prepare job {1}: {2}", _workerId, job.JobId, e.Message);
            Sender.Tell(new JobPreparationFailed(job.JobId, _workerId, e.Message));
        }
    }

    private bool Ready(string jobId)
    {
        if (_job?.JobId == jobId && _computer is not null && _data is not null) return true;
        _log.Warning("Worker {0} got work for job {1} but is not prepared for it; ignored", _workerId, jobId);
        return false;
    }

    private bool TryLoadParameters(float[] parameters)
    {
        var model = _computer!.Model;
        if (model.FrozenParameterCount > 0)
        {
            // Only the trainable range travels for training; evaluation snapshots carry all parameters.
            if (FrozenParameters.TryLoad(model, parameters))
            {
                Replace(parameters); // copied, but local SGD still reads the message's array while it computes
                return true;
            }
            _log.Error("Worker {0} received {1} parameters but its replica of job {2} has {3} trainable ({4} in all): mismatched model; work ignored",
                _workerId, parameters.Length, _job!.JobId, model.TrainableParameterCount, model.ParameterCount);
            return false;
        }
        if (parameters.Length != model.ParameterCount)
        {
            _log.Error("Worker {0} received {1} parameters but its replica of job {2} has {3}: mismatched model; work ignored",
                _workerId, parameters.Length, _job!.JobId, model.ParameterCount);
            return false;
        }
        // Read the parameters where they arrived, without a copy: in local mode that is the parameter
        // server's master buffer, which changes only after every shard of the step has answered; in a
        // cluster it is the array this message deserialized into.
        model.ShareParameters(parameters);
        Replace(parameters);
        return true;
    }

    private void Compute(ComputeGradients msg)
    {
        if (!Ready(msg.JobId)) return;
        _trace?.Mark(Hosting.StepTrace.Point.WorkerArrived, msg.Version, msg.ShardIndex);
        if (!TryLoadParameters(msg.Parameters)) return;
        // Plain gradient sum, or local SGD's pseudo-gradient; 16-bit with error feedback when the job compresses.
        var (buffer, compressed, result) = _modes!.Compute(_data!.Train, msg);
        _trace?.Mark(Hosting.StepTrace.Point.WorkerComputed, msg.Version, msg.ShardIndex);
        // The replica's gradient buffer goes out without a copy. The parameter server is done with it
        // before this worker gets its next shard (the step completes first), and a re-run of the same
        // step starts with a fresh attempt that discards the old reference, so an overwrite can only
        // touch an answer that is already ignored.
        var reply = new GradientsComputed(msg.JobId, msg.Version, msg.Attempt, msg.Step, msg.ShardIndex, _workerId, buffer,
            result.Samples, result.LossSum, result.Correct, compressed);
        var assist = _job!.Communication is null ? _assist : null;
        var passes = assist?.BeforeSend() ?? 0;
        Wire.Send(Context, Sender, reply);
        _trace?.Mark(Hosting.StepTrace.Point.WorkerSent, msg.Version, msg.ShardIndex);
        assist?.AfterSend(passes);
    }

    // Local SGD's optimizer and the error-feedback residual live here; a checkpoint asks for them, a resume restores them.
    private void OnLocalState(WorkerLocalState msg)
    {
        if (!Ready(msg.JobId)) return;
        var modes = _modes!;
        switch (msg.Role)
        {
            case WorkerStateRole.Request:
                var (optimizer, residual) = modes.SaveState();
                Wire.Send(Context, Sender, new WorkerLocalState(msg.JobId, WorkerStateRole.Report, msg.ShardIndex, modes.LastVersion, optimizer, residual));
                break;
            case WorkerStateRole.Restore when modes.LastVersion >= 0:
                _log.Warning("Worker {0}: the saved state for shard {1} of job {2} arrived after this worker's first round; not restored",
                    _workerId, msg.ShardIndex, msg.JobId);
                break;
            case WorkerStateRole.Restore:
                try
                {
                    modes.LoadState(msg.Optimizer, msg.Residual);
                    _log.Info("Worker {0} restored the saved state of shard {1} of job {2}", _workerId, msg.ShardIndex, msg.JobId);
                }
                catch (ArgumentException e)
                {
                    _log.Error("Worker {0} cannot restore the saved state of shard {1} of job {2}: {3}; it starts from a fresh state",
                        _workerId, msg.ShardIndex, msg.JobId, e.Message);
                }
                break;
        }
    }

    private void Evaluate(EvaluateShard msg)
    {
        if (!Ready(msg.JobId) || !TryLoadParameters(msg.Parameters)) return;
        var split = _data!.Get(msg.Split);
        var ids = new int[msg.Length];
        for (var i = 0; i < ids.Length; i++) ids[i] = msg.Start + i;
        var view = new DatasetView(split, ids);
        var predictions = new int[msg.Length];
        var labels = new int[msg.Length];
        for (var i = 0; i < labels.Length; i++) labels[i] = view.Label(i);
        var r = _computer!.Evaluate(view, Math.Max(1, Math.Min(1024, msg.Length)), predictions);
        Sender.Tell(new ShardEvaluated(msg.JobId, msg.Version, msg.Split, msg.Start, r.Samples, r.LossSum, r.Correct, labels, predictions, _workerId));
    }
}
