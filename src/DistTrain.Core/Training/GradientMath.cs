using System.Numerics;

namespace DistTrain.Core.Training;

/// <summary>Vectorised loops over flat buffers: the parameter server's sum and average.</summary>
public static class GradientMath
{
    /// <summary>target += source.</summary>
    public static void Add(Span<float> target, ReadOnlySpan<float> source)
    {
        if (target.Length != source.Length) throw new ArgumentException($"Cannot add a gradient of {source.Length} values to a buffer of {target.Length}.");
        var i = 0;
        var w = Vector<float>.Count;
        for (; i <= target.Length - w; i += w)
            (new Vector<float>(target[i..]) + new Vector<float>(source[i..])).CopyTo(target[i..]);
        for (; i < target.Length; i++) target[i] += source[i];
    }

    /// <summary>target *= factor.</summary>
    public static void Scale(Span<float> target, float factor)
    {
        var i = 0;
        var w = Vector<float>.Count;
        var f = new Vector<float>(factor);
        for (; i <= target.Length - w; i += w) (new Vector<float>(target[i..]) * f).CopyTo(target[i..]);
        for (; i < target.Length; i++) target[i] *= factor;
    }

    /// <summary>True when every value is finite (no NaN, no ±∞).</summary>
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        for (var i = 0; i < values.Length; i++) if (!float.IsFinite(values[i])) return false;
        return true;
    }
}
