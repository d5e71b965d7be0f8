using System.Text;
using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;

namespace DistTrain.Core.Tests;

/// <summary>
/// Central finite-difference checks of a layer's Backward against its Forward, for the scalar loss
/// L = Σ w ⊙ y with a fixed random w (so dL/dy = w). Forward runs in float; L is summed in double; the
/// step is large enough (1e-2 by default) for float rounding to stay far below the tolerance
/// |numeric − analytic| ≤ rtol·max(|numeric|, |analytic|) + atol.
/// </summary>
internal static class GradientCheck
{
    public sealed record Options
    {
        public double Eps { get; init; } = 1e-2;
        public double RelativeTolerance { get; init; } = 1e-2;
        public double AbsoluteTolerance { get; init; } = 1e-3;
        /// <summary>At most this many input (and, separately, parameter) positions are checked, chosen at random.</summary>
        public int MaxChecks { get; init; } = 400;
        public int Seed { get; init; } = 12345;
    }

    /// <summary>Binds <paramref name="layer"/> to fresh parameter/gradient buffers, initialised from <paramref name="seed"/>
    /// (biases, which initialise to zero, get small random values so their effect is exercised).</summary>
    public static (float[] Parameters, float[] Gradients) Bind(Layer layer, int seed = 1)
    {
        var p = new float[layer.ParameterCount];
        var g = new float[layer.ParameterCount];
        layer.Bind(p, g);
        layer.InitializeParameters(p, new Random(seed));
        var rng = new Random(seed + 1);
        foreach (var t in layer.ParameterTensors)
            if (t.Name == "bias")
                for (var i = 0; i < t.Length; i++) p[t.Offset + i] = (float)(rng.NextDouble() - 0.5);
        return (p, g);
    }

    public static float[] RandomArray(int length, int seed, double scale = 1.0)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (var i = 0; i < a.Length; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    /// <summary>Checks dx (unless <paramref name="checkInput"/> is false) and every parameter gradient of a bound layer.</summary>
    public static void Check(Layer layer, float[] parameters, float[] gradients, float[] x, BatchContext ctx, IGemm gemm,
        Options? options = null, bool checkInput = true)
    {
        options ??= new Options();
        var outLen = ctx.BatchSize * layer.OutputShape.Size;
        var inLen = ctx.BatchSize * layer.InputShape.Size;
        Assert.Equal(inLen, x.Length);
        var w = RandomArray(outLen, options.Seed);
        var y = new float[outLen];

        layer.Forward(ctx, x, y, gemm);
        Array.Clear(gradients);
        var dx = new float[inLen];
        layer.Backward(ctx, x, y, w, checkInput ? dx : Span<float>.Empty, gemm);
        var analyticParams = (float[])gradients.Clone();

        var failures = new StringBuilder();
        var rng = new Random(options.Seed + 7);
        if (checkInput)
            Compare("input", x, dx, failures, rng, options, () => Loss(layer, ctx, x, y, w, gemm));
        if (layer.Trainable)
            Compare("parameter", parameters, analyticParams, failures, rng, options, () => Loss(layer, ctx, x, y, w, gemm));
        else
            Assert.All(gradients, g => Assert.Equal(0f, g));
        Assert.True(failures.Length == 0, $"Gradient check of {layer} failed:\n{failures}");
    }

    private static double Loss(Layer layer, BatchContext ctx, float[] x, float[] y, float[] w, IGemm gemm)
    {
        layer.Forward(ctx, x, y, gemm);
        var sum = 0.0;
        for (var i = 0; i < y.Length; i++) sum += (double)w[i] * y[i];
        return sum;
    }

    private static void Compare(string what, float[] values, float[] analytic, StringBuilder failures, Random rng, Options o, Func<double> loss)
    {
        foreach (var i in Positions(values.Length, o.MaxChecks, rng))
        {
            var saved = values[i];
            values[i] = (float)(saved + o.Eps);
            var plus = loss();
            values[i] = (float)(saved - o.Eps);
            var minus = loss();
            values[i] = saved;
            var numeric = (plus - minus) / (2 * o.Eps);
            var a = (double)analytic[i];
            var allowed = o.RelativeTolerance * Math.Max(Math.Abs(numeric), Math.Abs(a)) + o.AbsoluteTolerance;
            if (!(Math.Abs(numeric - a) <= allowed) && failures.Length < 2000)
                failures.AppendLine($"  {what}[{i}]: numeric {numeric:G6}, analytic {a:G6}");
        }
    }

    private static IEnumerable<int> Positions(int length, int max, Random rng)
    {
        if (length <= max)
        {
            for (var i = 0; i < length; i++) yield return i;
            yield break;
        }
        for (var i = 0; i < max; i++) yield return rng.Next(length);
    }
}
