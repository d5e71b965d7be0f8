using System.Globalization;
using System.Text.Json;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Models;

namespace DistTrain.Cluster.Jobs;

/// <summary>
/// What a checkpoint records about the job that produced it (data source and split), so that
/// <c>disttrain evaluate</c> and <c>predict</c> can rebuild the same test split and inputs.
/// </summary>
public static class JobMetadata
{
    public static IReadOnlyDictionary<string, string> ToExtra(TrainingJob job) => new Dictionary<string, string>
    {
        ["job_id"] = job.JobId,
        ["data"] = JsonSerializer.Serialize(job.Data, ModelSpec.JsonOptions),
        ["train_fraction"] = job.TrainFraction.ToString("R", CultureInfo.InvariantCulture),
        ["validation_fraction"] = job.ValidationFraction.ToString("R", CultureInfo.InvariantCulture),
        ["batch_size"] = job.BatchSize.ToString(CultureInfo.InvariantCulture),
        ["epochs"] = job.Epochs.ToString(CultureInfo.InvariantCulture),
        ["optimizer"] = JsonSerializer.Serialize(job.Optimizer, ModelSpec.JsonOptions),
    };

    /// <summary>Rebuilds the job a checkpoint came from (data source, split, seed, model, loss, optimizer).</summary>
    public static TrainingJob FromCheckpoint(Checkpoint ck, string source)
    {
        var extra = ck.Metadata.Extra ?? throw new FormatException($"checkpoint {source} records no job metadata; give the data with --preset/--data");
        string Get(string key) => extra.TryGetValue(key, out var v) ? v : throw new FormatException($"checkpoint {source} lacks job metadata '{key}'");
        try
        {
            var data = JsonSerializer.Deserialize<DataSpec>(Get("data"), ModelSpec.JsonOptions) ?? throw new JsonException("empty data spec");
            return new TrainingJob(Get("job_id"), data, ck.Spec, ck.Metadata.Loss,
                ck.Optimizer ?? new Core.Optimizers.OptimizerSpec(Core.Optimizers.OptimizerKind.Adam, 1e-3f),
                int.Parse(Get("epochs"), CultureInfo.InvariantCulture), int.Parse(Get("batch_size"), CultureInfo.InvariantCulture), ck.Metadata.Seed,
                TrainFraction: double.Parse(Get("train_fraction"), CultureInfo.InvariantCulture),
                ValidationFraction: double.Parse(Get("validation_fraction"), CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is JsonException or FormatException or OverflowException)
        {
            throw new FormatException($"checkpoint {source} has unreadable job metadata: {e.Message}", e);
        }
    }
}
