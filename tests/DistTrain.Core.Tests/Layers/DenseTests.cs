using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Tests.Layers;

public class DenseTests
{
    [Theory]
    [MemberData(nameof(Gemms.Names), MemberType = typeof(Gemms))]
    public void Dense_backward_matches_finite_differences(string gemm)
    {
        var layer = new Dense("dense", TensorShape.Of(9), 5);
        var (p, g) = GradientCheck.Bind(layer, seed: 2);
        var x = GradientCheck.RandomArray(4 * 9, seed: 21);
        GradientCheck.Check(layer, p, g, x, new BatchContext(4, true), Gemms.Get(gemm));
    }

    [Fact]
    public void Dense_forward_is_x_times_W_transposed_plus_bias()
    {
        var layer = new Dense("dense", TensorShape.Of(3), 2);
        var (p, _) = GradientCheck.Bind(layer);
        float[] w = [1, 2, 3, -1, 0, 4]; // (out=2, in=3)
        w.CopyTo(p, 0);
        p[6] = 0.5f;
        p[7] = -2f;
        float[] x = [1, 1, 1, 2, -1, 0.5f];
        var y = new float[4];
        layer.Forward(new BatchContext(2, false), x, y, new NaiveGemm());
        Assert.Equal([6.5f, 1f, 2f, -2f], y); // row 2: 2 − 2 + 1.5 + 0.5; −2 + 0 + 2 − 2
    }

    [Fact]
    public void Dense_backward_twice_doubles_the_parameter_gradients_and_overwrites_dx()
    {
        var layer = new Dense("dense", TensorShape.Of(6), 4);
        var (_, g) = GradientCheck.Bind(layer, seed: 3);
        var ctx = new BatchContext(3, true);
        var x = GradientCheck.RandomArray(18, seed: 31);
        var y = new float[12];
        var dy = GradientCheck.RandomArray(12, seed: 32);
        var dx1 = new float[18];
        var dx2 = new float[18];
        var gemm = Gemm.Default;
        layer.Forward(ctx, x, y, gemm);
        layer.Backward(ctx, x, y, dy, dx1, gemm);
        var once = (float[])g.Clone();
        Assert.Contains(once, v => v != 0f);
        layer.Backward(ctx, x, y, dy, dx2, gemm);
        for (var i = 0; i < g.Length; i++) Assert.Equal(2 * once[i], g[i], 5);
        Assert.Equal(dx1, dx2);
    }
}
