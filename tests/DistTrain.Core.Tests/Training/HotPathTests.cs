using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Randomness;
using DistTrain.Core.Tensors;
using DistTrain.Core.Tests.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Core.Tests.Training;

/// <summary>
/// The vectorised loops of the training step (ReLU, Dense bias gradient, Adam, the finiteness check) give
/// what their scalar definitions give, in the SIMD body and in the scalar remainder alike, and a training
/// step allocates nothing once its buffers exist.
/// </summary>
public sealed class HotPathTests
{
    private static float[] Random(int n, ulong seed, float scale = 1f)
    {
        var rng = new SplitMix64(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    // Lengths around the 8-lane vector width: empty, tail only, exact multiples, body + tail.
    public static TheoryData<int> Lengths => [0, 1, 7, 8, 9, 16, 23, 37];

    public static TheoryData<int> Widths => [1, 3, 7, 8, 9, 16, 23, 37];

    [Theory]
    [MemberData(nameof(Widths))]
    public void ReLU_forward_is_x_where_x_is_positive_and_plus_zero_elsewhere_including_NaN_and_minus_zero(int width)
    {
        var relu = new ReLU("relu", TensorShape.Of(width));
        const int n = 3;
        var x = Random(n * width, 1);
        float[] special = [float.NaN, -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon];
        for (var i = 0; i < x.Length; i += 2) x[i] = special[(i / 2) % special.Length];
        var y = new float[n * width + 1];
        y[^1] = 42f; // past the batch: must stay untouched
        relu.Forward(new BatchContext(n, true), x, y, Gemm.Default);
        var expected = new float[n * width + 1];
        for (var i = 0; i < x.Length; i++) expected[i] = x[i] > 0f ? x[i] : 0f;
        expected[^1] = 42f;
        Approx.Identical(expected, y, "ReLU output");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void ReLU_backward_passes_dy_where_the_input_was_positive_and_zero_elsewhere(int width)
    {
        var relu = new ReLU("relu", TensorShape.Of(width));
        const int n = 2;
        var x = Random(n * width, 2);
        if (x.Length > 3) { x[0] = float.NaN; x[1] = -0f; x[2] = 0f; }
        var dy = Random(n * width, 3);
        var dx = new float[n * width];
        Array.Fill(dx, 7f); // overwritten, not accumulated
        relu.Backward(new BatchContext(n, true), x, x, dy, dx, Gemm.Default);
        var expected = new float[n * width];
        for (var i = 0; i < x.Length; i++) expected[i] = x[i] > 0f ? dy[i] : 0f;
        Approx.Identical(expected, dx, "ReLU input gradient");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(35)]
    public void Dense_bias_gradient_accumulates_the_column_sums_of_the_output_gradient(int units)
    {
        const int n = 5, inputs = 3;
        var model = new Model(new ModelSpec([inputs], [new DenseSpec(units)]));
        model.InitializeParameters(4);
        var x = Random(n * inputs, 5);
        var dy = Random(n * units, 6);
        var ctx = new BatchContext(n, true);
        model.Forward(x, ctx);
        model.Backward(dy, ctx);
        model.Forward(x, ctx);
        model.Backward(dy, ctx); // gradients accumulate: twice the column sums
        var bias = model.Gradients.AsSpan(units * inputs, units);
        var expected = new float[units];
        for (var j = 0; j < units; j++)
        {
            var s = 0.0;
            for (var r = 0; r < n; r++) s += dy[r * units + j];
            expected[j] = (float)(2 * s);
        }
        Approx.Equal(expected, bias, 1e-6, 1e-6, "bias gradient");
    }

    [Fact]
    public void Adam_gives_bit_identical_updates_in_the_vector_body_and_in_the_scalar_tail()
    {
        // 19 = two 8-lane vectors + a 3-element tail. Element 17 (tail) repeats element 3 (vector lane), with
        // its own moments, so after any number of steps the two must be bit-identical.
        const int count = 19;
        var spec = new OptimizerSpec(OptimizerKind.Adam, 0.01f, WeightDecay: 0.05f);
        var adam = Optimizer.Create(spec, count);
        var p = Random(count, 7);
        p[17] = p[3];
        for (var step = 0; step < 5; step++)
        {
            var g = Random(count, 100 + (ulong)step, scale: 0.1f);
            g[17] = g[3];
            adam.Step(p, g);
        }
        Assert.Equal(BitConverter.SingleToInt32Bits(p[3]), BitConverter.SingleToInt32Bits(p[17]));
        Assert.NotEqual(p[3], p[4]);
    }

    [Fact]
    public void Adam_step_matches_the_documented_formula_element_by_element()
    {
        const int count = 37;
        var spec = new OptimizerSpec(OptimizerKind.Adam, 0.003f, WeightDecay: 0.01f);
        var adam = Optimizer.Create(spec, count);
        var p = Random(count, 8);
        var expected = (float[])p.Clone();
        var m = new double[count];
        var v = new double[count];
        for (var t = 1; t <= 4; t++)
        {
            var g = Random(count, 200 + (ulong)t, scale: 0.5f);
            adam.Step(p, g);
            // torch.optim.Adam in double precision: the float implementation must stay within float rounding of it.
            for (var i = 0; i < count; i++)
            {
                var gi = g[i] + 0.01 * expected[i];
                m[i] = 0.9 * m[i] + 0.1 * gi;
                v[i] = 0.999 * v[i] + 0.001 * gi * gi;
                var mHat = m[i] / (1 - Math.Pow(0.9, t));
                var vHat = v[i] / (1 - Math.Pow(0.999, t));
                expected[i] = (float)(expected[i] - 0.003 * mHat / (Math.Sqrt(vHat) + 1e-8));
            }
        }
        Approx.Equal(expected, p, 1e-5, 1e-6, "parameters after 4 Adam steps");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void AllFinite_finds_a_NaN_or_an_infinity_at_every_position(int length)
    {
        var values = Random(length, 9, scale: float.MaxValue);
        if (length > 1) { values[0] = float.Epsilon; values[^1] = -float.MaxValue; }
        Assert.True(GradientMath.AllFinite(values));
        foreach (var bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            for (var i = 0; i < length; i++)
            {
                var copy = (float[])values.Clone();
                copy[i] = bad;
                Assert.False(GradientMath.AllFinite(copy), $"{bad} at index {i} of {length} was not found");
            }
        }
    }

    [Fact]
    public void A_trainer_step_allocates_nothing_once_its_buffers_exist()
    {
        var model = new Model(new ModelSpec([2], [new DenseSpec(32), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(16),
            new ActivationSpec(ActivationKind.ReLU), new DenseSpec(3)]));
        model.InitializeParameters(3);
        var trainer = new Trainer(new GradientComputer(model, Loss.Create(LossKind.SoftmaxCrossEntropy)),
            Optimizer.Create(new OptimizerSpec(OptimizerKind.Adam, 1e-3f), model.ParameterCount), new TrainingOptions(1, 40, 1));
        var data = new BlobsDataset(200, seed: 4);
        var batches = new int[5][];
        for (var b = 0; b < batches.Length; b++) { batches[b] = new int[40]; for (var i = 0; i < 40; i++) batches[b][i] = b * 40 + i; }
        for (var s = 0; s < 200; s++) trainer.Step(data, batches[s % 5], 0);
        // A step that allocated would allocate in every window; a window without allocation shows none does.
        // (Several windows, because the runtime may allocate on this thread while it re-compiles hot methods.)
        var fewest = long.MaxValue;
        for (var window = 0; window < 5 && fewest > 0; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var s = 0; s < 20; s++) trainer.Step(data, batches[s % 5], 0);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }
}
