using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;
using Xunit.Sdk;

namespace DistTrain.Core.Tests.Layers;

public class GradientCheckTests
{
    /// <summary>y = x², but backward claims dy·x (half the true derivative).</summary>
    private sealed class WrongSquare(TensorShape shape) : Layer("wrong", shape, shape)
    {
        public override string Kind => "WrongSquare";

        public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
        {
            for (var i = 0; i < ctx.BatchSize * InputShape.Size; i++) y[i] = x[i] * x[i];
        }

        public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
            ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
        {
            for (var i = 0; i < ctx.BatchSize * InputShape.Size; i++) dx[i] = dy[i] * x[i];
        }
    }

    [Fact]
    public void GradientCheck_rejects_a_backward_that_disagrees_with_forward()
    {
        var layer = new WrongSquare(TensorShape.Of(6));
        var (p, g) = GradientCheck.Bind(layer);
        var x = GradientCheck.RandomArray(12, seed: 3, scale: 2);
        Assert.Throws<TrueException>(() => GradientCheck.Check(layer, p, g, x, new BatchContext(2, true), new NaiveGemm()));
    }
}
