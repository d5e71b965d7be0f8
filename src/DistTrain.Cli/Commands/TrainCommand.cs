using DistTrain.Cli.Terminal;
using DistTrain.Cli.Output;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Kernels;
using DistTrain.Core.Models;
using DistTrain.Core.Training;
using DistTrain.Data.Evaluation;

namespace DistTrain.Cli.Commands;

/// <summary><c>disttrain train</c>: local-mode training with live progress and a full output folder.</summary>
public static class TrainCommand
{
    public const string Usage = """
        usage: disttrain train [options]
        Trains in local mode (one process; parameter server, coordinator and N worker actors) and writes
        checkpoint.dtck, metrics.jsonl, summary.json, loss.png, accuracy.png and confusion.png to --out.

          --workers N            worker actors (default: processor count)
          --out DIR              output folder (default: runs/<preset>)
          --resume CHECKPOINT    continue a run from its checkpoint
          --init-from FILE       start from these safetensors weights instead of a random init (docs/interchange.md)
          --export FORMAT        after training also write model.onnx or model.safetensors (onnx|safetensors)
          --verbose              actor log messages at INFO level
        """ + "\n" + JobOptions.Help;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        var cl = CommandLine.Parse("train", args, [.. JobOptions.ValueOptions, "workers", "out", "resume", "init-from", "export"], [.. JobOptions.Flags, "verbose", "help"]);
        if (cl.Has("help")) { stdout.WriteLine(Usage); return 0; }
        var job = JobOptions.Build(cl);
        var workers = cl.Int("workers", 1, 256) ?? Environment.ProcessorCount;
        var outDir = Path.GetFullPath(cl.String("out") ?? Path.Combine("runs", job.JobId.Split('-')[0]));
        var resume = cl.String("resume");
        var initFrom = cl.String("init-from");
        var export = ExportCommand.ParseFormat(cl.String("export"), "--export");
        if (initFrom is not null && resume is not null) throw new UsageException("--init-from and --resume exclude each other: a resumed run already has its weights");
        if (resume is not null) CheckResume(resume, job);

        // Fail on bad input before anything is written: load the data and build the model here first.
        var loader = FeatureOptions.Loader(cl);
        var data = loader.Load(job);
        var model = new Model(job.Model);
        CheckCompatible(job, data, model);
        // A cosine schedule spans the whole run: fit it to the epochs, batch and data actually used.
        if (job.Optimizer.Schedule is { Kind: Core.Optimizers.ScheduleKind.Cosine } cosine)
        {
            var total = (long)job.Epochs * Core.Training.EpochSchedule.StepsPerEpoch(data.Train.Count, job.BatchSize);
            job = job with { Optimizer = job.Optimizer with { Schedule = cosine with { TotalSteps = total } } };
        }
        RunOutput.Validate(outDir);
        var output = new RunOutput(outDir);
        job = job with { OutputDirectory = outDir };
        if (initFrom is not null) resume = ExportCommand.WriteInitialCheckpoint(initFrom, job, data.ClassNames, outDir);
        output.WriteJob(JobFile.ToJson(job)); // before training: a run cut short can be resumed from its folder alone

        var blas = BlasThreads.ForWorkers(workers);
        stdout.WriteLine($"disttrain train: {job.JobId}, local mode, {workers} worker{(workers == 1 ? "" : "s")}");
        stdout.WriteLine($"  data    {Describe(job.Data)}: {data.Train.Count} train / {data.Validation.Count} validation / {data.Test.Count} test samples, {data.ClassNames.Count} classes");
        if (FeatureOptions.Describe(loader) is { } features) stdout.WriteLine(features);
        stdout.WriteLine($"  model   {model.ParameterCount:N0} parameters{(model.FrozenParameterCount > 0 ? $" ({model.FrozenParameterCount:N0} frozen)" : "")}, spec {job.Model.Hash[..12]}; {job.Loss}, {job.Optimizer.Kind} lr {job.Optimizer.LearningRate}" +
            (job.Optimizer.Schedule is { } sch ? $" ({sch.Kind.ToString().ToLowerInvariant()} schedule over {sch.TotalSteps} steps)" : ""));
        stdout.WriteLine($"  run     {job.Epochs} epochs, batch {job.BatchSize}, seed {job.Seed}, {Cluster.Jobs.CommunicationSpec.Of(job).Describe()} -> {outDir}");
        stdout.WriteLine($"  gemm    {Gemm.Describe().Replace("GEMM: ", "")}{blas}");

        var renderer = stdout == System.Console.Out ? ProgressRenderer.ForConsole(job.Epochs) : new ProgressRenderer(stdout, isInteractive: false, job.Epochs);
        var history = new List<EpochMetrics>();
        void OnEvent(object e)
        {
            switch (e)
            {
                case StepProgressed s: renderer.OnStep(s.Progress); break;
                case EpochCompleted ep:
                    lock (history) history.Add(ep.Metrics);
                    output.AppendEpoch(ep.Metrics);
                    renderer.OnEpoch(ep.Metrics);
                    break;
                case WorkerLeft w: renderer.OnMessage($"worker {w.WorkerId} left: {w.Reason}"); break;
                case StalenessReport r:
                    renderer.OnMessage($"epoch {r.Epoch + 1}: {r.Updates} updates, staleness max {r.MaxStaleness} mean {r.MeanStaleness:0.00}{(r.Bound is { } b ? $" (bound {b})" : "")}");
                    break;
                case GradientsDropped d:
                    renderer.OnMessage($"epoch {d.Epoch + 1} step {d.Step + 1}: dropped {d.DroppedShards} non-finite gradient(s){(d.Applied ? "" : "; parameters unchanged")} ({d.ConsecutiveBadSteps} bad step(s) in a row)");
                    break;
            }
        }

        var shared = new SharedDataLoader(data);
        TrainingCompleted done;
        try
        {
            done = await LocalMode.RunAsync(job, workers, shared, OnEvent, resume, cl.Has("verbose") ? "INFO" : "WARNING", cancel);
        }
        catch (TrainingFailedException e)
        {
            stderr.WriteLine($"error: training failed: {e.Reason}");
            return 1;
        }
        finally
        {
            if (initFrom is not null) File.Delete(Path.Combine(outDir, ExportCommand.InitialCheckpointFile));
        }

        var report = new ClassificationReport(done.TestLabels, done.TestPredictions, done.ClassNames);
        List<EpochMetrics> epochs;
        lock (history) epochs = [.. history];
        var summary = Summaries.From(job, done, report, "local", workers);
        output.WriteSummary(summary);
        var plots = output.WritePlots(epochs, report.ConfusionMatrix, done.ClassNames);
        stdout.WriteLine();
        stdout.WriteLine(report.ToString());
        stdout.WriteLine($"test accuracy {done.TestAccuracy:0.0000} ({done.TestLabels.Length} samples), test loss {done.TestLoss:0.0000}, " +
                         $"{done.Epochs} epochs{(done.StoppedEarly ? " (stopped early)" : "")}, {done.SamplesPerSecond:N0} samples/s");
        stdout.WriteLine($"parameters sha256 {done.ParametersSha256}");
        stdout.WriteLine($"wrote {outDir}: {Path.GetFileName(done.CheckpointPath)}, {RunOutput.MetricsFile}, {RunOutput.SummaryFile}, {RunOutput.JobFile}, {string.Join(", ", plots.Select(Path.GetFileName))}");
        if (export is not null && done.CheckpointPath is null) stderr.WriteLine($"--export {export}: the run wrote no checkpoint, so there is nothing to export");
        else if (export is not null && done.CheckpointPath is { } finalCheckpoint)
        {
            var exported = Path.Combine(outDir, "model" + ExportCommand.Extension(export));
            ExportCommand.Export(Core.Checkpoints.CheckpointFile.Read(finalCheckpoint), export, exported);
            stdout.WriteLine($"exported {exported}");
        }
        return 0;
    }

    /// <summary>
    /// A checkpoint that <paramref name="job"/> can continue from (train --resume, and node --resume on the ps node):
    /// it exists, holds the job's model, and has fewer epochs than the job asks for; a UsageException says which not.
    /// </summary>
    internal static void CheckResume(string path, TrainingJob job)
    {
        if (!File.Exists(path)) throw new UsageException($"--resume {path}: no such checkpoint file");
        var ck = Core.Checkpoints.CheckpointFile.Read(path);
        if (ck.Spec.Hash != job.Model.Hash)
            throw new UsageException($"--resume {path}: the checkpoint holds a different model (spec {ck.Spec.Hash[..12]}) than this job's (spec {job.Model.Hash[..12]}); resume with the same preset/--model it was trained with");
        if (ck.Metadata.Epoch >= job.Epochs)
            throw new UsageException($"--resume {path}: the checkpoint already completed {ck.Metadata.Epoch} epochs; ask for more with --epochs");
    }

    internal static void CheckCompatible(TrainingJob job, JobData data, Model model)
    {
        if (!data.Train.SampleShape.Equals(model.InputShape))
            throw new UsageException($"the model expects inputs of shape {model.InputShape} but the data's samples have shape {data.Train.SampleShape}; fix input_shape in the model spec");
        if (model.OutputShape.Size != data.ClassNames.Count)
            throw new UsageException($"the model outputs {model.OutputShape.Size} values but the data has {data.ClassNames.Count} classes ({string.Join(", ", data.ClassNames)}); make the last dense layer {data.ClassNames.Count} units");
        if (data.Train.Count == 0) throw new UsageException($"the training split of {Describe(job.Data)} is empty");
    }

    internal static string Describe(DataSpec d) => (d.Features is null ? "" : $"{d.Features} features of ") + d.Kind switch
    {
        "penguins" => d.Path is null ? "penguins (bundled)" : $"penguins ({d.Path})",
        "fashion-mnist" => $"fashion-mnist ({d.Path ?? PresetDataLoader.DefaultFashionFolder})",
        "shapes" => $"shapes ({d.Count} synthetic {d.ImageSize}x{d.ImageSize} images)",
        _ => $"{d.Kind} ({d.Path})",
    };
}

/// <summary>In local mode every worker shares the data the CLI already loaded (datasets are read-only).</summary>
internal sealed class SharedDataLoader(JobData data) : IJobDataLoader
{
    public JobData Load(TrainingJob job) => data;
}
