using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Tests.Layers;

public class MaxPool2DTests
{
    private static readonly IGemm Naive = new NaiveGemm();

    /// <summary>Distinct values spaced 0.05 apart in shuffled order: no ties, and a finite-difference step of 1e-2 never changes a window's maximum.</summary>
    private static float[] Distinct(int length, int seed)
    {
        var rng = new Random(seed);
        var v = new float[length];
        for (var i = 0; i < length; i++) v[i] = (i - length / 2) * 0.05f;
        rng.Shuffle(v);
        return v;
    }

    private static float[] Reference(float[] x, int n, int c, int h, int w, int pool, int s)
    {
        var oh = (h - pool) / s + 1;
        var ow = (w - pool) / s + 1;
        var y = new float[n * c * oh * ow];
        for (var pl = 0; pl < n * c; pl++)
        for (var r = 0; r < oh; r++)
        for (var q = 0; q < ow; q++)
        {
            var max = float.NegativeInfinity;
            for (var i = 0; i < pool; i++)
            for (var j = 0; j < pool; j++)
                max = Math.Max(max, x[pl * h * w + (r * s + i) * w + q * s + j]);
            y[(pl * oh + r) * ow + q] = max;
        }
        return y;
    }

    [Fact]
    public void MaxPool2D_matches_the_course_notes_example()
    {
        var pool = new MaxPool2D("pool", TensorShape.Of(1, 2, 2), 2, 2);
        Assert.Equal(TensorShape.Of(1, 1, 1), pool.OutputShape);
        var y = new float[1];
        pool.Forward(new BatchContext(1, false), [0f, 0f, 0f, 155f], y, Naive);
        Assert.Equal(155f, y[0]);
    }

    [Theory]
    [InlineData(2, 3, 8, 8, 2, 2)]
    [InlineData(1, 2, 7, 9, 3, 2)]
    [InlineData(3, 1, 6, 5, 2, 1)]
    [InlineData(2, 2, 7, 7, 2, 2)] // odd size: last row/column dropped
    [InlineData(1, 4, 9, 4, 3, 3)]
    public void MaxPool2D_forward_matches_a_direct_nested_loop_reference(int n, int c, int h, int w, int pool, int s)
    {
        var layer = new MaxPool2D("pool", TensorShape.Of(c, h, w), pool, s);
        Assert.Equal(TensorShape.Of(c, (h - pool) / s + 1, (w - pool) / s + 1), layer.OutputShape);
        var x = GradientCheck.RandomArray(n * c * h * w, seed: h * w + pool);
        var y = new float[n * layer.OutputShape.Size];
        layer.Forward(new BatchContext(n, false), x, y, Naive);
        Assert.Equal(Reference(x, n, c, h, w, pool, s), y);
    }

    [Theory]
    [InlineData(2, 3, 14, 14, 2, 2)] // 2×2 stride-2 vector path, OW = 7: the last block of 4 overlaps
    [InlineData(1, 2, 28, 28, 2, 2)] // OW = 14
    [InlineData(2, 2, 17, 9, 2, 2)]  // odd sizes: last row and column dropped, OW = 4
    public void MaxPool2D_2x2_stride_2_picks_the_first_maximum_of_each_window_on_ties_and_never_NaN(int n, int c, int h, int w, int pool, int s)
    {
        // Values from {0, 1, 2} give many ties; NaNs are sprinkled in. The reference is the window scan
        // in row-major order where only a strictly greater value replaces the current one.
        var layer = new MaxPool2D("pool", TensorShape.Of(c, h, w), pool, s);
        var rng = new Random(h * 31 + w);
        var x = new float[n * c * h * w];
        for (var i = 0; i < x.Length; i++) x[i] = rng.Next(10) == 0 ? float.NaN : rng.Next(3);
        var (oh, ow) = ((h - pool) / s + 1, (w - pool) / s + 1);
        var expectedY = new float[n * c * oh * ow];
        var expectedDx = new float[x.Length];
        var dy = new float[expectedY.Length];
        for (var i = 0; i < dy.Length; i++) dy[i] = i + 1;
        for (var pl = 0; pl < n * c; pl++)
        for (var r = 0; r < oh; r++)
        for (var q = 0; q < ow; q++)
        {
            var best = pl * h * w + r * s * w + q * s;
            for (var i = 0; i < pool; i++)
            for (var j = 0; j < pool; j++)
            {
                var at = pl * h * w + (r * s + i) * w + q * s + j;
                if (x[at] > x[best]) best = at;
            }
            var o = (pl * oh + r) * ow + q;
            expectedY[o] = x[best];
            expectedDx[best] += dy[o];
        }
        var y = new float[expectedY.Length];
        var ctx = new BatchContext(n, true);
        layer.Forward(ctx, x, y, Naive);
        Assert.Equal(expectedY, y);
        var dx = new float[x.Length];
        layer.Backward(ctx, x, y, dy, dx, Naive);
        Assert.Equal(expectedDx, dx);
    }

    [Theory]
    [InlineData(2, 2, 6, 6, 2, 2)]
    [InlineData(2, 3, 14, 14, 2, 2)] // vector path with an overlapping last block
    [InlineData(2, 2, 7, 7, 3, 2)] // overlapping windows
    [InlineData(1, 3, 5, 8, 2, 2)] // non-square
    [InlineData(2, 1, 7, 6, 3, 1)] // heavy overlap
    public void MaxPool2D_backward_matches_finite_differences(int n, int c, int h, int w, int pool, int s)
    {
        var layer = new MaxPool2D("pool", TensorShape.Of(c, h, w), pool, s);
        var (p, g) = GradientCheck.Bind(layer);
        GradientCheck.Check(layer, p, g, Distinct(n * c * h * w, seed: 91 + pool), new BatchContext(n, true), Naive);
    }

    [Fact]
    public void MaxPool2D_backward_accumulates_where_overlapping_windows_share_a_maximum()
    {
        // 1×3×3 with the maximum in the centre: all four 2×2 stride-1 windows pick it.
        var layer = new MaxPool2D("pool", TensorShape.Of(1, 3, 3), 2, 1);
        float[] x = [1, 2, 3, 4, 9, 5, 6, 7, 8];
        var y = new float[4];
        var ctx = new BatchContext(1, true);
        layer.Forward(ctx, x, y, Naive);
        Assert.Equal([9f, 9f, 9f, 9f], y);
        var dx = new float[9];
        layer.Backward(ctx, x, y, [1f, 2f, 3f, 4f], dx, Naive);
        Assert.Equal([0f, 0f, 0f, 0f, 10f, 0f, 0f, 0f, 0f], dx);
    }

    [Fact]
    public void MaxPool2D_rejects_a_window_larger_than_the_input_and_names_the_layer()
    {
        var e = Assert.Throws<ArgumentException>(() => new MaxPool2D("pool_9", TensorShape.Of(2, 3, 8), 4, 2));
        Assert.Contains("pool_9", e.Message);
        Assert.Contains("pool_f", Assert.Throws<ArgumentException>(() => new MaxPool2D("pool_f", TensorShape.Of(12), 2, 2)).Message);
    }
}
