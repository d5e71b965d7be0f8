using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>
/// Max pooling over poolSize×poolSize windows moved by <c>stride</c>, no padding:
/// x (N, C, H, W) -> y (N, C, (H−p)/s+1, (W−p)/s+1). Forward records where each maximum came from (the
/// first one on ties); backward routes dy there, accumulating when windows overlap.
/// </summary>
public sealed class MaxPool2D : Layer
{
    private readonly int _c, _h, _w, _pool, _s, _oh, _ow;
    private int[]? _argmax; // (N, C, OH, OW): flat index into x of each window's maximum

    public MaxPool2D(string name, TensorShape input, int poolSize, int stride)
        : base(name, input, OutputShapeOf(name, input, poolSize, stride))
    {
        (_c, _h, _w) = input.AsImage();
        _pool = poolSize;
        _s = stride;
        (_, _oh, _ow) = OutputShape.AsImage();
    }

    private static TensorShape OutputShapeOf(string name, TensorShape input, int pool, int stride)
    {
        if (input.Rank != 3) throw new ArgumentException($"MaxPool2D layer {name} expects an image input [C, H, W] but got {input}.");
        if (pool < 1) throw new ArgumentException($"MaxPool2D layer {name}: pool size must be >= 1 (got {pool}).");
        if (stride < 1) throw new ArgumentException($"MaxPool2D layer {name}: stride must be >= 1 (got {stride}).");
        var (c, h, w) = input.AsImage();
        if (pool > h || pool > w)
            throw new ArgumentException($"MaxPool2D layer {name}: a {pool}×{pool} window does not fit input {input}.");
        return TensorShape.Of(c, (h - pool) / stride + 1, (w - pool) / stride + 1);
    }

    public override string Kind => "MaxPool2D";

    public int PoolSize => _pool;
    public int Stride => _s;

    // x (N,C,H,W) -> y (N,C,OH,OW)
    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var planes = ctx.BatchSize * _c;
        var ohw = _oh * _ow;
        var argmax = Ensure(ref _argmax, planes * ohw);
        var hw = _h * _w;
        for (var pl = 0; pl < planes; pl++)
        {
            var baseX = pl * hw;
            var plane = x.Slice(baseX, hw);
            var yo = pl * ohw;
            for (var oh = 0; oh < _oh; oh++)
            {
                var ih0 = oh * _s;
                for (var ow = 0; ow < _ow; ow++)
                {
                    var iw0 = ow * _s;
                    var best = ih0 * _w + iw0;
                    var max = plane[best];
                    for (var ki = 0; ki < _pool; ki++)
                    {
                        var rowStart = (ih0 + ki) * _w + iw0;
                        for (var kj = 0; kj < _pool; kj++)
                        {
                            var v = plane[rowStart + kj];
                            if (v > max)
                            {
                                max = v;
                                best = rowStart + kj;
                            }
                        }
                    }
                    y[yo + oh * _ow + ow] = max;
                    argmax[yo + oh * _ow + ow] = baseX + best;
                }
            }
        }
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        var n = ctx.BatchSize;
        dx[..(n * InputShape.Size)].Clear();
        var len = n * OutputShape.Size;
        var argmax = _argmax!;
        for (var i = 0; i < len; i++) dx[argmax[i]] += dy[i];
    }
}
