using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Models;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Tests.Layers;

/// <summary>
/// Conv2D's backward pass (weight and bias gradients from one GEMM per sample over the columns and a row
/// of ones; dx gathered from the column gradient a vector at a time) against a direct nested-loop
/// convolution gradient in double, on W3's two conv shapes and on the edge cases of the gather (rows of
/// exactly 8, rows needing an overlapping last vector, wide kernels, no padding, wide padding).
/// </summary>
public class Conv2DReferenceTests
{
    /// <summary>
    /// Gradients of y = conv(x; w, b) for a given dy, by the definition: x (N,C,H,W), w (F,C,k,k), dy (N,F,OH,OW)
    /// -> dW (F,C,k,k), db (F), dx (N,C,H,W).
    /// </summary>
    private static (double[] DW, double[] DB, double[] DX) ReferenceBackward(float[] x, float[] w, float[] dy,
        int n, int c, int h, int wd, int f, int k, int s, int p)
    {
        var oh = (h + 2 * p - k) / s + 1;
        var ow = (wd + 2 * p - k) / s + 1;
        var dW = new double[f * c * k * k];
        var db = new double[f];
        var dx = new double[n * c * h * wd];
        for (var i = 0; i < n; i++)
        for (var o = 0; o < f; o++)
        for (var r = 0; r < oh; r++)
        for (var q = 0; q < ow; q++)
        {
            double g = dy[((i * f + o) * oh + r) * ow + q];
            db[o] += g;
            for (var ch = 0; ch < c; ch++)
            for (var ki = 0; ki < k; ki++)
            for (var kj = 0; kj < k; kj++)
            {
                var ih = r * s - p + ki;
                var iw = q * s - p + kj;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                var wi = ((o * c + ch) * k + ki) * k + kj;
                var xi = ((i * c + ch) * h + ih) * wd + iw;
                dW[wi] += g * x[xi];
                dx[xi] += g * w[wi];
            }
        }
        return (dW, db, dx);
    }

    public static TheoryData<string, int, int, int, int, int, int, int, int, bool> Cases()
    {
        var data = new TheoryData<string, int, int, int, int, int, int, int, int, bool>();
        // name, n, c, h, w, f, k, s, p, first layer (no dx)
        data.Add("w3 conv1 as first layer", 3, 1, 28, 28, 32, 3, 1, 1, true);
        data.Add("w3 conv1 shape with dx", 2, 1, 28, 28, 32, 3, 1, 1, false);
        data.Add("one channel first layer, rows of 13 (direct path, masked tail)", 2, 1, 9, 13, 3, 3, 1, 1, true);
        data.Add("one channel first layer, rows of exactly 8 (direct path)", 2, 1, 10, 8, 2, 3, 1, 1, true);
        data.Add("one channel first layer, 5x5 kernel (GEMM path)", 2, 1, 10, 8, 2, 5, 1, 2, true);
        data.Add("one channel first layer, no padding, rows of 14 (direct path)", 1, 1, 12, 16, 3, 3, 1, 0, true);
        data.Add("w3 conv2", 2, 32, 14, 14, 64, 3, 1, 1, false);
        data.Add("rows of exactly 8", 2, 2, 5, 8, 3, 3, 1, 1, false);
        data.Add("rows of 9: last vector overlaps", 2, 3, 6, 9, 4, 3, 1, 1, false);
        data.Add("5x5 kernel, padding 2", 2, 2, 7, 11, 3, 5, 1, 2, false);
        data.Add("no padding", 2, 3, 9, 12, 2, 3, 1, 0, false);
        data.Add("padding wider than the kernel reach", 1, 2, 4, 10, 3, 3, 1, 3, false);
        data.Add("1x1 kernel", 2, 5, 3, 16, 4, 1, 1, 0, false);
        data.Add("stride 2 (scatter col2im)", 2, 3, 9, 10, 4, 3, 2, 1, false);
        data.Add("rows of 6 (scatter col2im)", 2, 2, 6, 6, 3, 3, 1, 1, false);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Conv2D_backward_matches_the_definition_and_accumulates_onto_earlier_gradients(string name,
        int n, int c, int h, int w, int f, int k, int s, int p, bool firstLayer)
    {
        var conv = new Conv2D(name, TensorShape.Of(c, h, w), f, k, s, p, Initializer.He);
        var (par, g) = GradientCheck.Bind(conv, seed: 3 + c + w);
        // A non-zero bias, so that the forward output depends on it; earlier gradients that the pass adds to.
        for (var j = f * c * k * k; j < par.Length; j++) par[j] = 0.1f * (j % 7) - 0.3f;
        var earlier = GradientCheck.RandomArray(g.Length, seed: 91);
        earlier.CopyTo(g, 0);
        var x = GradientCheck.RandomArray(n * c * h * w, seed: 92 + f);
        var ctx = new BatchContext(n, true);
        var y = new float[n * conv.OutputShape.Size];
        var dy = GradientCheck.RandomArray(y.Length, seed: 93);
        var dx = firstLayer ? [] : Enumerable.Repeat(float.NaN, x.Length).ToArray(); // dx is overwritten, whatever it held
        conv.Forward(ctx, x, y, Gemm.Default);
        conv.Backward(ctx, x, y, dy, dx, Gemm.Default);

        var weightCount = f * c * k * k;
        var (rdW, rdb, rdx) = ReferenceBackward(x, par[..weightCount], dy, n, c, h, w, f, k, s, p);
        for (var j = 0; j < weightCount; j++)
            AssertClose(earlier[j] + rdW[j], g[j], $"{name}: dW[{j}]");
        for (var o = 0; o < f; o++)
            AssertClose(earlier[weightCount + o] + rdb[o], g[weightCount + o], $"{name}: db[{o}]");
        if (!firstLayer)
            for (var j = 0; j < dx.Length; j++) AssertClose(rdx[j], dx[j], $"{name}: dx[{j}]");
    }

    [Theory]
    [MemberData(nameof(Gemms.Names), MemberType = typeof(Gemms))]
    public void Conv2D_gathered_dx_is_the_same_with_any_gemm_and_leaves_neighbouring_samples_alone(string gemmName)
    {
        // Rows of 9 (one vector and an overlapping one): sample 1's dx is written, samples 0 and 2 of a larger
        // buffer are not, because backward gets only its slice.
        var gemm = Gemms.Get(gemmName);
        var conv = new Conv2D("conv", TensorShape.Of(2, 5, 9), 3, 3, 1, 1, Initializer.He);
        var (par, _) = GradientCheck.Bind(conv, seed: 12);
        var chw = 2 * 5 * 9;
        var x = GradientCheck.RandomArray(chw, seed: 121);
        var ctx = new BatchContext(1, true);
        var y = new float[conv.OutputShape.Size];
        var dy = GradientCheck.RandomArray(y.Length, seed: 122);
        var whole = Enumerable.Repeat(7f, 3 * chw).ToArray();
        conv.Forward(ctx, x, y, gemm);
        conv.Backward(ctx, x, y, dy, whole.AsSpan(chw, chw), gemm);
        var (_, _, rdx) = ReferenceBackward(x, par[..(3 * 2 * 9)], dy, 1, 2, 5, 9, 3, 3, 1, 1);
        for (var j = 0; j < chw; j++)
        {
            Assert.Equal(7f, whole[j]);
            Assert.Equal(7f, whole[2 * chw + j]);
            AssertClose(rdx[j], whole[chw + j], $"dx[{j}]");
        }
    }

    private static void AssertClose(double expected, float actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-4 * (1 + Math.Abs(expected)), $"{what} = {actual}, reference {expected}");
}
