using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>y = max(0, x), element-wise; any shape.</summary>
public sealed class ReLU : Layer
{
    public ReLU(string name, TensorShape input) : base(name, input, input) { }

    public override string Kind => "ReLU";

    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
    {
        var len = ctx.BatchSize * InputShape.Size;
        for (var i = 0; i < len; i++) y[i] = x[i] > 0f ? x[i] : 0f;
    }

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        var len = ctx.BatchSize * InputShape.Size;
        for (var i = 0; i < len; i++) dx[i] = x[i] > 0f ? dy[i] : 0f;
    }
}
