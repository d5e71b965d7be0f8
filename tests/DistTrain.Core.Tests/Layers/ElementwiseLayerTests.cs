using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Tests.Layers;

public class ElementwiseLayerTests
{
    private static readonly IGemm Naive = new NaiveGemm();

    private static void CheckGradients(Layer layer, float[] x, int batch)
    {
        var (p, g) = GradientCheck.Bind(layer);
        GradientCheck.Check(layer, p, g, x, new BatchContext(batch, Training: true), Naive);
    }

    [Fact]
    public void ReLU_backward_matches_finite_differences_away_from_zero()
    {
        var x = GradientCheck.RandomArray(3 * 20, seed: 11, scale: 2);
        for (var i = 0; i < x.Length; i++) if (MathF.Abs(x[i]) < 0.1f) x[i] = x[i] < 0 ? -0.1f - x[i] : 0.1f + x[i];
        CheckGradients(new ReLU("relu", TensorShape.Of(20)), x, 3);
    }

    [Fact]
    public void Sigmoid_backward_matches_finite_differences()
        => CheckGradients(new Sigmoid("sig", TensorShape.Of(2, 3, 4)), GradientCheck.RandomArray(2 * 24, seed: 12, scale: 4), 2);

    [Fact]
    public void Tanh_backward_matches_finite_differences()
        => CheckGradients(new Tanh("tanh", TensorShape.Of(15)), GradientCheck.RandomArray(4 * 15, seed: 13, scale: 2), 4);

    [Fact]
    public void Softmax_backward_matches_finite_differences()
        => CheckGradients(new Softmax("softmax", TensorShape.Of(7)), GradientCheck.RandomArray(3 * 7, seed: 14, scale: 3), 3);

    [Fact]
    public void Flatten_backward_matches_finite_differences()
        => CheckGradients(new Flatten("flatten", TensorShape.Of(2, 3, 5)), GradientCheck.RandomArray(2 * 30, seed: 15), 2);

    [Fact]
    public void Sigmoid_and_Tanh_compute_the_textbook_functions()
    {
        float[] x = [-3f, -0.5f, 0f, 0.25f, 4f, -100f, 100f];
        var sig = new Sigmoid("s", TensorShape.Of(x.Length));
        var tanh = new Tanh("t", TensorShape.Of(x.Length));
        var ys = new float[x.Length];
        var yt = new float[x.Length];
        sig.Forward(new BatchContext(1, false), x, ys, Naive);
        tanh.Forward(new BatchContext(1, false), x, yt, Naive);
        for (var i = 0; i < x.Length; i++)
        {
            Assert.Equal(1.0 / (1.0 + Math.Exp(-x[i])), ys[i], 6);
            Assert.Equal(Math.Tanh(x[i]), yt[i], 6);
        }
    }

    [Fact]
    public void Flatten_keeps_row_major_order_and_the_sample_size()
    {
        var layer = new Flatten("f", TensorShape.Of(2, 2, 3));
        Assert.Equal(TensorShape.Of(12), layer.OutputShape);
        var x = new float[24];
        for (var i = 0; i < x.Length; i++) x[i] = i;
        var y = new float[24];
        layer.Forward(new BatchContext(2, false), x, y, Naive);
        Assert.Equal(x, y);
    }
}
