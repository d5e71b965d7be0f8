using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Tests.Optimizers;

public class LearningRateScaleTests
{
    private static float[] Values(int n, int salt)
    {
        var v = new float[n];
        for (var i = 0; i < n; i++) v[i] = MathF.Sin(i * 0.7f + salt) * (1 + i % 3);
        return v;
    }

    [Fact]
    public void Adam_step_with_learning_rate_scale_one_is_the_plain_step_bit_for_bit()
    {
        // 21 values: the vector loop and the scalar tail; three steps so the moments and bias corrections matter.
        var spec = new OptimizerSpec(OptimizerKind.Adam, 1e-3f, WeightDecay: 0.01f);
        var plain = Optimizer.Create(spec, 21);
        var scaled = Optimizer.Create(spec, 21);
        var p1 = Values(21, 0);
        var p2 = Values(21, 0);
        for (var step = 0; step < 3; step++)
        {
            var g = Values(21, step + 1);
            plain.Step(p1, g);
            scaled.Step(p2, g, 1f);
        }
        Assert.Equal(p1, p2);
        Assert.Equal(plain.StepCount, scaled.StepCount);
        Assert.Equal(plain.SaveState().Buffers, scaled.SaveState().Buffers);
    }

    [Fact]
    public void Sgd_step_with_learning_rate_scale_a_quarter_moves_a_quarter_as_far()
    {
        var sgd = Optimizer.Create(new OptimizerSpec(OptimizerKind.Sgd, 0.5f), 3);
        float[] p = [1f, -2f, 0f];
        sgd.Step(p, [4f, 8f, -2f], 0.25f);
        // lr 0.5 x 0.25 = 0.125: 1 - 0.5, -2 - 1, 0 + 0.25.
        Assert.Equal([0.5f, -3f, 0.25f], p);
        Assert.Equal(1, sgd.StepCount);
    }

    [Theory]
    [InlineData(-0.5f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Step_refuses_a_negative_or_non_finite_learning_rate_scale(float scale)
    {
        var sgd = Optimizer.Create(new OptimizerSpec(OptimizerKind.Sgd, 0.5f), 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => sgd.Step(new float[1], new float[1], scale));
        Assert.Contains("learning-rate scale", e.Message);
        Assert.Equal(0, sgd.StepCount);
    }
}
