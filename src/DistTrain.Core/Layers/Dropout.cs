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
        for (var r = 0; r < ctx.BatchSize; r++)
        {
            var key = DropoutMask.RowKey(ctx, r, Index);
            var o = r * size;
            for (var j = 0; j < size; j++)
            {
                var m = DropoutMask.Keep(key, j, _rate) ? scale : 0f;
                mask[o + j] = m;
                y[o + j] = x[o + j] * m;
            }
        }
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
}
