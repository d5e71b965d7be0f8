using System.Runtime.InteropServices;
using Akka.Actor;
using DistTrain.Cli.Terminal;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cli.Commands;

/// <summary><c>disttrain node</c> (a cluster member) and <c>disttrain submit</c> (send a job to a cluster).</summary>
public static class NodeCommands
{
    public const string NodeUsage = """
        usage: disttrain node --roles seed|ps|worker[,...] [options]     (every option also from DISTTRAIN_<NAME>)
          --roles R1,R2          seed: a contact point; ps: parameter server + coordinator singletons; worker: worker actors
          --host H               bind address (default 127.0.0.1; 0.0.0.0 in containers)          DISTTRAIN_HOST
          --port P               TCP port (default 4053; 0 = any free port)                         DISTTRAIN_PORT
          --public-host H        the address other nodes use to reach this one (default: --host)    DISTTRAIN_PUBLIC_HOST
          --seeds A1,A2          seed addresses, akka.tcp://disttrain@HOST:PORT                      DISTTRAIN_SEEDS
          --workers N            worker actors on this node (worker role, default 1)               DISTTRAIN_WORKERS
          --min-workers N        workers a job waits for before its first step (ps, default 1)      DISTTRAIN_MIN_WORKERS
          --preset NAME / --job FILE.json   (ps) run this job once the workers are ready, then exit DISTTRAIN_PRESET / DISTTRAIN_JOB
          --resume CHECKPOINT    (ps, with the job) continue it from this checkpoint on this node     DISTTRAIN_RESUME
          --out DIR              (ps) results folder; each job writes DIR/<job id>/ (default runs/cluster) DISTTRAIN_OUT
          --data PATH            data file or folder on this node, overriding the job's               DISTTRAIN_DATA
          --resnet-model PATH    ResNet18.onnx for jobs on a frozen resnet18 base (default: next to disttrain) DISTTRAIN_RESNET_MODEL
          --onnx-threads N       OnnxRuntime threads for their feature extraction (default: processors) DISTTRAIN_ONNX_THREADS
          --log-level L          Akka log level (default WARNING)                                    DISTTRAIN_LOG_LEVEL
          --config FILE          extra HOCON layered over everything else (e.g. failure-detector,
                                 disttrain.step-deadline, disttrain.replicate-every)                DISTTRAIN_CONFIG
        """;

    public const string SubmitUsage = """
        usage: disttrain submit --seed akka.tcp://disttrain@HOST:PORT [train options]   (--seed N as well sets the job's random seed)
                                [--resume CHECKPOINT]   continue from a checkpoint: a path on the ps node
        Contacts the cluster through the seed (as a client, not a member), submits a training job to the coordinator, streams its progress and
        prints the result; the ps node writes the checkpoint, metrics, summary and plots to its --out folder.
        """ + "\n" + JobOptions.Help;

    private static string? Opt(CommandLine cl, string name) =>
        cl.String(name) ?? (Environment.GetEnvironmentVariable("DISTTRAIN_" + name.ToUpperInvariant().Replace('-', '_')) is { Length: > 0 } v ? v : null);

    private static int? OptInt(CommandLine cl, string name, int min, int max)
    {
        var s = Opt(cl, name);
        if (s is null) return null;
        if (!int.TryParse(s, out var v) || v < min || v > max)
            throw new UsageException($"--{name} / DISTTRAIN_{name.ToUpperInvariant().Replace('-', '_')} must be a whole number in {min}..{max} (got '{s}')");
        return v;
    }

    private static string[] List(string? s) => s is null ? [] : s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);


    /// <summary>
    /// What SIGTERM does: cancel the node's run. A signal handler runs on its own thread and may still run
    /// while the node shuts down, after the token source is disposed; that must not throw (an exception on
    /// the signal thread aborts the process with exit code 134).
    /// </summary>
    public static void RequestStop(CancellationTokenSource stop)
    {
        try { stop.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>
    /// DISTTRAIN_STATS_FILE=PATH (a diagnostic for scripts/mp_step_stats.sh): every 0.1 s, one line with the unix
    /// time, process CPU seconds, GC counts (all, gen 1+, gen 2), total GC pause ms and bytes allocated, so a script
    /// can take the differences over the training window.
    /// </summary>
    private static void StartProcessStats(string? path)
    {
        if (string.IsNullOrEmpty(path)) return;
        new Thread(() =>
        {
            using var f = new StreamWriter(path, append: false) { AutoFlush = true };
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            while (true)
            {
                self.Refresh();
                f.WriteLine(FormattableString.Invariant(
                    $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0:F3} {self.TotalProcessorTime.TotalSeconds:F3} {GC.CollectionCount(0)} {GC.CollectionCount(1)} {GC.CollectionCount(2)} {GC.GetTotalPauseDuration().TotalMilliseconds:F1} {GC.GetTotalAllocatedBytes()}"));
                Thread.Sleep(100);
            }
        }) { IsBackground = true, Name = "disttrain-stats" }.Start();
    }

    public static async Task<int> NodeAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        StartProcessStats(Environment.GetEnvironmentVariable("DISTTRAIN_STATS_FILE"));
        var cl = CommandLine.Parse("node", args, ["roles", "host", "port", "public-host", "seeds", "workers", "min-workers", "preset", "job", "resume", "out", "data", "log-level", "config", .. FeatureOptions.NodeValueOptions], ["help"]);
        if (cl.Has("help")) { stdout.WriteLine(NodeUsage); return 0; }
        var settings = new NodeSettings(
            List(Opt(cl, "roles")),
            Opt(cl, "host") ?? "127.0.0.1",
            OptInt(cl, "port", 0, 65535) ?? 4053,
            Opt(cl, "public-host"),
            List(Opt(cl, "seeds")),
            OptInt(cl, "workers", 0, 256) ?? 1,
            OptInt(cl, "min-workers", 1, 10_000) ?? 1);
        try { settings.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }

        TrainingJob? job = null;
        if (Opt(cl, "job") is { } jobFile)
        {
            if (!File.Exists(jobFile)) throw new UsageException($"--job {jobFile}: no such file");
            job = JobFile.Read(jobFile);
        }
        else if (Opt(cl, "preset") is { } preset)
        {
            try { job = Presets.Get(preset); }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
        }
        if (job is not null && !settings.Has("ps")) throw new UsageException("--preset/--job runs on the node with the ps role");
        var resume = Opt(cl, "resume");
        if (resume is not null)
        {
            if (job is null) throw new UsageException("--resume continues the job of --preset/--job on the ps node; give one of them as well");
            TrainCommand.CheckResume(resume, job);
        }

        var outRoot = Path.GetFullPath(Opt(cl, "out") ?? Path.Combine("runs", "cluster"));
        var loader = new DataPathOverride(FeatureOptions.Loader(cl, name => Opt(cl, name)), Opt(cl, "data"));
        var overrides = $"akka.loglevel = {Opt(cl, "log-level") ?? "WARNING"}\n";
        if (Opt(cl, "config") is { } configFile)
        {
            if (!File.Exists(configFile)) throw new UsageException($"--config {configFile}: no such file");
            overrides += File.ReadAllText(configFile);
        }
        Akka.Configuration.Config config;
        try { config = ClusterConfig.Load(overrides, roles: settings.Roles); }
        catch (Exception e) when (e is not ArgumentException && Opt(cl, "config") is { } file)
        {
            throw new UsageException($"--config {file}: not valid HOCON: {e.Message}");
        }
        await using var node = ClusterNode.Start(settings, config, loader,
            new CoordinatorSettings(MinimumWorkers: settings.MinWorkers, OutputRoot: outRoot, PrepareTimeout: ClusterNode.PrepareTimeout(config)));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        // A second SIGTERM can arrive while the node shuts down, after `stop` is disposed: ignore it (it used to
        // throw on the signal thread and abort the process with exit code 134).
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            RequestStop(stop);
        });
        try
        {
            await node.WhenUp(stop.Token).WaitAsync(TimeSpan.FromSeconds(60), stop.Token);
        }
        catch (TimeoutException)
        {
            stderr.WriteLine($"error: could not join the cluster through {string.Join(", ", settings.SeedList)} within 60 s; check that a seed is running and reachable");
            return 1;
        }
        stdout.WriteLine($"node up: {node.Address} roles={string.Join(",", settings.Roles)}");
        if (settings.Has("ps")) node.System.ActorOf(ResultWriter.Props(node.Coordinator, stdout), "result-writer");

        if (job is not null)
        {
            try
            {
                var done = await TrainingTopology.RunJob(node.System, node.Coordinator, job, resume).WaitAsync(stop.Token);
                stdout.WriteLine($"test accuracy {done.TestAccuracy:0.0000}, parameters sha256 {done.ParametersSha256}");
                await Task.Delay(500, CancellationToken.None); // let the result writer finish its files
                return 0;
            }
            catch (TrainingFailedException e)
            {
                stderr.WriteLine($"error: training failed: {e.Reason}");
                return 1;
            }
        }
        // Runs until SIGTERM / Ctrl-C, or until the cluster removes this node (downed by the split-brain
        // resolver after a partition, for instance): a downed ActorSystem cannot rejoin, so the process exits
        // non-zero and a supervisor (compose restart policy, systemd, a script) starts a fresh member.
        // (A node that downs itself on the minority side of a partition never sees its own removal -- there is
        // no convergence there -- so being Down counts too.)
        while (!stop.IsCancellationRequested)
        {
            if (node.IsDownOrRemoved)
            {
                // Akka registers its own SIGTERM handler, which runs the coordinated shutdown (leaving the cluster)
                // and may finish before ours has cancelled `stop`: a requested stop, not a removal.
                if (CoordinatedShutdown.Get(node.System).ShutdownReason is CoordinatedShutdown.ClrExitReason) break;
                stderr.WriteLine("error: this node was removed from the cluster (downed, e.g. after a network partition); exiting so that it can be restarted as a new member");
                return 1;
            }
            try { await Task.Delay(500, stop.Token); }
            catch (OperationCanceledException) { }
        }
        stdout.WriteLine("leaving the cluster");
        return 0;
    }

    public static async Task<int> SubmitAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        // --seed is both the cluster's contact address (akka.tcp:// or akka.ssl.tcp://) and the job's random seed (a number):
        // the value's form tells them apart.
        string? contact = null;
        var rest = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--seed" && i + 1 < args.Count && args[i + 1].StartsWith("akka.", StringComparison.Ordinal)) contact = args[++i];
            else if (a.StartsWith("--seed=akka.", StringComparison.Ordinal)) contact = a["--seed=".Length..];
            else rest.Add(a);
        }
        var cl = CommandLine.Parse("submit", rest, [.. JobOptions.ValueOptions, "out", "timeout", "resume"], [.. JobOptions.Flags, "help"]);
        if (cl.Has("help")) { stdout.WriteLine(SubmitUsage); return 0; }
        var seed = contact ?? Environment.GetEnvironmentVariable("DISTTRAIN_SEEDS")?.Split(',')[0]
            ?? throw new UsageException("--seed akka.tcp://disttrain@HOST:PORT is required (the address of a seed node)");
        var job = JobOptions.Build(cl);
        // The id names the run's folder on the ps node: the time, then a random part, so that two submits within one
        // second (a script's, now that a client no longer spends a second joining the cluster) never share a folder.
        job = job with
        {
            JobId = $"{job.JobId}-{DateTime.UtcNow:yyyyMMddHHmmss}-{Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2)).ToLowerInvariant()}",
            OutputDirectory = cl.String("out"),
        };
        var settings = new NodeSettings(["client"], Port: 0, Seeds: [seed], Workers: 0);
        try { settings.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        // Not a member: a ClusterClient through the seeds' receptionists (no gossip, nothing to down if it is killed).
        await using var node = JobClient.Start(settings, ClusterConfig.Load("akka.loglevel = WARNING"));
        if (!await node.ReachAsync(TimeSpan.FromSeconds(30), cancel))
        {
            stderr.WriteLine($"error: no cluster answered through {seed} within 30 s; is the seed running, and is this its address?");
            return 1;
        }
        stdout.WriteLine($"submitted {job.JobId} to {seed}");
        var renderer = stdout == System.Console.Out ? ProgressRenderer.ForConsole(job.Epochs) : new ProgressRenderer(stdout, isInteractive: false, job.Epochs);
        void OnEvent(object e)
        {
            switch (e)
            {
                case StepProgressed s: renderer.OnStep(s.Progress); break;
                case EpochCompleted ep: renderer.OnEpoch(ep.Metrics); break;
                case JobStarted s: renderer.OnMessage($"training on {s.Workers} workers; results -> {s.Job.OutputDirectory} on the ps node"); break;
                case WorkerLeft w: renderer.OnMessage($"worker {w.WorkerId} left: {w.Reason}"); break;
                case GradientsDropped d: renderer.OnMessage($"epoch {d.Epoch + 1} step {d.Step + 1}: dropped {d.DroppedShards} non-finite gradient(s)"); break;
            }
        }
        try
        {
            var timeout = TimeSpan.FromMinutes(cl.Int("timeout", 1) ?? 24 * 60);
            // A checkpoint to resume from is read on the ps node (its path there); the coordinator says what is wrong with it.
            var done = await TrainingTopology.RunJob(node.System, node.Coordinator, job, cl.String("resume"), OnEvent).WaitAsync(timeout, cancel);
            stdout.WriteLine($"test accuracy {done.TestAccuracy:0.0000} ({done.TestLabels.Length} samples), {done.Epochs} epochs on {done.Workers} workers, {done.SamplesPerSecond:N0} samples/s");
            stdout.WriteLine($"parameters sha256 {done.ParametersSha256}");
            if (done.CheckpointPath is not null) stdout.WriteLine($"checkpoint {done.CheckpointPath} (on the ps node)");
            return 0;
        }
        catch (TrainingFailedException e)
        {
            stderr.WriteLine($"error: training failed: {e.Reason}");
            return 1;
        }
    }
}

/// <summary>A worker node's own data location overrides the path in the job (each node reads its own disk).</summary>
internal sealed class DataPathOverride(IJobDataLoader inner, string? path) : IJobDataLoader
{
    public JobData Load(TrainingJob job) => inner.Load(path is null ? job : job with { Data = job.Data with { Path = path } });
}
