using System.Text.Json;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Models;

namespace DistTrain.Cli.Commands;

/// <summary>A training job as a JSON file (snake_case, like model specs), for `disttrain node --job`.</summary>
public static class JobFile
{
    public static TrainingJob Read(string path)
    {
        TrainingJob? job;
        try
        {
            job = JsonSerializer.Deserialize<TrainingJob>(File.ReadAllText(path), ModelSpec.JsonOptions);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            // NotSupportedException: a layer without its "type"; ArgumentException: a constructor's null checks.
            throw new UsageException($"{path}: not a valid job file: {e.Message}");
        }
        if (job is null) throw new UsageException($"{path}: the job file is empty");
        // Parts a node dereferences later: missing ones are errors in this file, not NullReferenceExceptions there.
        if (job.Data is null || string.IsNullOrWhiteSpace(job.Data.Kind)) throw new UsageException($"{path}: the job needs \"data\" with a \"kind\" (penguins, csv, fashion-mnist or shapes)");
        if (job.Model is null) throw new UsageException($"{path}: the job needs a \"model\" (a model spec)");
        for (var i = 0; i < job.Model.Layers.Count; i++)
            if (job.Model.Layers[i] is null) throw new UsageException($"{path}: model layer {i} is null");
        if (job.Optimizer is null) throw new UsageException($"{path}: the job needs an \"optimizer\"");
        try { job.Validate(); }
        catch (ArgumentException e) { throw new UsageException($"{path}: {e.Message}"); }
        return job;
    }

    public static string ToJson(TrainingJob job) => JsonSerializer.Serialize(job, new JsonSerializerOptions(ModelSpec.JsonOptions) { WriteIndented = true });
}
