using DistTrain.Cli.Output;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Kernels;
using DistTrain.Data.Evaluation;

namespace DistTrain.Cli.Commands;

internal static class Summaries
{
    public static RunSummary From(TrainingJob job, TrainingCompleted done, ClassificationReport report, string mode, int workers) => new()
    {
        JobId = job.JobId,
        Mode = mode,
        Preset = job.JobId.Split('-')[0],
        Seed = job.Seed,
        Epochs = done.Epochs,
        Workers = workers,
        BatchSize = job.BatchSize,
        Optimizer = job.Optimizer.Kind.ToString().ToLowerInvariant(),
        LearningRate = double.Parse(job.Optimizer.LearningRate.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture),
        Gemm = Gemm.Default.Name,
        Seconds = done.Seconds,
        SamplesPerSecond = done.SamplesPerSecond,
        StoppedEarly = done.StoppedEarly,
        TestLoss = done.TestLoss,
        TestAccuracy = done.TestAccuracy,
        ParametersSha256 = done.ParametersSha256,
        Checkpoint = done.CheckpointPath is null ? null : Path.GetFileName(done.CheckpointPath),
        ClassNames = done.ClassNames,
        Precision = report.Precision,
        Recall = report.Recall,
        ConfusionMatrix = RunSummary.ToJagged(report.ConfusionMatrix),
    };
}

/// <summary>OpenBLAS threads × workers must not exceed the cores (DESIGN.md §4: oversubscription).</summary>
internal static class BlasThreads
{
    public static string ForWorkers(int workers)
    {
        if (Environment.GetEnvironmentVariable("DISTTRAIN_BLAS_THREADS") is not null) return "";
        if (Gemm.Default is not OpenBlasGemm blas || !blas.CanSetThreads) return "";
        var threads = Math.Max(1, Environment.ProcessorCount / workers);
        blas.SetThreads(threads);
        return $" (set to {threads} thread{(threads == 1 ? "" : "s")} for {workers} worker{(workers == 1 ? "" : "s")})";
    }
}
