using DistTrain.Core.Models;
using MathNet.Numerics.Distributions;

namespace DistTrain.Core.Layers;

/// <summary>Weight initialisation from a seeded generator (MathNet.Numerics distributions).</summary>
public static class Initialization
{
    public static void Fill(Span<float> weights, Initializer init, int fanIn, int fanOut, Random random)
    {
        switch (init)
        {
            case Initializer.He:
            {
                // Kaiming normal, gain sqrt(2) for ReLU: N(0, 2 / fanIn)
                var normal = new Normal(0, Math.Sqrt(2.0 / fanIn), random);
                for (var i = 0; i < weights.Length; i++) weights[i] = (float)normal.Sample();
                break;
            }
            case Initializer.Glorot:
            {
                // Xavier uniform: U(-a, a), a = sqrt(6 / (fanIn + fanOut))
                var a = Math.Sqrt(6.0 / (fanIn + fanOut));
                var uniform = new ContinuousUniform(-a, a, random);
                for (var i = 0; i < weights.Length; i++) weights[i] = (float)uniform.Sample();
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(init), init, "unknown initializer");
        }
    }
}
