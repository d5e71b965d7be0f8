using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Models;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Tests.Layers;

public class Conv2DTests
{
    /// <summary>Direct convolution with nested loops in double: x (N,C,H,W), w (F,C,k,k), b (F) -> (N,F,OH,OW).</summary>
    private static double[] Reference(float[] x, float[] w, float[] b, int n, int c, int h, int wd, int f, int k, int s, int p)
    {
        var oh = (h + 2 * p - k) / s + 1;
        var ow = (wd + 2 * p - k) / s + 1;
        var y = new double[n * f * oh * ow];
        for (var i = 0; i < n; i++)
        for (var o = 0; o < f; o++)
        for (var r = 0; r < oh; r++)
        for (var q = 0; q < ow; q++)
        {
            double sum = b[o];
            for (var ch = 0; ch < c; ch++)
            for (var ki = 0; ki < k; ki++)
            for (var kj = 0; kj < k; kj++)
            {
                var ih = r * s - p + ki;
                var iw = q * s - p + kj;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                sum += (double)w[((o * c + ch) * k + ki) * k + kj] * x[((i * c + ch) * h + ih) * wd + iw];
            }
            y[((i * f + o) * oh + r) * ow + q] = sum;
        }
        return y;
    }

    [Fact]
    public void Conv2D_matches_the_course_notes_kernel_example()
    {
        float[] image =
        [
            255, 255, 255, 255, 255, 255,
            255, 255, 100, 255, 255, 255,
            255, 100, 100, 100, 255, 255,
            100, 100, 100, 100, 100, 255,
            255, 255, 255, 255, 255, 255,
            255, 255, 255, 255, 255, 255,
        ];
        float[] kernel = [1, -1, 1, -1, 0, -1, 1, -1, 1];
        float[] expected =
        [
            155, -155, 155, -155,
            -155, 310, -155, 155,
            310, 155, 310, 0,
            -155, -155, -155, 0,
        ];
        var conv = new Conv2D("conv", TensorShape.Of(1, 6, 6), filters: 1, kernelSize: 3, stride: 1, padding: 0, Initializer.He);
        Assert.Equal(TensorShape.Of(1, 4, 4), conv.OutputShape);
        var (p, _) = GradientCheck.Bind(conv);
        kernel.CopyTo(p, 0);
        p[9] = 0f;
        var y = new float[16];
        conv.Forward(new BatchContext(1, false), image, y, Gemm.Default);
        Assert.Equal(expected, y);
    }

    public static TheoryData<int, int, int, int, int, int, int, int> Shapes => new()
    {
        // n, c, h, w, f, k, s, p
        { 2, 1, 6, 6, 3, 3, 1, 1 },
        { 3, 2, 7, 7, 4, 3, 2, 0 },
        { 1, 3, 5, 7, 2, 3, 1, 2 },
        { 2, 4, 9, 6, 5, 2, 2, 1 },
        { 2, 3, 8, 8, 6, 5, 3, 2 },
        { 4, 2, 4, 4, 3, 1, 1, 0 },
        { 1, 1, 3, 3, 1, 3, 1, 0 },
        { 2, 3, 9, 13, 4, 3, 1, 1 }, // stride 1, rows of 13 (one vector + an overlapping tail)
        { 1, 2, 28, 28, 3, 3, 1, 1 }, // W3's first-conv geometry: rows of 28
        { 2, 1, 28, 28, 4, 3, 1, 1 }, // one channel, stride 1 (W3's first conv): the direct path, no GEMM
        { 1, 1, 9, 13, 3, 3, 1, 1 }, // direct path, rows of 13: an overlapping last vector
        { 2, 1, 10, 8, 2, 3, 1, 1 }, // direct path, rows of exactly 8
        { 2, 1, 10, 8, 2, 5, 1, 2 }, // one channel, 5×5 kernel: the GEMM path
        { 1, 1, 12, 16, 3, 3, 1, 0 }, // direct path, no padding: rows of 14
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Conv2D_forward_matches_a_direct_nested_loop_convolution(int n, int c, int h, int w, int f, int k, int s, int p)
    {
        var conv = new Conv2D("conv", TensorShape.Of(c, h, w), f, k, s, p, Initializer.He);
        var (par, _) = GradientCheck.Bind(conv, seed: n + c + h);
        var x = GradientCheck.RandomArray(n * c * h * w, seed: 41 + f);
        var y = new float[n * conv.OutputShape.Size];
        conv.Forward(new BatchContext(n, false), x, y, Gemm.Default);
        var weights = par[..(f * c * k * k)];
        var bias = par[(f * c * k * k)..];
        var expected = Reference(x, weights, bias, n, c, h, w, f, k, s, p);
        Assert.Equal(expected.Length, y.Length);
        for (var i = 0; i < y.Length; i++) Assert.True(Math.Abs(expected[i] - y[i]) < 1e-4, $"y[{i}] = {y[i]}, reference {expected[i]}");
    }

    public static TheoryData<string, int, int, int, int, int, int, int, int> GradientCases()
    {
        var data = new TheoryData<string, int, int, int, int, int, int, int, int>();
        foreach (var gemm in new[] { "naive", "default" })
        {
            data.Add(gemm, 2, 2, 5, 5, 3, 3, 1, 1); // stride 1 pad 1, several channels and filters
            data.Add(gemm, 2, 3, 7, 7, 2, 3, 2, 0); // stride 2 pad 0
            data.Add(gemm, 2, 2, 5, 7, 3, 3, 1, 2); // non-square 5×7, pad 2
            data.Add(gemm, 1, 3, 6, 5, 4, 3, 2, 1); // batch of 1, stride 2 pad 1
            data.Add(gemm, 2, 2, 9, 13, 3, 3, 1, 1); // stride 1, rows of 13: vector copies and adds with tails, bias sums of 117
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void Conv2D_backward_matches_finite_differences(string gemm, int n, int c, int h, int w, int f, int k, int s, int p)
    {
        var conv = new Conv2D("conv", TensorShape.Of(c, h, w), f, k, s, p, Initializer.He);
        var (par, g) = GradientCheck.Bind(conv, seed: 5);
        var x = GradientCheck.RandomArray(n * c * h * w, seed: 51);
        GradientCheck.Check(conv, par, g, x, new BatchContext(n, true), Gemms.Get(gemm));
    }

    [Fact]
    public void Conv2D_frozen_accumulates_no_parameter_gradients_but_still_back_propagates()
    {
        var conv = new Conv2D("conv", TensorShape.Of(2, 5, 5), 3, 3, 1, 1, Initializer.He) { Trainable = false };
        var (par, g) = GradientCheck.Bind(conv, seed: 6);
        var x = GradientCheck.RandomArray(2 * 50, seed: 61);
        GradientCheck.Check(conv, par, g, x, new BatchContext(2, true), Gemm.Default); // asserts g stays zero
        var dx = new float[100];
        var y = new float[2 * conv.OutputShape.Size];
        var ctx = new BatchContext(2, true);
        conv.Forward(ctx, x, y, Gemm.Default);
        conv.Backward(ctx, x, y, GradientCheck.RandomArray(y.Length, 62), dx, Gemm.Default);
        Assert.Contains(dx, v => v != 0f);
        Assert.All(g, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Conv2D_backward_twice_doubles_the_parameter_gradients_and_overwrites_dx()
    {
        var conv = new Conv2D("conv", TensorShape.Of(3, 6, 5), 4, 3, 2, 1, Initializer.He);
        var (_, g) = GradientCheck.Bind(conv, seed: 7);
        var ctx = new BatchContext(3, true);
        var x = GradientCheck.RandomArray(3 * 90, seed: 71);
        var y = new float[3 * conv.OutputShape.Size];
        var dy = GradientCheck.RandomArray(y.Length, seed: 72);
        var dx1 = new float[x.Length];
        var dx2 = new float[x.Length];
        conv.Forward(ctx, x, y, Gemm.Default);
        conv.Backward(ctx, x, y, dy, dx1, Gemm.Default);
        var once = (float[])g.Clone();
        Assert.Contains(once, v => v != 0f);
        conv.Backward(ctx, x, y, dy, dx2, Gemm.Default);
        for (var i = 0; i < g.Length; i++) Assert.True(Math.Abs(2 * once[i] - g[i]) <= 1e-4 * (1 + Math.Abs(g[i])), $"g[{i}] = {g[i]}, once {once[i]}");
        for (var i = 0; i < dx1.Length; i++) Assert.Equal(dx1[i], dx2[i], 5);
    }

    [Fact]
    public void Conv2D_stores_weights_in_pytorch_layout_and_counts_parameters()
    {
        var conv = new Conv2D("conv1", TensorShape.Of(1, 28, 28), 32, 3, 1, 1, Initializer.He);
        Assert.Equal(TensorShape.Of(32, 28, 28), conv.OutputShape);
        Assert.Equal(1 * 3 * 3 * 32 + 32, conv.ParameterCount);
        var t = conv.ParameterTensors;
        Assert.Equal("weight", t[0].Name);
        Assert.Equal([32, 1, 3, 3], t[0].Shape);
        Assert.Equal((0, 288), (t[0].Offset, t[0].Length));
        Assert.Equal("bias", t[1].Name);
        Assert.Equal([32], t[1].Shape);
        Assert.Equal((288, 32), (t[1].Offset, t[1].Length));
    }

    [Fact]
    public void Conv2D_initialises_weights_with_fan_in_of_channels_times_kernel_area_and_zero_bias()
    {
        var conv = new Conv2D("conv", TensorShape.Of(16, 10, 10), 64, 3, 1, 1, Initializer.He);
        var p = new float[conv.ParameterCount];
        conv.InitializeParameters(p, new Random(9));
        var weights = p[..(64 * 16 * 9)];
        var variance = weights.Select(v => (double)v * v).Average();
        var expected = 2.0 / (16 * 9); // He: N(0, 2 / fan_in)
        Assert.InRange(variance, expected * 0.9, expected * 1.1);
        Assert.All(p[(64 * 16 * 9)..], b => Assert.Equal(0f, b));
    }

    [Theory]
    [InlineData(1, 4, 4, 5, 1, 0)]   // kernel larger than the input
    [InlineData(1, 2, 9, 3, 1, 0)]   // height too small
    public void Conv2D_rejects_a_kernel_that_does_not_fit_and_names_the_layer(int c, int h, int w, int k, int s, int p)
    {
        var e = Assert.Throws<ArgumentException>(() => new Conv2D("conv_big", TensorShape.Of(c, h, w), 2, k, s, p, Initializer.He));
        Assert.Contains("conv_big", e.Message);
    }

    [Fact]
    public void Conv2D_rejects_a_flat_input_and_bad_hyper_parameters()
    {
        Assert.Contains("c1", Assert.Throws<ArgumentException>(() => new Conv2D("c1", TensorShape.Of(10), 2, 3, 1, 0, Initializer.He)).Message);
        Assert.Contains("stride", Assert.Throws<ArgumentException>(() => new Conv2D("c2", TensorShape.Of(1, 5, 5), 2, 3, 0, 0, Initializer.He)).Message);
        Assert.Contains("padding", Assert.Throws<ArgumentException>(() => new Conv2D("c3", TensorShape.Of(1, 5, 5), 2, 3, 1, -1, Initializer.He)).Message);
        Assert.Contains("filters", Assert.Throws<ArgumentException>(() => new Conv2D("c4", TensorShape.Of(1, 5, 5), 0, 3, 1, 0, Initializer.He)).Message);
    }

    [Fact]
    public void Conv2D_handles_a_larger_batch_after_a_smaller_one()
    {
        var conv = new Conv2D("conv", TensorShape.Of(2, 4, 4), 3, 3, 1, 1, Initializer.He);
        var (par, _) = GradientCheck.Bind(conv, seed: 8);
        var gemm = Gemm.Default;
        var small = GradientCheck.RandomArray(32, seed: 81);
        conv.Forward(new BatchContext(1, false), small, new float[conv.OutputShape.Size], gemm);
        var x = GradientCheck.RandomArray(5 * 32, seed: 82);
        var y = new float[5 * conv.OutputShape.Size];
        conv.Forward(new BatchContext(5, false), x, y, gemm);
        var expected = Reference(x, par[..54], par[54..], 5, 2, 4, 4, 3, 3, 1, 1);
        for (var i = 0; i < y.Length; i++) Assert.True(Math.Abs(expected[i] - y[i]) < 1e-4, $"y[{i}] = {y[i]}, reference {expected[i]}");
    }
}
