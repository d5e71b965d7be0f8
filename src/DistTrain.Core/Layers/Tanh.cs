using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>y = tanh(x), element-wise; any shape. Backward uses y: dx = dy · (1 − y²).</summary>
public sealed class Tanh : Layer
{
    public Tanh(string name, TensorShape input) : base(name, input, input) { }

    public override string Kind => "Tanh";

    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var len = ctx.BatchSize * InputShape.Size;
        for (var i = 0; i < len; i++) y[i] = MathF.Tanh(x[i]);
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        var len = ctx.BatchSize * InputShape.Size;
        for (var i = 0; i < len; i++) dx[i] = dy[i] * (1f - y[i] * y[i]);
    }
}
