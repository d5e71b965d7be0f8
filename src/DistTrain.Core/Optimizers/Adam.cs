namespace DistTrain.Core.Optimizers;

/// <summary>
/// Adam as torch.optim.Adam (L2 weight decay added to the gradient, not decoupled):
/// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= (lr / (1−β1ᵗ)) · m / (sqrt(v) / sqrt(1−β2ᵗ) + ε).
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly float[] _m;
    private readonly float[] _v;

    public Adam(OptimizerSpec spec, int parameterCount) : base(spec, parameterCount)
    {
        _m = new float[parameterCount];
        _v = new float[parameterCount];
    }

    protected override float[][] StateBuffers => [_m, _v];

    protected override void Apply(Span<float> p, ReadOnlySpan<float> grad, float lr)
    {
        var b1 = Spec.Beta1; var b2 = Spec.Beta2; var eps = Spec.EffectiveEpsilon; var wd = Spec.WeightDecay;
        var t = StepCount + 1;
        var bc1 = 1.0 - Math.Pow(b1, t);
        var bc2 = 1.0 - Math.Pow(b2, t);
        var stepSize = (float)(lr / bc1);
        var invSqrtBc2 = (float)(1.0 / Math.Sqrt(bc2));
        var m = _m.AsSpan(); var v = _v.AsSpan();
        for (var i = 0; i < p.Length; i++)
        {
            var g = grad[i] + wd * p[i];
            var mi = b1 * m[i] + (1 - b1) * g;
            var vi = b2 * v[i] + (1 - b2) * g * g;
            m[i] = mi; v[i] = vi;
            p[i] -= stepSize * mi / (MathF.Sqrt(vi) * invSqrtBc2 + eps);
        }
    }
}
