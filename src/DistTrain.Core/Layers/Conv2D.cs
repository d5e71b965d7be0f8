using DistTrain.Core.Kernels;
using DistTrain.Core.Models;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>
/// 2-D convolution (cross-correlation, as in PyTorch) with square kernels, the same stride in both
/// directions and zero padding on every side. x (N, C, H, W) -> y (N, F, OH, OW),
/// OH = (H + 2p − k)/s + 1. Weights stored (F, C, k, k) then bias (F), PyTorch's layout.
/// <para>
/// Implementation: im2col of the whole batch into one column matrix (C·k·k, N·OH·OW), then one GEMM per
/// pass (forward, weight gradient, column gradient) so the GEMM sees large matrices; col2im for dx.
/// The column matrix made by Forward is reused by Backward for the weight gradient, and its buffer then
/// receives the column gradient (it is rebuilt from x if Backward runs again without a Forward).
/// </para>
/// </summary>
public sealed class Conv2D : Layer
{
    private readonly int _c, _h, _w, _f, _k, _s, _p, _oh, _ow;
    private readonly int _ckk;  // rows of the column matrix: C·k·k
    private readonly int _ohw;  // OH·OW, output positions per sample
    private readonly Initializer _init;
    private float[]? _cols;     // (C·k·k, N·OH·OW)
    private float[]? _out;      // (F, N·OH·OW): GEMM result before scatter, and dy gathered for backward
    private bool _colsHoldX;    // _cols is im2col of the x of the last Forward

    public Conv2D(string name, TensorShape input, int filters, int kernelSize, int stride, int padding, Initializer init = Initializer.He)
        : base(name, input, OutputShapeOf(name, input, filters, kernelSize, stride, padding))
    {
        (_c, _h, _w) = input.AsImage();
        _f = filters;
        _k = kernelSize;
        _s = stride;
        _p = padding;
        (_, _oh, _ow) = OutputShape.AsImage();
        _ckk = _c * _k * _k;
        _ohw = _oh * _ow;
        _init = init;
    }

    private static TensorShape OutputShapeOf(string name, TensorShape input, int filters, int kernel, int stride, int padding)
    {
        if (input.Rank != 3) throw new ArgumentException($"Conv2D layer {name} expects an image input [C, H, W] but got {input}.");
        if (filters < 1) throw new ArgumentException($"Conv2D layer {name}: filters must be >= 1 (got {filters}).");
        if (kernel < 1) throw new ArgumentException($"Conv2D layer {name}: kernel size must be >= 1 (got {kernel}).");
        if (stride < 1) throw new ArgumentException($"Conv2D layer {name}: stride must be >= 1 (got {stride}).");
        if (padding < 0) throw new ArgumentException($"Conv2D layer {name}: padding must be >= 0 (got {padding}).");
        var (c, h, w) = input.AsImage();
        // long: a padding or kernel near int.MaxValue must be refused, not wrap around.
        var oh = h + 2L * padding - kernel;
        var ow = w + 2L * padding - kernel;
        if (oh < 0 || ow < 0)
            throw new ArgumentException($"Conv2D layer {name}: a {kernel}×{kernel} kernel with padding {padding} does not fit input {input} " +
                $"(padded size {h + 2L * padding}×{w + 2L * padding}); the output would be empty.");
        var (outH, outW) = (oh / stride + 1, ow / stride + 1);
        var weights = (Int128)filters * c * kernel * kernel + filters;
        var columns = (Int128)c * kernel * kernel * outH * outW;
        if (outH > int.MaxValue || outW > int.MaxValue || weights > int.MaxValue || columns > int.MaxValue)
            throw new ArgumentException($"Conv2D layer {name}: {filters} filters of {kernel}×{kernel} with padding {padding} on input {input} " +
                $"need {weights} parameters and a column matrix of {(Int128)c * kernel * kernel}×{(Int128)outH * outW} per sample; both must stay below 2^31.");
        return TensorShape.Of(filters, (int)outH, (int)outW);
    }

    public override string Kind => "Conv2D";

    public int Filters => _f;
    public int KernelSize => _k;
    public int Stride => _s;
    public int Padding => _p;

    private int WeightCount => _f * _ckk;

    public override int ParameterCount => WeightCount + _f;

    public override IReadOnlyList<ParameterTensor> ParameterTensors =>
    [
        new("weight", [_f, _c, _k, _k], 0, WeightCount),
        new("bias", [_f], WeightCount, _f),
    ];

    public override void InitializeParameters(Span<float> parameters, Random random)
    {
        Initialization.Fill(parameters[..WeightCount], _init, fanIn: _ckk, fanOut: _f * _k * _k, random);
        parameters[WeightCount..].Clear();
    }

    // x (N,C,H,W) -> y (N,F,OH,OW)
    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var n = ctx.BatchSize;
        var cols = Ensure(ref _cols, _ckk * n * _ohw);
        var outT = Ensure(ref _out, _f * n * _ohw);
        Im2Col(x, cols, n);
        _colsHoldX = true;
        var ldc = n * _ohw;
        var p = Parameters;
        // Y' (F, N·OHW) = W (F, CKK) · cols (CKK, N·OHW)
        gemm.Sgemm(false, false, _f, ldc, _ckk, 1f, p[..WeightCount], _ckk, cols, ldc, 0f, outT, ldc);
        var b = p.Slice(WeightCount, _f);
        // scatter Y' (F, N·OHW) -> y (N, F, OHW), adding the bias
        for (var i = 0; i < n; i++)
        {
            for (var f = 0; f < _f; f++)
            {
                var src = outT.AsSpan(f * ldc + i * _ohw, _ohw);
                var dst = y.Slice((i * _f + f) * _ohw, _ohw);
                var bf = b[f];
                for (var j = 0; j < _ohw; j++) dst[j] = src[j] + bf;
            }
        }
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        var n = ctx.BatchSize;
        var train = Trainable;
        if (!train && dx.IsEmpty) return;
        var ldc = n * _ohw;
        var cols = Ensure(ref _cols, _ckk * ldc);
        var dyT = Ensure(ref _out, _f * ldc);
        // gather dy (N, F, OHW) -> dY' (F, N·OHW)
        for (var i = 0; i < n; i++)
            for (var f = 0; f < _f; f++)
                dy.Slice((i * _f + f) * _ohw, _ohw).CopyTo(dyT.AsSpan(f * ldc + i * _ohw, _ohw));

        var p = Parameters;
        if (train)
        {
            if (!_colsHoldX)
            {
                Im2Col(x, cols, n);
                _colsHoldX = true;
            }
            var g = Gradients;
            // dW (F, CKK) += dY' (F, N·OHW) · colsᵀ (N·OHW, CKK)
            gemm.Sgemm(false, true, _f, _ckk, ldc, 1f, dyT, ldc, cols, ldc, 1f, g[..WeightCount], _ckk);
            var db = g.Slice(WeightCount, _f);
            for (var f = 0; f < _f; f++)
            {
                var row = dyT.AsSpan(f * ldc, ldc);
                var sum = 0f;
                for (var j = 0; j < row.Length; j++) sum += row[j];
                db[f] += sum;
            }
        }
        if (!dx.IsEmpty)
        {
            // dcols (CKK, N·OHW) = Wᵀ (CKK, F) · dY' (F, N·OHW); overwrites the im2col of x
            gemm.Sgemm(true, false, _ckk, ldc, _f, 1f, p[..WeightCount], _ckk, dyT, ldc, 0f, cols, ldc);
            _colsHoldX = false;
            Col2Im(cols, dx, n);
        }
    }

    // x (N,C,H,W) -> cols (C·k·k, N·OH·OW); row r = (c, ki, kj), column = n·OHW + oh·OW + ow
    private void Im2Col(ReadOnlySpan<float> x, Span<float> cols, int n)
    {
        var ld = n * _ohw;
        var hw = _h * _w;
        for (var c = 0; c < _c; c++)
        {
            for (var ki = 0; ki < _k; ki++)
            {
                for (var kj = 0; kj < _k; kj++)
                {
                    var row = cols.Slice(((c * _k + ki) * _k + kj) * ld, ld);
                    // valid output columns ow: 0 <= ow·s − p + kj < W
                    var (owLo, owHi) = ValidRange(kj, _w, _ow);
                    for (var i = 0; i < n; i++)
                    {
                        var plane = x.Slice((i * _c + c) * hw, hw);
                        var dstSample = row.Slice(i * _ohw, _ohw);
                        for (var oh = 0; oh < _oh; oh++)
                        {
                            var dst = dstSample.Slice(oh * _ow, _ow);
                            var ih = oh * _s - _p + ki;
                            if (ih < 0 || ih >= _h || owLo >= owHi)
                            {
                                dst.Clear();
                                continue;
                            }
                            if (owLo > 0) dst[..owLo].Clear();
                            if (owHi < _ow) dst[owHi..].Clear();
                            var srcRow = plane.Slice(ih * _w, _w);
                            var iw0 = owLo * _s - _p + kj;
                            if (_s == 1)
                            {
                                srcRow.Slice(iw0, owHi - owLo).CopyTo(dst[owLo..owHi]);
                            }
                            else
                            {
                                for (int ow = owLo, iw = iw0; ow < owHi; ow++, iw += _s) dst[ow] = srcRow[iw];
                            }
                        }
                    }
                }
            }
        }
    }

    // cols (C·k·k, N·OH·OW) -> dx (N,C,H,W), summing overlapping contributions
    private void Col2Im(ReadOnlySpan<float> cols, Span<float> dx, int n)
    {
        var ld = n * _ohw;
        var hw = _h * _w;
        dx[..(n * _c * hw)].Clear();
        for (var c = 0; c < _c; c++)
        {
            for (var ki = 0; ki < _k; ki++)
            {
                for (var kj = 0; kj < _k; kj++)
                {
                    var row = cols.Slice(((c * _k + ki) * _k + kj) * ld, ld);
                    var (owLo, owHi) = ValidRange(kj, _w, _ow);
                    if (owLo >= owHi) continue;
                    for (var i = 0; i < n; i++)
                    {
                        var plane = dx.Slice((i * _c + c) * hw, hw);
                        var srcSample = row.Slice(i * _ohw, _ohw);
                        for (var oh = 0; oh < _oh; oh++)
                        {
                            var ih = oh * _s - _p + ki;
                            if (ih < 0 || ih >= _h) continue;
                            var src = srcSample.Slice(oh * _ow, _ow);
                            var dstRow = plane.Slice(ih * _w, _w);
                            for (int ow = owLo, iw = owLo * _s - _p + kj; ow < owHi; ow++, iw += _s) dstRow[iw] += src[ow];
                        }
                    }
                }
            }
        }
    }

    // Output positions o in [lo, hi) whose input coordinate o·s − p + offset lies in [0, size).
    private (int Lo, int Hi) ValidRange(int offset, int size, int outSize)
    {
        var start = _p - offset; // o·s >= start
        var lo = start <= 0 ? 0 : (start + _s - 1) / _s;
        var end = size + _p - offset; // o·s < end
        var hi = end <= 0 ? 0 : Math.Min(outSize, (end + _s - 1) / _s);
        return (Math.Min(lo, hi), hi);
    }
}
