using System.Runtime.InteropServices;
using System.Security.Cryptography;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Layers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Jobs;

/// <summary>A job's datasets as one node loaded them, and a fingerprint to check that every node loaded the same.</summary>
public sealed record JobData(IDataset Train, IDataset Validation, IDataset Test, IReadOnlyList<string> ClassNames,
    Normalization? Normalization, string Fingerprint)
{
    /// <summary>Frozen-feature caches shared by every worker that uses this loaded data.</summary>
    public FeatureCaches FeatureCaches { get; } = new();

    public IDataset Get(Protocol.DataSplit split) => split switch
    {
        Protocol.DataSplit.Train => Train,
        Protocol.DataSplit.Validation => Validation,
        _ => Test,
    };

    /// <summary>SHA-256 over counts, labels and the inputs of up to 256 evenly spaced samples of each split.</summary>
    public static string ComputeFingerprint(params IDataset[] splits)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var d in splits)
        {
            sha.AppendData(BitConverter.GetBytes(d.Count));
            var labels = new int[d.Count];
            for (var i = 0; i < labels.Length; i++) labels[i] = d.Label(i);
            sha.AppendData(MemoryMarshal.AsBytes(labels.AsSpan()));
            var n = Math.Min(256, d.Count);
            if (n == 0) continue;
            var ids = new int[n];
            for (var i = 0; i < n; i++) ids[i] = (int)((long)i * d.Count / n);
            var x = new float[n * d.SampleShape.Size];
            d.CopyInputs(ids, x, BatchContext.Inference(n));
            sha.AppendData(MemoryMarshal.AsBytes(x.AsSpan()));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}

/// <summary>Loads a job's data on the node where a worker runs.</summary>
public interface IJobDataLoader
{
    JobData Load(TrainingJob job);
}

/// <summary>
/// Frozen-feature caches of one loaded <see cref="JobData"/>, one per model spec: workers that share the
/// data (local mode) share the cache too, so a sample's frozen prefix runs once per process, whichever
/// worker gets it in later epochs.
/// </summary>
public sealed class FeatureCaches
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, FeatureCache?> _bySpec = [];

    /// <summary>The cache for <paramref name="model"/>'s spec (created on first use), or null when its layers allow none.</summary>
    public FeatureCache? For(Core.Models.Model model)
    {
        lock (_lock)
        {
            var key = model.Spec.Hash;
            if (!_bySpec.TryGetValue(key, out var cache)) _bySpec[key] = cache = FeatureCache.For(model);
            return cache;
        }
    }
}
