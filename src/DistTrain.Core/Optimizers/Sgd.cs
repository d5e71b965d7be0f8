namespace DistTrain.Core.Optimizers;

/// <summary>
/// SGD with optional momentum, Nesterov and L2 weight decay, as torch.optim.SGD (dampening 0):
/// g += wd·p; buf = g on the first step, then buf = μ·buf + g; g = nesterov ? g + μ·buf : buf; p −= lr·g.
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly float[] _momentum;

    public Sgd(OptimizerSpec spec, int parameterCount) : base(spec, parameterCount)
        => _momentum = spec.Momentum > 0 ? new float[parameterCount] : [];

    protected override float[][] StateBuffers => _momentum.Length > 0 ? [_momentum] : [];

    protected override void Apply(Span<float> p, ReadOnlySpan<float> grad, float lr, int offset)
    {
        var wd = Spec.WeightDecay;
        var mu = Spec.Momentum;
        if (mu == 0f)
        {
            for (var i = 0; i < p.Length; i++) p[i] -= lr * (grad[i] + wd * p[i]);
            return;
        }
        var buf = _momentum.AsSpan(offset, p.Length);
        var first = StepCount == 0;
        var nesterov = Spec.Nesterov;
        for (var i = 0; i < p.Length; i++)
        {
            var g = grad[i] + wd * p[i];
            var b = first ? g : mu * buf[i] + g;
            buf[i] = b;
            p[i] -= lr * (nesterov ? g + mu * b : b);
        }
    }
}
