using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>(N, C, H, W) -> (N, C·H·W). Row-major data is already flat, so this is a copy.</summary>
public sealed class Flatten : Layer
{
    public Flatten(string name, TensorShape input) : base(name, input, TensorShape.Of(input.Size)) { }

    public override string Kind => "Flatten";

    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
        => x[..(ctx.BatchSize * InputShape.Size)].CopyTo(y);

    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (!dx.IsEmpty) dy[..(ctx.BatchSize * InputShape.Size)].CopyTo(dx);
    }
}
