using System.Numerics;
using DistTrain.Cluster.Jobs;

namespace DistTrain.Cluster.Modes;

/// <summary>
/// The arithmetic of <see cref="StalenessCompensation"/>: the staleness-aware learning-rate factor and the
/// look-ahead extrapolation of the parameters a worker computes at. Pure functions over flat buffers.
/// </summary>
public static class StaleGradients
{
    /// <summary>The learning-rate factor for a gradient applied with this staleness: 1 / (1 + staleness); exactly 1 at 0.</summary>
    public static float LearningRateScale(int staleness)
    {
        if (staleness < 0) throw new ArgumentOutOfRangeException(nameof(staleness), staleness, "staleness must be >= 0");
        return staleness == 0 ? 1f : 1f / (1 + staleness);
    }

    /// <summary>
    /// into = current + steps·(current − previous): the parameters <paramref name="steps"/> updates ahead if
    /// each moves them as the last one did. steps = 0 copies current exactly.
    /// </summary>
    // current (P), previous (P) -> into (P)
    public static void Extrapolate(ReadOnlySpan<float> current, ReadOnlySpan<float> previous, float steps, Span<float> into)
    {
        if (previous.Length != current.Length || into.Length != current.Length)
            throw new ArgumentException($"look-ahead needs buffers of one length: current {current.Length}, previous {previous.Length}, target {into.Length} values");
        if (steps == 0)
        {
            current.CopyTo(into);
            return;
        }
        var i = 0;
        var w = Vector<float>.Count;
        var k = new Vector<float>(steps);
        for (; i <= current.Length - w; i += w)
        {
            var c = new Vector<float>(current[i..]);
            (c + k * (c - new Vector<float>(previous[i..]))).CopyTo(into[i..]);
        }
        for (; i < current.Length; i++) into[i] = current[i] + steps * (current[i] - previous[i]);
    }
}
