using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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

    /// <summary>target = source * factor (one pass; the same result as a copy followed by <see cref="Scale"/>).</summary>
    public static void ScaleInto(Span<float> target, ReadOnlySpan<float> source, float factor)
    {
        if (target.Length != source.Length) throw new ArgumentException($"Cannot scale {source.Length} values into a buffer of {target.Length}.");
        var i = 0;
        var w = Vector<float>.Count;
        var f = new Vector<float>(factor);
        for (; i <= target.Length - w; i += w) (new Vector<float>(source[i..]) * f).CopyTo(target[i..]);
        for (; i < target.Length; i++) target[i] = source[i] * factor;
    }

    /// <summary>target = (target + source) * factor (one pass; the same result as <see cref="Add"/> then <see cref="Scale"/>).</summary>
    public static void AddThenScale(Span<float> target, ReadOnlySpan<float> source, float factor)
    {
        if (target.Length != source.Length) throw new ArgumentException($"Cannot add a gradient of {source.Length} values to a buffer of {target.Length}.");
        var i = 0;
        var w = Vector<float>.Count;
        var f = new Vector<float>(factor);
        for (; i <= target.Length - w; i += w)
            ((new Vector<float>(target[i..]) + new Vector<float>(source[i..])) * f).CopyTo(target[i..]);
        for (; i < target.Length; i++) target[i] = (target[i] + source[i]) * factor;
    }

    /// <summary>True when every value is finite (no NaN, no ±∞).</summary>
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            // x·0 is ±0 for finite x and NaN for NaN or ±∞; NaN survives the sum, so one test at the end
            // replaces a branch per value (the parameter server checks every gradient of every step).
            ref var r = ref MemoryMarshal.GetReference(values);
            var acc = Vector256<float>.Zero;
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
                acc += Vector256.LoadUnsafe(ref r, (nuint)i) * Vector256<float>.Zero;
            if (!Vector256.EqualsAll(acc, Vector256<float>.Zero)) return false;
        }
        for (; i < values.Length; i++) if (!float.IsFinite(values[i])) return false;
        return true;
    }
}
