using DistTrain.Core.Training;

namespace DistTrain.Data;

/// <summary>
/// Cutting a list of sample indices into disjoint contiguous shards for workers, with the same rule as
/// <see cref="EpochSchedule.Shard"/> (sizes differ by at most one; together they cover every index once).
/// </summary>
public static class Sharding
{
    /// <summary>(start, length) of each of <paramref name="shards"/> shards over <paramref name="count"/> items.</summary>
    public static (int Start, int Length)[] Split(int count, int shards)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "must be >= 0");
        var ranges = new (int, int)[shards > 0 ? shards : throw new ArgumentOutOfRangeException(nameof(shards), shards, "need at least one shard")];
        for (var s = 0; s < shards; s++) ranges[s] = EpochSchedule.Shard(count, shards, s);
        return ranges;
    }

    /// <summary>Shard <paramref name="shard"/> of <paramref name="indices"/> as a slice (no copy).</summary>
    public static ReadOnlySpan<int> Shard(ReadOnlySpan<int> indices, int shards, int shard)
    {
        var (start, length) = EpochSchedule.Shard(indices.Length, shards, shard);
        return indices.Slice(start, length);
    }

    /// <summary>Copies of all shards of <paramref name="indices"/>.</summary>
    public static int[][] Shards(ReadOnlySpan<int> indices, int shards)
    {
        var ranges = Split(indices.Length, shards);
        var result = new int[shards][];
        for (var s = 0; s < shards; s++) result[s] = indices.Slice(ranges[s].Start, ranges[s].Length).ToArray();
        return result;
    }
}
