using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using DistTrain.Core.Kernels;
using DistTrain.Core.Models;
using DistTrain.Core.Tensors;
using MathNet.Numerics.Distributions;

namespace DistTrain.Core.Layers;

/// <summary>Fully connected layer. x (N, in) -> y (N, out) = x·Wᵀ + b, W stored (out, in) as in PyTorch.</summary>
public sealed class Dense : Layer
{
    private readonly int _in;
    private readonly int _out;
    private readonly Initializer _init;

    public Dense(string name, TensorShape input, int units, Initializer init = Initializer.He)
        : base(name, input, TensorShape.Of(units))
    {
        if (input.Rank != 1) throw new ArgumentException($"Dense layer {name} expects a flat input but got {input}; put a Flatten layer before it.");
        if (units <= 0) throw new ArgumentException($"Dense layer {name}: units must be >= 1 (got {units}).");
        if ((long)units * input.Size + units > int.MaxValue)
            throw new ArgumentException($"Dense layer {name}: {units} units × {input.Size} inputs need {(long)units * input.Size + units} parameters; at most 2^31 − 1 fit.");
        _in = input.Size;
        _out = units;
        _init = init;
    }

    public override string Kind => "Dense";

    public override int ParameterCount => _out * _in + _out;

    public override IReadOnlyList<ParameterTensor> ParameterTensors =>
    [
        new("weight", [_out, _in], 0, _out * _in),
        new("bias", [_out], _out * _in, _out),
    ];

    public override void InitializeParameters(Span<float> parameters, Random random)
    {
        var weights = parameters[..(_out * _in)];
        Initialization.Fill(weights, _init, fanIn: _in, fanOut: _out, random);
        parameters[(_out * _in)..].Clear();
    }

    // x (N, in) -> y (N, out)
    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var n = ctx.BatchSize;
        var p = Parameters;
        var w = p[..(_out * _in)];
        var b = p.Slice(_out * _in, _out);
        for (var i = 0; i < n; i++) b.CopyTo(y.Slice(i * _out, _out));
        gemm.Sgemm(false, true, n, _out, _in, 1f, x, _in, w, _in, 1f, y, _out);
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        var n = ctx.BatchSize;
        var p = Parameters;
        if (Trainable)
        {
            var g = Gradients;
            // dW (out, in) += dyᵀ (out, N) · x (N, in)
            gemm.Sgemm(true, false, _out, _in, n, 1f, dy, _out, x, _in, 1f, g[..(_out * _in)], _in);
            // db (out) += Σ_rows dy (N, out)
            SumRowsInto(dy, n, _out, g.Slice(_out * _in, _out));
        }
        if (!dx.IsEmpty)
        {
            // dx (N, in) = dy (N, out) · W (out, in)
            gemm.Sgemm(false, false, n, _in, _out, 1f, dy, _out, p[..(_out * _in)], _in, 0f, dx, _in);
        }
    }

    /// <summary>sum[j] += Σ_r rows[r·cols + j]: column sums of a row-major (rows, cols) block, vectorised over columns.</summary>
    private static void SumRowsInto(ReadOnlySpan<float> rows, int count, int cols, Span<float> sum)
    {
        rows = rows[..(count * cols)];
        sum = sum[..cols];
        var j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var rr = ref MemoryMarshal.GetReference(rows);
            ref var rs = ref MemoryMarshal.GetReference(sum);
            for (; j <= cols - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                // Rows added in order into the running value, as the scalar loop does: same rounding.
                var acc = Vector256.LoadUnsafe(ref rs, (nuint)j);
                for (var r = 0; r < count; r++) acc += Vector256.LoadUnsafe(ref rr, (nuint)(r * cols + j));
                acc.StoreUnsafe(ref rs, (nuint)j);
            }
        }
        for (; j < cols; j++)
        {
            var acc = sum[j];
            for (var r = 0; r < count; r++) acc += rows[r * cols + j];
            sum[j] = acc;
        }
    }
}
