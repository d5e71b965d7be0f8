using Akka.Actor;
using DistTrain.Cli.Output;
using DistTrain.Cli.Terminal;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Training;
using DistTrain.Data.Evaluation;

namespace DistTrain.Cli.Commands;

/// <summary>
/// On a ps node: subscribes to the coordinator (again every few seconds, so a coordinator that moved
/// finds it) and writes every job's metrics.jsonl, summary.json and plots into the job's output folder,
/// next to the checkpoint the parameter server writes there.
/// </summary>
public sealed class ResultWriter : ReceiveActor, IWithTimers
{
    private readonly IActorRef _coordinator;
    private readonly TextWriter _console;
    private readonly Dictionary<string, long> _lastStep = [];
    private readonly Dictionary<string, (TrainingJob Job, RunOutput Output, List<EpochMetrics> History, ProgressRenderer Renderer)> _jobs = [];

    public ResultWriter(IActorRef coordinator, TextWriter console)
    {
        _coordinator = coordinator;
        _console = console;
        Receive<Resubscribe>(_ => _coordinator.Tell(new SubscribeProgress(Self)));
        Receive<JobStarted>(s =>
        {
            var dir = s.Job.OutputDirectory;
            // Known already: a coordinator that took the job over announces it again; keep its history.
            if (dir is null || _jobs.ContainsKey(s.JobId)) return;
            var output = new RunOutput(dir);
            output.WriteJob(JobFile.ToJson(s.Job)); // `disttrain node --job DIR/job.json --resume DIR/checkpoint.dtck` continues it
            _jobs[s.JobId] = (s.Job, output, [], new ProgressRenderer(_console, isInteractive: false, s.Job.Epochs));
            _console.WriteLine($"job {s.JobId} started: {s.Workers} workers, {s.TrainSamples} training samples, {s.StepsPerEpoch} steps per epoch -> {dir}");
        });
        Receive<EpochCompleted>(e =>
        {
            if (!_jobs.TryGetValue(e.JobId, out var j)) return;
            j.History.Add(e.Metrics);
            j.Output.AppendEpoch(e.Metrics, (e.VisitsMin, e.VisitsMax));
            j.Renderer.OnEpoch(e.Metrics);
        });
        Receive<StepProgressed>(p => _lastStep[p.JobId] = (long)p.Progress.Epoch * p.Progress.StepsPerEpoch + p.Progress.Step);
        Receive<JobResumed>(r =>
        {
            var at = (long)r.Epoch * r.StepsPerEpoch + r.Step;
            var rerun = _lastStep.TryGetValue(r.JobId, out var seen) ? $"; the last step reported before was {seen}, so {Math.Max(0, seen - at)} steps are re-run" : "";
            _console.WriteLine($"job {r.JobId} resumed from the replica at step {at} (epoch {r.Epoch + 1}, step {r.Step} of {r.StepsPerEpoch}, version {r.Version}){rerun}");
        });
        Receive<WorkerJoined>(w => _console.WriteLine($"job {w.JobId}: worker {w.WorkerId} joined ({w.Workers} ready)"));
        Receive<WorkerLeft>(w => _console.WriteLine($"job {w.JobId}: worker {w.WorkerId} left: {w.Reason} ({w.Workers} ready)"));
        Receive<TrainingCompleted>(done =>
        {
            if (!_jobs.Remove(done.JobId, out var j)) return;
            var report = new ClassificationReport(done.TestLabels, done.TestPredictions, done.ClassNames);
            j.Output.WriteSummary(Summaries.From(j.Job, done, report, "cluster", done.Workers));
            j.Output.WritePlots(j.History, report.ConfusionMatrix, done.ClassNames);
            _console.WriteLine($"job {done.JobId} finished: test accuracy {done.TestAccuracy:0.0000}, parameters sha256 {done.ParametersSha256} -> {j.Output.Folder}");
        });
        Receive<TrainingFailed>(f =>
        {
            _jobs.Remove(f.JobId);
            _console.WriteLine($"job {f.JobId} failed: {f.Reason}");
        });
        ReceiveAny(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed class Resubscribe
    {
        public static readonly Resubscribe Instance = new();
    }

    protected override void PreStart()
    {
        _coordinator.Tell(new SubscribeProgress(Self));
        Timers.StartPeriodicTimer("resubscribe", Resubscribe.Instance, TimeSpan.FromSeconds(5));
    }

    public static Props Props(IActorRef coordinator, TextWriter console) => Akka.Actor.Props.Create(() => new ResultWriter(coordinator, console));
}
