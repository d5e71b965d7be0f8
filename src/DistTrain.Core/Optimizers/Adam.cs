using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DistTrain.Core.Optimizers;

/// <summary>
/// Adam as torch.optim.Adam (L2 weight decay added to the gradient, not decoupled):
/// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= (lr / (1−β1ᵗ)) · m / (sqrt(v) / sqrt(1−β2ᵗ) + ε).
/// 1 − β and 1 − βᵗ are computed in double from the values as written, as PyTorch does.
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly float[] _m;
    private readonly float[] _v;
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly float _oneMinusBeta1;
    private readonly float _oneMinusBeta2;

    public Adam(OptimizerSpec spec, int parameterCount) : base(spec, parameterCount)
    {
        _m = new float[parameterCount];
        _v = new float[parameterCount];
        _beta1 = AsWritten(spec.Beta1);
        _beta2 = AsWritten(spec.Beta2);
        _oneMinusBeta1 = (float)(1.0 - _beta1);
        _oneMinusBeta2 = (float)(1.0 - _beta2);
    }

    protected override float[][] StateBuffers => [_m, _v];

    protected override void Apply(Span<float> p, ReadOnlySpan<float> grad, float lr, int offset)
    {
        var b1 = Spec.Beta1; var b2 = Spec.Beta2; var eps = Spec.EffectiveEpsilon; var wd = Spec.WeightDecay;
        var c1 = _oneMinusBeta1; var c2 = _oneMinusBeta2;
        var t = StepCount + 1;
        var bc1 = 1.0 - Math.Pow(_beta1, t);
        var bc2 = 1.0 - Math.Pow(_beta2, t);
        var stepSize = (float)(lr / bc1);
        var sqrtBc2 = (float)Math.Sqrt(bc2);
        var m = _m.AsSpan(offset, p.Length); var v = _v.AsSpan(offset, p.Length);
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // The scalar loop below, eight lanes at a time: the same operations in the same order (no fused
            // multiply-add, exact sqrt and division), so the result is bit-identical to it.
            ref var rp = ref MemoryMarshal.GetReference(p);
            ref var rg = ref MemoryMarshal.GetReference(grad);
            ref var rm = ref MemoryMarshal.GetReference(m);
            ref var rv = ref MemoryMarshal.GetReference(v);
            Vector256<float> vb1 = Vector256.Create(b1), vb2 = Vector256.Create(b2), vc1 = Vector256.Create(c1), vc2 = Vector256.Create(c2);
            Vector256<float> vwd = Vector256.Create(wd), vstep = Vector256.Create(stepSize), vsqrt = Vector256.Create(sqrtBc2), veps = Vector256.Create(eps);
            for (; i <= p.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var u = (nuint)i;
                var pi = Vector256.LoadUnsafe(ref rp, u);
                var g = Vector256.LoadUnsafe(ref rg, u) + vwd * pi;
                var mi = vb1 * Vector256.LoadUnsafe(ref rm, u) + vc1 * g;
                var vi = vb2 * Vector256.LoadUnsafe(ref rv, u) + vc2 * g * g;
                mi.StoreUnsafe(ref rm, u);
                vi.StoreUnsafe(ref rv, u);
                (pi - vstep * mi / (Vector256.Sqrt(vi) / vsqrt + veps)).StoreUnsafe(ref rp, u);
            }
        }
        for (; i < p.Length; i++)
        {
            var g = grad[i] + wd * p[i];
            var mi = b1 * m[i] + c1 * g;
            var vi = b2 * v[i] + c2 * g * g;
            m[i] = mi; v[i] = vi;
            p[i] -= stepSize * mi / (MathF.Sqrt(vi) / sqrtBc2 + eps);
        }
    }
}
