using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>
/// Feature-map dropout for x (N, C, H, W): in training each whole channel of a sample is kept with
/// probability 1 − rate (and scaled by 1/(1 − rate)) or zeroed; identity at inference. The decision for
/// (sample, channel c) is a pure function of (seed, epoch, sample id, layer index, c).
/// </summary>
public sealed class SpatialDropout : Layer
{
    private readonly float _rate;
    private readonly int _c;
    private readonly int _hw;
    private float[]? _mask; // (N, C): 0 or 1/(1 − rate), valid when _masked
    private bool _masked;

    public SpatialDropout(string name, TensorShape input, float rate) : base(name, input, input)
    {
        if (input.Rank != 3) throw new ArgumentException($"SpatialDropout layer {name} expects an image input [C, H, W] but got {input}.");
        DropoutMask.ValidateRate("SpatialDropout", name, rate);
        _rate = rate;
        _c = input[0];
        _hw = input[1] * input[2];
    }

    public override string Kind => "SpatialDropout";

    public override bool IsRandomInTraining => true;

    public float Rate => _rate;

    // x (N,C,H,W) -> y (N,C,H,W)
    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var n = ctx.BatchSize;
        _masked = ctx.Training && _rate > 0f;
        if (!_masked)
        {
            x[..(n * InputShape.Size)].CopyTo(y);
            return;
        }
        var mask = Ensure(ref _mask, n * _c);
        var scale = 1f / (1f - _rate);
        for (var r = 0; r < n; r++)
        {
            var key = DropoutMask.RowKey(ctx, r, Index);
            for (var c = 0; c < _c; c++)
            {
                var m = DropoutMask.Keep(key, c, _rate) ? scale : 0f;
                mask[r * _c + c] = m;
                var src = x.Slice((r * _c + c) * _hw, _hw);
                var dst = y.Slice((r * _c + c) * _hw, _hw);
                for (var j = 0; j < _hw; j++) dst[j] = src[j] * m;
            }
        }
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        var n = ctx.BatchSize;
        if (!_masked)
        {
            dy[..(n * InputShape.Size)].CopyTo(dx);
            return;
        }
        var mask = _mask!;
        for (var pl = 0; pl < n * _c; pl++)
        {
            var m = mask[pl];
            var src = dy.Slice(pl * _hw, _hw);
            var dst = dx.Slice(pl * _hw, _hw);
            for (var j = 0; j < _hw; j++) dst[j] = src[j] * m;
        }
    }
}
