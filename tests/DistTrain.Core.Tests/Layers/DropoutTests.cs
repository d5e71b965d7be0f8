using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Tests.Layers;

public class DropoutTests
{
    private static readonly IGemm Naive = new NaiveGemm();

    private static float[] Ones(int n)
    {
        var a = new float[n];
        Array.Fill(a, 1f);
        return a;
    }

    private static float[] Run(Layer layer, BatchContext ctx, float[] x)
    {
        var y = new float[x.Length];
        layer.Forward(ctx, x, y, Naive);
        return y;
    }

    [Fact]
    public void Dropout_is_the_identity_at_inference()
    {
        var layer = new Dropout("drop", TensorShape.Of(50), 0.5f);
        var x = GradientCheck.RandomArray(4 * 50, seed: 1);
        var ctx = new BatchContext(4, Training: false, Seed: 3);
        Assert.Equal(x, Run(layer, ctx, x));
        var dy = GradientCheck.RandomArray(x.Length, seed: 2);
        var dx = new float[x.Length];
        layer.Backward(ctx, x, x, dy, dx, Naive);
        Assert.Equal(dy, dx);
    }

    [Fact]
    public void Dropout_keeps_about_one_minus_rate_of_the_values_scaled_by_its_inverse()
    {
        const float rate = 0.3f;
        var layer = new Dropout("drop", TensorShape.Of(1000), rate);
        var y = Run(layer, new BatchContext(100, Training: true, Seed: 42, Epoch: 1), Ones(100 * 1000));
        var kept = 0;
        foreach (var v in y)
        {
            if (v == 0f) continue;
            kept++;
            Assert.Equal(1f / (1f - rate), v, 6);
        }
        var fraction = kept / (double)y.Length;
        Assert.InRange(fraction, 0.7 - 0.01, 0.7 + 0.01); // σ ≈ 0.0015 for 100,000 draws
    }

    [Theory]
    [InlineData(0.25f, 37)]     // W3's rate; 9 vectors of 4 and a scalar tail of 1
    [InlineData(0.5f, 3136)]    // W3's dropout width
    [InlineData(0.1f, 3)]       // scalar tail only
    [InlineData(1e-7f, 64)]     // threshold 2 (rounded up)
    [InlineData(0.999999f, 64)] // almost everything dropped
    public void Dropout_keeps_exactly_the_elements_the_per_element_hash_keeps(float rate, int size)
    {
        var layer = new Dropout("drop", TensorShape.Of(size), rate);
        var ctx = new BatchContext(3, true, Seed: 5, Epoch: 1, SampleIds: [11, 0, 987654]);
        layer.Index = 6;
        var x = new float[3 * size];
        for (var i = 0; i < x.Length; i++) x[i] = i % 7 - 3.5f;
        var y = Run(layer, ctx, x);
        var scale = 1f / (1f - rate);
        for (var r = 0; r < 3; r++)
        {
            var key = DropoutMask.RowKey(ctx, r, 6);
            for (var j = 0; j < size; j++)
            {
                var expected = DropoutMask.Keep(key, j, rate) ? x[r * size + j] * scale : 0f;
                Assert.True(expected == y[r * size + j], $"rate {rate}, row {r}, element {j}: {y[r * size + j]}, expected {expected}");
            }
        }
    }

    [Fact]
    public void Dropout_gives_a_sample_the_same_mask_whatever_row_it_is_in()
    {
        var layer = new Dropout("drop", TensorShape.Of(64), 0.5f);
        var a = Run(layer, new BatchContext(4, true, Seed: 9, Epoch: 2, SampleIds: [7, 1, 2, 3]), Ones(4 * 64));
        var b = Run(layer, new BatchContext(4, true, Seed: 9, Epoch: 2, SampleIds: [4, 5, 6, 7]), Ones(4 * 64));
        var rowA = a.AsSpan(0, 64).ToArray();
        var rowB = b.AsSpan(3 * 64, 64).ToArray();
        Assert.Contains(rowA, v => v == 0f);
        Assert.Contains(rowA, v => v != 0f);
        Assert.Equal(rowA, rowB);
        Assert.NotEqual(rowA, b.AsSpan(0, 64).ToArray()); // sample 4 draws differently from sample 7
    }

    [Fact]
    public void Dropout_draws_a_new_mask_for_another_epoch_seed_or_layer()
    {
        var x = Ones(2 * 64);
        var first = new Dropout("drop", TensorShape.Of(64), 0.5f);
        var baseline = Run(first, new BatchContext(2, true, Seed: 9, Epoch: 2), x);
        Assert.Equal(baseline, Run(first, new BatchContext(2, true, Seed: 9, Epoch: 2), x));
        Assert.NotEqual(baseline, Run(first, new BatchContext(2, true, Seed: 9, Epoch: 3), x));
        Assert.NotEqual(baseline, Run(first, new BatchContext(2, true, Seed: 10, Epoch: 2), x));
        var other = new Dropout("drop2", TensorShape.Of(64), 0.5f) { Index = 5 };
        Assert.NotEqual(baseline, Run(other, new BatchContext(2, true, Seed: 9, Epoch: 2), x));
    }

    [Fact]
    public void Dropout_backward_matches_finite_differences_for_a_fixed_mask()
    {
        var layer = new Dropout("drop", TensorShape.Of(3, 4, 4), 0.4f);
        var (p, g) = GradientCheck.Bind(layer);
        var ctx = new BatchContext(2, Training: true, Seed: 5, Epoch: 1, SampleIds: [11, 12]);
        GradientCheck.Check(layer, p, g, GradientCheck.RandomArray(2 * 48, seed: 6), ctx, Naive);
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(-0.1f)]
    [InlineData(float.NaN)]
    public void Dropout_rejects_a_rate_outside_zero_to_one_and_names_the_layer(float rate)
    {
        Assert.Contains("drop_x", Assert.Throws<ArgumentException>(() => new Dropout("drop_x", TensorShape.Of(4), rate)).Message);
        Assert.Contains("sdrop_x", Assert.Throws<ArgumentException>(() => new SpatialDropout("sdrop_x", TensorShape.Of(2, 2, 2), rate)).Message);
    }

    [Fact]
    public void SpatialDropout_drops_whole_channels_and_scales_the_kept_ones()
    {
        const float rate = 0.5f;
        const int c = 32, hw = 9, n = 8;
        var layer = new SpatialDropout("sdrop", TensorShape.Of(c, 3, 3), rate);
        var x = GradientCheck.RandomArray(n * c * hw, seed: 3);
        for (var i = 0; i < x.Length; i++) if (x[i] == 0f) x[i] = 0.5f;
        var y = Run(layer, new BatchContext(n, true, Seed: 77), x);
        var dropped = 0;
        for (var pl = 0; pl < n * c; pl++)
        {
            var zero = y[pl * hw] == 0f;
            if (zero) dropped++;
            for (var j = 0; j < hw; j++)
                Assert.Equal(zero ? 0f : x[pl * hw + j] / (1f - rate), y[pl * hw + j], 6);
        }
        Assert.InRange(dropped, n * c * 0.35, n * c * 0.65); // 256 channel draws at p = 0.5
    }

    [Fact]
    public void SpatialDropout_is_the_identity_at_inference_and_deterministic_per_sample_id()
    {
        var layer = new SpatialDropout("sdrop", TensorShape.Of(16, 2, 2), 0.5f);
        var x = Ones(3 * 64);
        Assert.Equal(x, Run(layer, new BatchContext(3, false, Seed: 1), x));
        var a = Run(layer, new BatchContext(3, true, Seed: 1, SampleIds: [20, 21, 22]), x);
        var b = Run(layer, new BatchContext(3, true, Seed: 1, SampleIds: [22, 0, 1]), x);
        Assert.Equal(a.AsSpan(128, 64).ToArray(), b.AsSpan(0, 64).ToArray());
        Assert.NotEqual(a, Run(layer, new BatchContext(3, true, Seed: 1, Epoch: 1, SampleIds: [20, 21, 22]), x));
    }

    [Fact]
    public void SpatialDropout_backward_matches_finite_differences_for_a_fixed_mask()
    {
        var layer = new SpatialDropout("sdrop", TensorShape.Of(6, 3, 2), 0.5f);
        var (p, g) = GradientCheck.Bind(layer);
        var ctx = new BatchContext(2, Training: true, Seed: 8, Epoch: 0, SampleIds: [3, 4]);
        GradientCheck.Check(layer, p, g, GradientCheck.RandomArray(2 * 36, seed: 9), ctx, Naive);
    }
}
