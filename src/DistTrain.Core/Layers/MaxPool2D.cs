using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
        if (_pool == 2 && _s == 2)
        {
            Forward2x2(x, y, argmax, planes);
            return;
        }
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

    // The common 2×2 stride-2 case. The general loop's data-dependent branches mispredict on about half
    // of the windows (7–10 ns per output); here 4 windows at a time are compared with vector selects. The
    // comparisons are the general loop's, in its order ((0,0) first, then (0,1), (1,0), (1,1), strictly
    // greater wins, so NaN never wins and ties keep the first), hence the same maxima and indices.
    private void Forward2x2(ReadOnlySpan<float> x, Span<float> y, Span<int> argmax, int planes)
    {
        var hw = _h * _w;
        var ohw = _oh * _ow;
        var vector = Sse.IsSupported && _ow >= 4;
        for (var pl = 0; pl < planes; pl++)
        {
            var baseX = pl * hw;
            for (var oh = 0; oh < _oh; oh++)
            {
                var top = baseX + 2 * oh * _w;
                var r0 = x.Slice(top, 2 * _ow);
                var r1 = x.Slice(top + _w, 2 * _ow);
                var o = pl * ohw + oh * _ow;
                var yRow = y.Slice(o, _ow);
                var aRow = argmax.Slice(o, _ow);
                if (vector)
                {
                    // Blocks of 4 outputs; the last block is moved back to end at OW (recomputing a few).
                    for (var ow = 0; ; ow += 4)
                    {
                        if (ow > _ow - 4) ow = _ow - 4;
                        Windows4(r0, r1, ow, top, yRow, aRow);
                        if (ow + 4 >= _ow) break;
                    }
                    continue;
                }
                for (var ow = 0; ow < yRow.Length; ow++)
                {
                    var j = 2 * ow;
                    var max = r0[j];
                    var best = top + j;
                    var v = r0[j + 1];
                    if (v > max) { max = v; best = top + j + 1; }
                    v = r1[j];
                    if (v > max) { max = v; best = top + _w + j; }
                    v = r1[j + 1];
                    if (v > max) { max = v; best = top + _w + j + 1; }
                    yRow[ow] = max;
                    aRow[ow] = best;
                }
            }
        }
    }

    // Outputs ow..ow+3 of one output row: r0, r1 are the window's two input rows (2·OW floats each).
    private void Windows4(ReadOnlySpan<float> r0, ReadOnlySpan<float> r1, int ow, int top, Span<float> yRow, Span<int> aRow)
    {
        var j = 2 * ow;
        if (j + 8 > r0.Length || j + 8 > r1.Length || ow + 4 > yRow.Length || ow + 4 > aRow.Length)
            throw new ArgumentOutOfRangeException(nameof(ow), $"MaxPool2D layer {Name}: window block {ow} lies outside the row.");
        ref var p0 = ref MemoryMarshal.GetReference(r0);
        ref var p1 = ref MemoryMarshal.GetReference(r1);
        var a = Vector128.LoadUnsafe(ref p0, (nuint)j);
        var b = Vector128.LoadUnsafe(ref p0, (nuint)(j + 4));
        var e0 = Sse.Shuffle(a, b, 0b10_00_10_00); // columns 0, 2, 4, 6: the windows' top-left
        var o0 = Sse.Shuffle(a, b, 0b11_01_11_01); // columns 1, 3, 5, 7: top-right
        a = Vector128.LoadUnsafe(ref p1, (nuint)j);
        b = Vector128.LoadUnsafe(ref p1, (nuint)(j + 4));
        var e1 = Sse.Shuffle(a, b, 0b10_00_10_00);
        var o1 = Sse.Shuffle(a, b, 0b11_01_11_01);
        var max = e0;
        var code = Vector128<int>.Zero;
        var c = Vector128.GreaterThan(o0, max);
        max = Vector128.ConditionalSelect(c, o0, max);
        code = Vector128.ConditionalSelect(c.AsInt32(), Vector128.Create(1), code);
        c = Vector128.GreaterThan(e1, max);
        max = Vector128.ConditionalSelect(c, e1, max);
        code = Vector128.ConditionalSelect(c.AsInt32(), Vector128.Create(_w), code);
        c = Vector128.GreaterThan(o1, max);
        max = Vector128.ConditionalSelect(c, o1, max);
        code = Vector128.ConditionalSelect(c.AsInt32(), Vector128.Create(_w + 1), code);
        max.StoreUnsafe(ref MemoryMarshal.GetReference(yRow), (nuint)ow);
        var index = Vector128.Create(top + j) + Vector128.Create(0, 2, 4, 6) + code;
        index.StoreUnsafe(ref MemoryMarshal.GetReference(aRow), (nuint)ow);
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
