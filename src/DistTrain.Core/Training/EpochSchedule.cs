using DistTrain.Core.Randomness;

namespace DistTrain.Core.Training;

/// <summary>
/// Which samples go into which step: a seeded permutation per epoch, cut into consecutive mini-batches
/// (the last one may be smaller), and each batch cut into contiguous shards for workers. Pure functions
/// of (seed, epoch, sizes), shared by the single-replica loop and the coordinator.
/// </summary>
public static class EpochSchedule
{
    /// <summary>The order of samples 0..count−1 in <paramref name="epoch"/> (Fisher–Yates from a seeded stream).</summary>
    public static int[] Permutation(int count, ulong seed, int epoch, bool shuffle = true)
    {
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = i;
        if (!shuffle) return order;
        var rng = new SplitMix64(CounterRandom.Hash(seed, 0x5EED5, (ulong)epoch));
        for (var i = count - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    public static int StepsPerEpoch(int count, int batchSize)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be >= 1");
        return (count + batchSize - 1) / batchSize;
    }

    /// <summary>Range (start, length) of step <paramref name="step"/>'s batch within the epoch's permutation.</summary>
    public static (int Start, int Length) Batch(int count, int batchSize, int step)
    {
        var start = step * batchSize;
        if (step < 0 || start >= count) throw new ArgumentOutOfRangeException(nameof(step), step, $"an epoch of {count} samples has {StepsPerEpoch(count, batchSize)} steps");
        return (start, Math.Min(batchSize, count - start));
    }

    /// <summary>
    /// Shard <paramref name="shard"/> of <paramref name="shards"/> over a batch of <paramref name="length"/>:
    /// contiguous, sizes differing by at most one, together covering the batch exactly once.
    /// </summary>
    public static (int Start, int Length) Shard(int length, int shards, int shard)
    {
        if (shards <= 0) throw new ArgumentOutOfRangeException(nameof(shards), shards, "need at least one shard");
        if ((uint)shard >= (uint)shards) throw new ArgumentOutOfRangeException(nameof(shard), shard, $"shard index must be in 0..{shards - 1}");
        var baseSize = length / shards;
        var extra = length % shards;
        var start = shard * baseSize + Math.Min(shard, extra);
        return (start, baseSize + (shard < extra ? 1 : 0));
    }
}
