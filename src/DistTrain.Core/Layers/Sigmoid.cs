using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>y = 1 / (1 + e^−x), element-wise; any shape. Backward uses y: dx = dy · y · (1 − y).</summary>
public sealed class Sigmoid : Layer
{
    public Sigmoid(string name, TensorShape input) : base(name, input, input) { }

    public override string Kind => "Sigmoid";

    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var len = ctx.BatchSize * InputShape.Size;
        for (var i = 0; i < len; i++) y[i] = 1f / (1f + MathF.Exp(-x[i]));
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        var len = ctx.BatchSize * InputShape.Size;
        for (var i = 0; i < len; i++) dx[i] = dy[i] * y[i] * (1f - y[i]);
    }
}
