using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using DistTrain.Core.Kernels;
using DistTrain.Core.Randomness;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>
/// Inverted dropout of single values: in training each value is kept with probability 1 − rate and
/// scaled by 1/(1 − rate), else zeroed; at inference the layer is the identity. Any shape.
/// Whether element j of a sample is kept is a pure function of (seed, epoch, sample id, layer index, j)
/// (see <see cref="DropoutMask"/>), so a sample gets the same mask whichever worker or batch row handles it.
/// </summary>
public sealed class Dropout : Layer
{
    private readonly float _rate;
    private float[]? _mask; // (N, size): 0 or 1/(1 − rate), valid when _masked
    private bool _masked;   // the last Forward applied a mask (training with rate > 0)
    private ulong[]? _elementKeys; // (size): CounterRandom.Mix(j), see ElementKeys

    public Dropout(string name, TensorShape input, float rate) : base(name, input, input)
    {
        DropoutMask.ValidateRate("Dropout", name, rate);
        _rate = rate;
    }

    public override string Kind => "Dropout";

    public override bool IsRandomInTraining => true;

    public float Rate => _rate;

    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var size = InputShape.Size;
        var len = ctx.BatchSize * size;
        _masked = ctx.Training && _rate > 0f;
        if (!_masked)
        {
            x[..len].CopyTo(y);
            return;
        }
        var mask = Ensure(ref _mask, len);
        var scale = 1f / (1f - _rate);
        var elementKeys = ElementKeys(size);
        for (var r = 0; r < ctx.BatchSize; r++)
        {
            var key = DropoutMask.RowKey(ctx, r, Index);
            var o = r * size;
            DropoutMask.FillRow(key, elementKeys, _rate, scale, x.Slice(o, size), mask.AsSpan(o, size), y.Slice(o, size));
        }
    }

    // Mix(j) for every element j of a sample: the half of DropoutMask.Keep's hashing that does not depend
    // on the sample, computed once.
    private ulong[] ElementKeys(int size)
    {
        if (_elementKeys is null || _elementKeys.Length != size)
        {
            var keys = new ulong[size];
            for (var j = 0; j < size; j++) keys[j] = CounterRandom.Mix(unchecked((ulong)j));
            _elementKeys = keys;
        }
        return _elementKeys;
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        var len = ctx.BatchSize * InputShape.Size;
        if (!_masked)
        {
            dy[..len].CopyTo(dx);
            return;
        }
        var mask = _mask!;
        for (var i = 0; i < len; i++) dx[i] = dy[i] * mask[i];
    }
}

/// <summary>The keep/drop decisions shared by <see cref="Dropout"/> and <see cref="SpatialDropout"/>.</summary>
internal static class DropoutMask
{
    public static void ValidateRate(string kind, string name, float rate)
    {
        if (!(rate >= 0f && rate < 1f))
            throw new ArgumentException($"{kind} layer {name}: rate must be in [0, 1) (got {rate}).");
    }

    /// <summary>A key for one sample's draws in one layer: Hash(seed, epoch, sample id, layer index).</summary>
    public static ulong RowKey(in BatchContext ctx, int row, int layerIndex)
        => CounterRandom.Hash(ctx.Seed, unchecked((ulong)ctx.Epoch), unchecked((ulong)ctx.SampleId(row)), unchecked((ulong)layerIndex));

    /// <summary>Element (or channel) j of the sample keyed by <paramref name="rowKey"/> is kept with probability 1 − rate.</summary>
    public static bool Keep(ulong rowKey, int j, float rate)
        => CounterRandom.ToUnitFloat(CounterRandom.Hash(rowKey, unchecked((ulong)j))) >= rate;

    /// <summary>
    /// One sample's mask and output, the same decisions as <see cref="Keep"/> for every j:
    /// mask[j] = Keep(rowKey, j, rate) ? scale : 0, y[j] = x[j]·mask[j]. <paramref name="elementKeys"/>[j]
    /// must be CounterRandom.Mix(j). Keep's test ToUnitFloat(h) ≥ rate is (h >> 40)·2⁻²⁴ ≥ rate, which for
    /// the integer h >> 40 is exactly h >> 40 ≥ ⌈rate·2²⁴⌉; four hashes at a time in 64-bit vector lanes.
    /// </summary>
    public static void FillRow(ulong rowKey, ReadOnlySpan<ulong> elementKeys, float rate, float scale,
        ReadOnlySpan<float> x, Span<float> mask, Span<float> y)
    {
        var size = elementKeys.Length;
        if (x.Length < size || mask.Length < size || y.Length < size)
            throw new ArgumentException($"Dropout: a row of {size} elements needs x, mask and y of at least that length.");
        var threshold = (ulong)Math.Ceiling(rate * (double)(1 << 24));
        var j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var seed = Vector256.Create(rowKey);
            var limit = Vector256.Create(threshold);
            var scales = Vector128.Create(scale);
            ref var rk = ref MemoryMarshal.GetReference(elementKeys);
            ref var rx = ref MemoryMarshal.GetReference(x);
            ref var rm = ref MemoryMarshal.GetReference(mask);
            ref var ry = ref MemoryMarshal.GetReference(y);
            for (; j <= size - 4; j += 4)
            {
                var z = (seed ^ Vector256.LoadUnsafe(ref rk, (nuint)j)) + Vector256.Create(0x9E3779B97F4A7C15UL);
                z = (z ^ Vector256.ShiftRightLogical(z, 30)) * Vector256.Create(0xBF58476D1CE4E5B9UL);
                z = (z ^ Vector256.ShiftRightLogical(z, 27)) * Vector256.Create(0x94D049BB133111EBUL);
                z ^= Vector256.ShiftRightLogical(z, 31);
                var keep = Vector256.GreaterThanOrEqual(Vector256.ShiftRightLogical(z, 40), limit);
                // 4 × 64-bit all-ones/zero lanes -> 4 × 32-bit lanes (the low halves)
                var keep32 = Vector128.Create(keep.GetLower().AsUInt32().ToScalar(), keep.GetLower().AsUInt32().GetElement(2),
                    keep.GetUpper().AsUInt32().ToScalar(), keep.GetUpper().AsUInt32().GetElement(2));
                var m = scales & keep32.AsSingle();
                m.StoreUnsafe(ref rm, (nuint)j);
                (Vector128.LoadUnsafe(ref rx, (nuint)j) * m).StoreUnsafe(ref ry, (nuint)j);
            }
        }
        for (; j < size; j++)
        {
            var h = CounterRandom.Mix(rowKey ^ elementKeys[j]);
            var m = (h >> 40) >= threshold ? scale : 0f;
            mask[j] = m;
            y[j] = x[j] * m;
        }
    }
}
