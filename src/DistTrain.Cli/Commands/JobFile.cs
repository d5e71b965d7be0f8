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
        catch (JsonException e)
        {
            throw new UsageException($"{path}: not a valid job file: {e.Message}");
        }
        if (job is null) throw new UsageException($"{path}: the job file is empty");
        try { job.Validate(); }
        catch (ArgumentException e) { throw new UsageException($"{path}: {e.Message}"); }
        return job;
    }

    public static string ToJson(TrainingJob job) => JsonSerializer.Serialize(job, new JsonSerializerOptions(ModelSpec.JsonOptions) { WriteIndented = true });
}
