using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using DistTrain.Core.Kernels;
using DistTrain.Core.Models;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>
/// 2-D convolution (cross-correlation, as in PyTorch) with square kernels, the same stride in both
/// directions and zero padding on every side. x (N, C, H, W) -> y (N, F, OH, OW),
/// OH = (H + 2p − k)/s + 1. Weights stored (F, C, k, k) then bias (F), PyTorch's layout.
/// <para>
/// Implementation: one sample at a time, as PyTorch's CPU convolution does. The sample's column matrix
/// (C·k·k, OH·OW) is small enough to stay in the L2 cache (288×196 floats = 226 KB for W3's second conv),
/// and with F rows of weights the GEMM result W·cols (F, OH·OW) already is the sample's output in NCHW
/// layout: no scatter, no gather, no transposes. The bias is written first and the GEMM adds to it
/// (beta = 1). Backward rebuilds the sample's columns (cheaper than keeping a whole batch's columns,
/// which fall out of the cache: ~29 MB for W3) for [dW | db] += dy_i · [cols; 1]ᵀ (a row of ones under
/// the columns makes the bias gradient the GEMM's last column), and writes dcols = Wᵀ · dy_i into a
/// second sample-sized buffer for col2im, which for stride 1 gathers each dx element once from its taps
/// (docs/benchmarks.md, "Where a W3 step's time goes" and "Conv layers against their GEMMs").
/// A single-channel 3×3 stride-1 layer (W3's first conv) skips the columns and the GEMM altogether: see
/// <c>UsesDirectSingleChannel</c>.
/// </para>
/// </summary>
public sealed class Conv2D : Layer
{
    private readonly int _c, _h, _w, _f, _k, _s, _p, _oh, _ow;
    private readonly int _ckk;  // rows of the column matrix: C·k·k
    private readonly int _ohw;  // OH·OW, output positions per sample
    private readonly Initializer _init;
    private float[]? _cols;     // (C·k·k + 1, OH·OW): one sample's column matrix, then a row of ones (for the bias gradient)
    private float[]? _dcols;    // (C·k·k, OH·OW) at offset ColSlack: one sample's column gradient, with slack either side
    private float[]? _dWb;
    private readonly int[] _gatherMasks; // lane masks of the gather col2im, one per (pair of row vectors, kj, vector): ow inside [0, OW)      // (F, C·k·k + 1): the weight gradient with the bias gradient as an extra column, for one pass
    private float[]? _padded;   // (C, H+2p, W+2p): one sample's x, or its dx, inside a zero border (stride 1)
    private bool _paddedBorderZero; // _padded's border holds zeros (im2col only writes its interior)

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
        _gatherMasks = UsesGatherCol2Im ? GatherMasks() : [];
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
        if (UsesDirectSingleChannel)
        {
            ForwardDirectSingleChannel(n, x, y);
            return;
        }
        var cols = Ensure(ref _cols, (_ckk + 1) * _ohw);
        var chw = _c * _h * _w;
        var fohw = _f * _ohw;
        var p = Parameters;
        var weights = p[..WeightCount];
        var b = p.Slice(WeightCount, _f);
        for (var i = 0; i < n; i++)
        {
            Im2Col(x.Slice(i * chw, chw), cols);
            var yi = y.Slice(i * fohw, fohw);
            for (var f = 0; f < _f; f++) yi.Slice(f * _ohw, _ohw).Fill(b[f]);
            // y_i (F, OHW) = bias + W (F, CKK) · cols (CKK, OHW)
            gemm.Sgemm(false, false, _f, _ohw, _ckk, 1f, weights, _ckk, cols, _ohw, 1f, yi, _ohw);
        }
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        var n = ctx.BatchSize;
        var train = Trainable;
        if (!train && dx.IsEmpty) return;
        if (train && dx.IsEmpty && UsesDirectSingleChannel)
        {
            var grads = Gradients;
            WeightGradientsDirectSingleChannel(n, x, dy, grads[..WeightCount], grads.Slice(WeightCount, _f));
            return;
        }
        var chw = _c * _h * _w;
        var fohw = _f * _ohw;
        var ckk1 = _ckk + 1;
        var cols = Ensure(ref _cols, ckk1 * _ohw);
        var slack = ColSlack;
        var dcolsBuffer = dx.IsEmpty ? [] : Ensure(ref _dcols, _ckk * _ohw + 2 * slack);
        var dcols = dx.IsEmpty ? [] : dcolsBuffer.AsSpan(slack, _ckk * _ohw);
        var p = Parameters;
        var weights = p[..WeightCount];
        var g = Gradients;
        var dW = train ? g[..WeightCount] : [];
        var db = train ? g.Slice(WeightCount, _f) : [];
        var dWb = train ? Ensure(ref _dWb, _f * ckk1).AsSpan(0, _f * ckk1) : [];
        if (train)
        {
            // The bias gradient is the weight gradient of an input that is always 1: with a row of ones under
            // the columns, one GEMM per sample yields both (db_f = Σ dy_i[f, ·] as its last column), and the
            // separate pass of vector sums over dy goes away. dWb starts from the accumulated gradients.
            cols.AsSpan(_ckk * _ohw, _ohw).Fill(1f);
            for (var f = 0; f < _f; f++)
            {
                dW.Slice(f * _ckk, _ckk).CopyTo(dWb.Slice(f * ckk1, _ckk));
                dWb[f * ckk1 + _ckk] = db[f];
            }
        }
        for (var i = 0; i < n; i++)
        {
            var dyi = dy.Slice(i * fohw, fohw); // (F, OHW)
            if (train)
            {
                Im2Col(x.Slice(i * chw, chw), cols);
                // [dW | db] (F, CKK+1) += dy_i (F, OHW) · [cols_i; 1]ᵀ (OHW, CKK+1)
                gemm.Sgemm(false, true, _f, ckk1, _ohw, 1f, dyi, _ohw, cols, _ohw, 1f, dWb, ckk1);
            }
            if (!dx.IsEmpty)
            {
                // dcols (CKK, OHW) = Wᵀ (CKK, F) · dy_i (F, OHW)
                gemm.Sgemm(true, false, _ckk, _ohw, _f, 1f, weights, _ckk, dyi, _ohw, 0f, dcols, _ohw);
                if (UsesGatherCol2Im) Col2ImGather(dcolsBuffer, dx.Slice(i * chw, chw));
                else Col2Im(dcols, dx.Slice(i * chw, chw));
            }
        }
        if (train)
        {
            for (var f = 0; f < _f; f++)
            {
                dWb.Slice(f * ckk1, _ckk).CopyTo(dW.Slice(f * _ckk, _ckk));
                db[f] = dWb[f * ckk1 + _ckk];
            }
        }
    }

    // Floats kept free before and after the column gradient, so that the gather col2im may load whole
    // vectors that start up to k − 1 floats before a row's first element or end after its last.
    private int ColSlack => _k;

    private bool UsesGatherCol2Im => _s == 1 && _w >= Vector256<float>.Count && Vector256.IsHardwareAccelerated;

    // Stride 1, rows of at least 8: dcols (C·k·k, OH·OW), stored at offset ColSlack in buffer -> dx (C,H,W).
    // Each dx element is gathered once from its k·k taps, 8 neighbours of a row at a time in one vector:
    // dx[c, ih, iw] = Σ_(ki,kj) dcols[(c,ki,kj), oh = ih + p − ki, ow = iw + p − kj] over the taps that
    // exist. A tap's 8 values are one unaligned load; lanes whose ow falls outside [0, OW) (they read a
    // neighbouring row, or the slack) are masked to zero. Taps are added in (ki, kj) order from 0, as the
    // scatter (Col2ImStride1) adds them, so the sums are the same; but there is no border buffer to clear
    // or copy out, no read-modify-write of dx, and no scalar tails (the last vector of a row overlaps the
    // one before it and writes the same sums again).
    // Per pair of row vectors (at qa, qb as in Col2ImGather) and kj: for each of the two vectors, lane l is
    // all ones when ow = q + l + p − kj lies in [0, OW), else 0.
    private int[] GatherMasks()
    {
        const int width = 8;
        var pairs = (_w + 2 * width - 1) / (2 * width);
        var masks = new int[pairs * _k * 2 * width];
        for (var pair = 0; pair < pairs; pair++)
        {
            var q0 = pair * 2 * width;
            var qs = (Math.Min(q0, _w - width), Math.Min(q0 + width, _w - width));
            for (var kj = 0; kj < _k; kj++)
            {
                for (var v = 0; v < 2; v++)
                {
                    var q = v == 0 ? qs.Item1 : qs.Item2;
                    for (var l = 0; l < width; l++)
                    {
                        var ow = q + l + _p - kj;
                        masks[((pair * _k + kj) * 2 + v) * width + l] = ow >= 0 && ow < _ow ? -1 : 0;
                    }
                }
            }
        }
        return masks;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Col2ImGather(ReadOnlySpan<float> buffer, Span<float> dx)
    {
        var hw = _h * _w;
        var slack = ColSlack;
        if (buffer.Length < _ckk * _ohw + 2 * slack || dx.Length < _c * hw)
            throw new ArgumentException($"Conv2D layer {Name}: col2im needs a column buffer of {_ckk * _ohw + 2 * slack} and dx of {_c * hw} floats, got {buffer.Length} and {dx.Length}.");
        ref var rb = ref MemoryMarshal.GetReference(buffer);
        ref var rd = ref MemoryMarshal.GetReference(dx);
        const int width = 8;
        if (_gatherMasks.Length < ((_w + 2 * width - 1) / (2 * width)) * _k * 2 * width)
            throw new InvalidOperationException($"Conv2D layer {Name}: the gather col2im's masks were not built for this geometry.");
        ref var rm = ref MemoryMarshal.GetArrayDataReference(_gatherMasks);
        for (var c = 0; c < _c; c++)
        {
            var tapRow0 = slack + c * _k * _k * _ohw; // start of row (c, 0, 0) in the buffer
            for (var ih = 0; ih < _h; ih++)
            {
                var dst = c * hw + ih * _w;
                // Two vectors of the row at a time (the second clamped to the row's end, so the same as the
                // first for a row of 8): two independent chains of adds instead of one.
                for (int q0 = 0, pair = 0; q0 < _w; q0 += 2 * width, pair++)
                {
                    var qa = Math.Min(q0, _w - width);
                    var qb = Math.Min(q0 + width, _w - width);
                    var accA = Vector256<float>.Zero;
                    var accB = Vector256<float>.Zero;
                    var masks = pair * _k * 2 * width;
                    for (var ki = 0; ki < _k; ki++)
                    {
                        var oh = ih + _p - ki;
                        if (oh < 0 || oh >= _oh) continue;
                        for (var kj = 0; kj < _k; kj++)
                        {
                            var insideA = Vector256.LoadUnsafe(ref rm, (nuint)(masks + kj * 2 * width)).AsSingle();
                            var insideB = Vector256.LoadUnsafe(ref rm, (nuint)(masks + kj * 2 * width + width)).AsSingle();
                            var src = tapRow0 + (ki * _k + kj) * _ohw + oh * _ow + _p - kj; // + q: ow of lane 0
                            accA += Vector256.LoadUnsafe(ref rb, (nuint)(src + qa)) & insideA;
                            accB += Vector256.LoadUnsafe(ref rb, (nuint)(src + qb)) & insideB;
                        }
                    }
                    accA.StoreUnsafe(ref rd, (nuint)(dst + qa));
                    accB.StoreUnsafe(ref rd, (nuint)(dst + qb));
                }
            }
        }
    }

    // x (C,H,W) of one sample -> cols (C·k·k, OH·OW); row r = (c, ki, kj), column = oh·OW + ow
    private void Im2Col(ReadOnlySpan<float> x, Span<float> cols)
    {
        if (_s == 1)
        {
            Im2ColStride1(x, cols);
            return;
        }
        var hw = _h * _w;
        for (var c = 0; c < _c; c++)
        {
            for (var ki = 0; ki < _k; ki++)
            {
                for (var kj = 0; kj < _k; kj++)
                {
                    var dstSample = cols.Slice(((c * _k + ki) * _k + kj) * _ohw, _ohw);
                    // valid output columns ow: 0 <= ow·s − p + kj < W
                    var (owLo, owHi) = ValidRange(kj, _w, _ow);
                    var plane = x.Slice(c * hw, hw);
                    {
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
                                CopyShort(srcRow.Slice(iw0, owHi - owLo), dst[owLo..owHi]);
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

    // cols (C·k·k, OH·OW) -> dx (C,H,W) of one sample, summing overlapping contributions
    private void Col2Im(ReadOnlySpan<float> cols, Span<float> dx)
    {
        if (_s == 1)
        {
            Col2ImStride1(cols, dx);
            return;
        }
        var hw = _h * _w;
        dx[..(_c * hw)].Clear();
        for (var c = 0; c < _c; c++)
        {
            for (var ki = 0; ki < _k; ki++)
            {
                for (var kj = 0; kj < _k; kj++)
                {
                    var srcSample = cols.Slice(((c * _k + ki) * _k + kj) * _ohw, _ohw);
                    var (owLo, owHi) = ValidRange(kj, _w, _ow);
                    if (owLo >= owHi) continue;
                    var plane = dx.Slice(c * hw, hw);
                    {
                        for (var oh = 0; oh < _oh; oh++)
                        {
                            var ih = oh * _s - _p + ki;
                            if (ih < 0 || ih >= _h) continue;
                            var src = srcSample.Slice(oh * _ow, _ow);
                            var dstRow = plane.Slice(ih * _w, _w);
                            if (_s == 1)
                            {
                                AddInto(src[owLo..owHi], dstRow.Slice(owLo - _p + kj, owHi - owLo));
                            }
                            else
                            {
                                for (int ow = owLo, iw = owLo * _s - _p + kj; ow < owHi; ow++, iw += _s) dstRow[iw] += src[ow];
                            }
                        }
                    }
                }
            }
        }
    }

    // x (C,H,W) of one sample -> _padded (C, H+2p, W+2p): x inside a zero border of width p.
    private float[] Pad(ReadOnlySpan<float> x)
    {
        var pw = _w + 2 * _p;
        var plane = (_h + 2 * _p) * pw;
        var padded = Ensure(ref _padded, _c * plane);
        // The border stays zero between samples unless the scatter col2im used the buffer since.
        if (_p > 0 && !_paddedBorderZero) padded.AsSpan(0, _c * plane).Clear();
        _paddedBorderZero = true;
        for (var c = 0; c < _c; c++)
            for (var ih = 0; ih < _h; ih++)
                CopyShort(x.Slice((c * _h + ih) * _w, _w), padded.AsSpan(c * plane + (ih + _p) * pw + _p, _w));
        return padded;
    }

    // One input channel, a 3×3 kernel, stride 1, rows of at least a vector (W3's first conv): no columns and no
    // GEMM. Each output vector is the bias plus 9 fused multiply-adds of a weight and a shifted row of the padded
    // input, which stays in L1 (30×30 floats for 28×28, pad 1), with the weights (forward) or the 9 sums
    // (backward) in registers. The im2col GEMM (k = 9, a thin one) spent most of its time on the columns, the
    // bias fill and reading the output back. Rows that are not a multiple of 8 end with a vector that overlaps
    // the one before it (forward: the same values stored twice; backward: the overlapping lanes of dy masked
    // off). Measured (docs/benchmarks.md): conv1's forward 2.0–2.3 → 1.6–1.8 ms, its backward 1.9–2.0 → 1.6–1.7 ms.
    // Other kernel sizes take the GEMM path: a loop over k·k with the sums in memory was slower than it.
    private bool UsesDirectSingleChannel => _c == 1 && _s == 1 && _k == 3 && _ow >= Vector256<float>.Count && Vector256.IsHardwareAccelerated;

    // x (N,1,H,W) -> y (N,F,OH,OW)
    private void ForwardDirectSingleChannel(int n, ReadOnlySpan<float> x, Span<float> y)
    {
        var pw = _w + 2 * _p;
        var fohw = _f * _ohw;
        var tail = _ow - Vector256<float>.Count;
        for (var i = 0; i < n; i++)
        {
            ref var rp = ref MemoryMarshal.GetArrayDataReference(Pad(x.Slice(i * _h * _w, _h * _w)));
            Forward3x3(ref rp, ref MemoryMarshal.GetReference(y.Slice(i * fohw, fohw)), pw, tail);
        }
    }

    // One sample's forward on the direct path: the 9 weights and the bias of a filter live in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Forward3x3(ref float rp, ref float ry, int pw, int tail)
    {
        var p = Parameters;
        for (var f = 0; f < _f; f++)
        {
            var w = p.Slice(f * 9, 9);
            var (w0, w1, w2) = (Vector256.Create(w[0]), Vector256.Create(w[1]), Vector256.Create(w[2]));
            var (w3, w4, w5) = (Vector256.Create(w[3]), Vector256.Create(w[4]), Vector256.Create(w[5]));
            var (w6, w7, w8) = (Vector256.Create(w[6]), Vector256.Create(w[7]), Vector256.Create(w[8]));
            var bias = Vector256.Create(p[WeightCount + f]);
            for (var oh = 0; oh < _oh; oh++)
            {
                var dst = (nuint)(f * _ohw + oh * _ow);
                for (var j = 0; ; j += Vector256<float>.Count)
                {
                    if (j > tail) j = tail;
                    ref var r0 = ref Unsafe.Add(ref rp, oh * pw + j);
                    ref var r1 = ref Unsafe.Add(ref r0, pw);
                    ref var r2 = ref Unsafe.Add(ref r1, pw);
                    var acc = Vector256.FusedMultiplyAdd(w0, Vector256.LoadUnsafe(ref r0), bias);
                    acc = Vector256.FusedMultiplyAdd(w1, Vector256.LoadUnsafe(ref r0, 1), acc);
                    acc = Vector256.FusedMultiplyAdd(w2, Vector256.LoadUnsafe(ref r0, 2), acc);
                    acc = Vector256.FusedMultiplyAdd(w3, Vector256.LoadUnsafe(ref r1), acc);
                    acc = Vector256.FusedMultiplyAdd(w4, Vector256.LoadUnsafe(ref r1, 1), acc);
                    acc = Vector256.FusedMultiplyAdd(w5, Vector256.LoadUnsafe(ref r1, 2), acc);
                    acc = Vector256.FusedMultiplyAdd(w6, Vector256.LoadUnsafe(ref r2), acc);
                    acc = Vector256.FusedMultiplyAdd(w7, Vector256.LoadUnsafe(ref r2, 1), acc);
                    acc = Vector256.FusedMultiplyAdd(w8, Vector256.LoadUnsafe(ref r2, 2), acc);
                    acc.StoreUnsafe(ref ry, dst + (nuint)j);
                    if (j == tail) break;
                }
            }
        }
    }

    // One sample's weight and bias gradients on the direct path: the 9 sums and the bias sum live in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightGradients3x3(ref float rp, ref float rdy, int pw, int full, int tail, Vector256<float> tailMask, Span<float> dW, Span<float> db)
    {
        for (var f = 0; f < _f; f++)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default, a8 = default, ab = default;
            for (var oh = 0; oh < _oh; oh++)
            {
                var src = (nuint)(f * _ohw + oh * _ow);
                for (var j = 0; j < _ow; j += Vector256<float>.Count)
                {
                    var at = j < full ? j : tail;
                    var g = Vector256.LoadUnsafe(ref rdy, src + (nuint)at);
                    if (j >= full) g &= tailMask;
                    ab += g;
                    ref var r0 = ref Unsafe.Add(ref rp, oh * pw + at);
                    ref var r1 = ref Unsafe.Add(ref r0, pw);
                    ref var r2 = ref Unsafe.Add(ref r1, pw);
                    a0 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r0), a0);
                    a1 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r0, 1), a1);
                    a2 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r0, 2), a2);
                    a3 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r1), a3);
                    a4 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r1, 1), a4);
                    a5 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r1, 2), a5);
                    a6 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r2), a6);
                    a7 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r2, 1), a7);
                    a8 = Vector256.FusedMultiplyAdd(g, Vector256.LoadUnsafe(ref r2, 2), a8);
                }
            }
            var d = dW.Slice(f * 9, 9);
            d[0] += Vector256.Sum(a0); d[1] += Vector256.Sum(a1); d[2] += Vector256.Sum(a2);
            d[3] += Vector256.Sum(a3); d[4] += Vector256.Sum(a4); d[5] += Vector256.Sum(a5);
            d[6] += Vector256.Sum(a6); d[7] += Vector256.Sum(a7); d[8] += Vector256.Sum(a8);
            db[f] += Vector256.Sum(ab);
        }
    }

    // Weight and bias gradients of a single-channel, stride-1 3×3 conv, added to dW (F,1,3,3) and db (F):
    // dW[f,ki,kj] += Σ dy[f,oh,ow]·xpad[oh+ki, ow+kj], db[f] += Σ dy[f,·]. x (N,1,H,W), dy (N,F,OH,OW).
    private void WeightGradientsDirectSingleChannel(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dW, Span<float> db)
    {
        var pw = _w + 2 * _p;
        var fohw = _f * _ohw;
        var full = _ow / Vector256<float>.Count * Vector256<float>.Count;
        var tail = _ow - Vector256<float>.Count;
        // Lanes of the last (overlapping) vector that the full vectors did not cover.
        var tailMask = Vector256.GreaterThanOrEqual(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(full - tail)).AsSingle();
        for (var i = 0; i < n; i++)
        {
            ref var rp = ref MemoryMarshal.GetArrayDataReference(Pad(x.Slice(i * _h * _w, _h * _w)));
            WeightGradients3x3(ref rp, ref MemoryMarshal.GetReference(dy.Slice(i * fohw, fohw)), pw, full, tail, tailMask, dW, db);
        }
    }

    // Stride 1: x is first copied inside a zero border of width p, so that every column row (c, ki, kj)
    // is OH plain copies of OW floats, with no clipping at the edges.
    // x (C,H,W) -> cols (C·k·k, OH·OW)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Im2ColStride1(ReadOnlySpan<float> x, Span<float> cols)
    {
        var pw = _w + 2 * _p;
        var plane = (_h + 2 * _p) * pw;
        var padded = Pad(x);
        if (cols.Length < _ckk * _ohw)
            throw new ArgumentException($"Conv2D layer {Name}: im2col needs {_ckk * _ohw} floats of columns, got {cols.Length}.");
        if (_ow < Vector256<float>.Count || !Vector256.IsHardwareAccelerated)
        {
            for (var c = 0; c < _c; c++)
            {
                for (var ki = 0; ki < _k; ki++)
                {
                    for (var kj = 0; kj < _k; kj++)
                    {
                        var dst = cols.Slice(((c * _k + ki) * _k + kj) * _ohw, _ohw);
                        var src = padded.AsSpan(c * plane + ki * pw + kj, (_oh - 1) * pw + _ow);
                        for (var oh = 0; oh < _oh; oh++) CopyShort(src.Slice(oh * pw, _ow), dst.Slice(oh * _ow, _ow));
                    }
                }
            }
            return;
        }
        // Rows of at least 8: whole vectors, the last one overlapping the one before it; offsets checked
        // once above (the source is inside the bordered C planes, the destination inside C·k·k rows).
        ref var rp = ref MemoryMarshal.GetArrayDataReference(padded);
        ref var rc = ref MemoryMarshal.GetReference(cols);
        var tail = _ow - Vector256<float>.Count;
        nuint dst0 = 0;
        for (var c = 0; c < _c; c++)
        {
            for (var ki = 0; ki < _k; ki++)
            {
                for (var kj = 0; kj < _k; kj++)
                {
                    var src0 = (nuint)(c * plane + ki * pw + kj);
                    for (var oh = 0; oh < _oh; oh++)
                    {
                        ref var s = ref Unsafe.Add(ref rp, src0);
                        ref var d = ref Unsafe.Add(ref rc, dst0);
                        var j = 0;
                        for (; j < tail; j += 8) Vector256.LoadUnsafe(ref s, (nuint)j).StoreUnsafe(ref d, (nuint)j);
                        Vector256.LoadUnsafe(ref s, (nuint)tail).StoreUnsafe(ref d, (nuint)tail);
                        src0 += (nuint)pw;
                        dst0 += (nuint)_ow;
                    }
                }
            }
        }
    }

    // cols (C·k·k, OH·OW) -> dx (C,H,W): summed into the bordered buffer, then its interior copied out.
    private void Col2ImStride1(ReadOnlySpan<float> cols, Span<float> dx)
    {
        var pw = _w + 2 * _p;
        var ph = _h + 2 * _p;
        var plane = ph * pw;
        var padded = Ensure(ref _padded, _c * plane).AsSpan(0, _c * plane);
        padded.Clear();
        _paddedBorderZero = false; // the sums below land on the border too
        for (var c = 0; c < _c; c++)
        {
            for (var ki = 0; ki < _k; ki++)
            {
                for (var kj = 0; kj < _k; kj++)
                {
                    var src = cols.Slice(((c * _k + ki) * _k + kj) * _ohw, _ohw);
                    var dst = padded.Slice(c * plane + ki * pw + kj, (_oh - 1) * pw + _ow);
                    for (var oh = 0; oh < _oh; oh++) AddInto(src.Slice(oh * _ow, _ow), dst.Slice(oh * pw, _ow));
                }
            }
        }
        for (var c = 0; c < _c; c++)
            for (var ih = 0; ih < _h; ih++)
                CopyShort(padded.Slice(c * plane + (ih + _p) * pw + _p, _w), dx.Slice((c * _h + ih) * _w, _w));
    }

    // dst = src for the short rows of an image (14 or 28 floats in W3): Span.CopyTo's call to memmove
    // costs more than the copy at these lengths, and im2col makes one per output row per kernel tap. From
    // 8 floats on, the tail is one more (overlapping) vector, so no scalar loop is left.
    private static void CopyShort(ReadOnlySpan<float> src, Span<float> dst)
    {
        var len = src.Length;
        if (dst.Length < len) throw new ArgumentException("Conv2D: a column row is shorter than its source row.");
        if (Vector256.IsHardwareAccelerated && len >= 8)
        {
            ref var rs = ref MemoryMarshal.GetReference(src);
            ref var rd = ref MemoryMarshal.GetReference(dst);
            var j = 0;
            for (; j <= len - 8; j += 8) Vector256.LoadUnsafe(ref rs, (nuint)j).StoreUnsafe(ref rd, (nuint)j);
            if (j < len) Vector256.LoadUnsafe(ref rs, (nuint)(len - 8)).StoreUnsafe(ref rd, (nuint)(len - 8));
            return;
        }
        for (var j = 0; j < len; j++) dst[j] = src[j];
    }

    // dst += src, element-wise (same length)
    private static void AddInto(ReadOnlySpan<float> src, Span<float> dst)
    {
        var len = src.Length;
        if (dst.Length < len) throw new ArgumentException("Conv2D: an image row is shorter than its column row.");
        var j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var rs = ref MemoryMarshal.GetReference(src);
            ref var rd = ref MemoryMarshal.GetReference(dst);
            for (; j <= len - 8; j += 8)
                (Vector256.LoadUnsafe(ref rd, (nuint)j) + Vector256.LoadUnsafe(ref rs, (nuint)j)).StoreUnsafe(ref rd, (nuint)j);
            for (; j <= len - 4; j += 4)
                (Vector128.LoadUnsafe(ref rd, (nuint)j) + Vector128.LoadUnsafe(ref rs, (nuint)j)).StoreUnsafe(ref rd, (nuint)j);
        }
        for (; j < len; j++) dst[j] += src[j];
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
