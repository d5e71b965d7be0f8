using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>
/// Row-wise softmax over a flat input: x (N, K) -> y (N, K), numerically stable (max subtracted).
/// For training with cross-entropy prefer the fused loss on logits; this layer is for models whose
/// outputs must be probabilities (e.g. trained with mean squared error, as in the course notes).
/// </summary>
public sealed class Softmax : Layer
{
    public Softmax(string name, TensorShape input) : base(name, input, input)
    {
        if (input.Rank != 1) throw new ArgumentException($"Softmax layer {name} expects a flat input but got {input}.");
    }

    public override string Kind => "Softmax";

    public static void Rows(ReadOnlySpan<float> x, Span<float> y, int rows, int k)
    {
        for (var r = 0; r < rows; r++)
        {
            var xi = x.Slice(r * k, k);
            var yi = y.Slice(r * k, k);
            var max = float.NegativeInfinity;
            for (var j = 0; j < k; j++) if (xi[j] > max) max = xi[j];
            var sum = 0.0;
            for (var j = 0; j < k; j++) { var e = MathF.Exp(xi[j] - max); yi[j] = e; sum += e; }
            var inv = (float)(1.0 / sum);
            for (var j = 0; j < k; j++) yi[j] *= inv;
        }
    }

    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
        => Rows(x, y, ctx.BatchSize, InputShape.Size);

    // dx_j = y_j (dy_j - Σ_i dy_i y_i)
    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        var k = InputShape.Size;
        for (var r = 0; r < ctx.BatchSize; r++)
        {
            var yi = y.Slice(r * k, k);
            var dyi = dy.Slice(r * k, k);
            var dot = 0f;
            for (var j = 0; j < k; j++) dot += dyi[j] * yi[j];
            var dxi = dx.Slice(r * k, k);
            for (var j = 0; j < k; j++) dxi[j] = yi[j] * (dyi[j] - dot);
        }
    }
}
