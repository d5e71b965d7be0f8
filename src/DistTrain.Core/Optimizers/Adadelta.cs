namespace DistTrain.Core.Optimizers;

/// <summary>
/// Adadelta as torch.optim.Adadelta: g += wd·p; E[g²] = ρ·E[g²] + (1−ρ)·g²;
/// Δ = sqrt(E[Δ²] + ε) / sqrt(E[g²] + ε) · g; E[Δ²] = ρ·E[Δ²] + (1−ρ)·Δ²; p −= lr·Δ
/// (1 − ρ computed in double from ρ as written, as PyTorch does).
/// </summary>
public sealed class Adadelta : Optimizer
{
    private readonly float[] _squareAvg;
    private readonly float[] _accDelta;
    private readonly float _oneMinusRho;

    public Adadelta(OptimizerSpec spec, int parameterCount) : base(spec, parameterCount)
    {
        _squareAvg = new float[parameterCount];
        _accDelta = new float[parameterCount];
        _oneMinusRho = (float)(1.0 - AsWritten(spec.Rho));
    }

    protected override float[][] StateBuffers => [_squareAvg, _accDelta];

    protected override void Apply(Span<float> p, ReadOnlySpan<float> grad, float lr, int offset)
    {
        var rho = Spec.Rho; var c = _oneMinusRho; var eps = Spec.EffectiveEpsilon; var wd = Spec.WeightDecay;
        var sq = _squareAvg.AsSpan(offset, p.Length); var acc = _accDelta.AsSpan(offset, p.Length);
        for (var i = 0; i < p.Length; i++)
        {
            var g = grad[i] + wd * p[i];
            var s = rho * sq[i] + c * g * g;
            sq[i] = s;
            var delta = MathF.Sqrt(acc[i] + eps) / MathF.Sqrt(s + eps) * g;
            acc[i] = rho * acc[i] + c * delta * delta;
            p[i] -= lr * delta;
        }
    }
}
