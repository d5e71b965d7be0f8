using DistTrain.Core.Training;

namespace DistTrain.Core.Tests.Training;

public class GradientMathFusedTests
{
    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (var i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 200 - 100);
        return a;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(1003)]
    public void Fused_passes_give_bit_identical_results_to_the_separate_ones(int n)
    {
        var a = Random(n, 1);
        var b = Random(n, 2);
        const float f = 1f / 37;

        var expected = (float[])a.Clone();
        GradientMath.Add(expected, b);
        GradientMath.Scale(expected, f);
        var fused = (float[])a.Clone();
        GradientMath.AddThenScale(fused, b, f);
        Assert.Equal(expected, fused);

        var scaled = (float[])a.Clone();
        GradientMath.Scale(scaled, f);
        var into = new float[n];
        GradientMath.ScaleInto(into, a, f);
        Assert.Equal(scaled, into);
        Assert.NotEqual(a, into);
    }

    [Fact]
    public void Fused_passes_refuse_mismatched_lengths()
    {
        Assert.Throws<ArgumentException>(() => GradientMath.AddThenScale(new float[3], new float[4], 1f));
        Assert.Throws<ArgumentException>(() => GradientMath.ScaleInto(new float[3], new float[4], 1f));
    }
}

public class SharedParameterTests
{
    [Fact]
    public void A_model_reading_shared_parameters_computes_what_a_copy_would()
    {
        var spec = new DistTrain.Core.Models.ModelSpec([3],
            [new DistTrain.Core.Models.DenseSpec(4), new DistTrain.Core.Models.ActivationSpec(DistTrain.Core.Models.ActivationKind.Tanh), new DistTrain.Core.Models.DenseSpec(2)]);
        var source = new DistTrain.Core.Models.Model(spec);
        source.InitializeParameters(5);
        var copy = new DistTrain.Core.Models.Model(spec);
        source.Parameters.CopyTo(copy.Parameters, 0);
        var shared = new DistTrain.Core.Models.Model(spec);
        shared.ShareParameters(source.Parameters);
        float[] x = [0.5f, -1f, 2f, 1f, 0f, -0.25f];
        var ctx = new DistTrain.Core.Layers.BatchContext(2, Training: true);
        Assert.Equal(copy.Forward(x, ctx).ToArray(), shared.Forward(x, ctx).ToArray());
        copy.Backward(new float[] { 1, -1, 0.5f, 2 }, ctx);
        shared.Backward(new float[] { 1, -1, 0.5f, 2 }, ctx);
        Assert.Equal(copy.Gradients, shared.Gradients);
        Assert.Same(source.Parameters, shared.Parameters);
        // Later changes to the shared buffer are seen without another call.
        source.Parameters[0] += 1f;
        Assert.NotEqual(copy.Forward(x, ctx).ToArray(), shared.Forward(x, ctx).ToArray());
        Assert.Throws<ArgumentException>(() => shared.ShareParameters(new float[3]));
    }
}
