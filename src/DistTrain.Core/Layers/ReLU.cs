using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>y = max(0, x), element-wise; any shape. NaN and −0 map to +0 (y = x &gt; 0 ? x : 0).</summary>
public sealed class ReLU : Layer
{
    public ReLU(string name, TensorShape input) : base(name, input, input) { }

    public override string Kind => "ReLU";

    // x (N, …) -> y (N, …)
    public override void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm)
        => Mask(x, x, y, ctx.BatchSize * InputShape.Size);

    // dx = x > 0 ? dy : 0
    public override void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm)
    {
        if (dx.IsEmpty) return;
        Mask(x, dy, dx, ctx.BatchSize * InputShape.Size);
    }

    /// <summary>
    /// result[i] = x[i] &gt; 0 ? value[i] : 0 for i &lt; len, branch-free (the signs of pre-activations are
    /// random, so a branch mispredicts about half the time).
    /// </summary>
    private static void Mask(ReadOnlySpan<float> x, ReadOnlySpan<float> value, Span<float> result, int len)
    {
        // Slicing checks every length once, so the unchecked loads below stay inside the spans.
        x = x[..len];
        value = value[..len];
        result = result[..len];
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var rx = ref MemoryMarshal.GetReference(x);
            ref var rv = ref MemoryMarshal.GetReference(value);
            ref var rr = ref MemoryMarshal.GetReference(result);
            for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var u = (nuint)i;
                var positive = Vector256.GreaterThan(Vector256.LoadUnsafe(ref rx, u), Vector256<float>.Zero);
                (Vector256.LoadUnsafe(ref rv, u) & positive).StoreUnsafe(ref rr, u);
            }
        }
        for (; i < len; i++) result[i] = x[i] > 0f ? value[i] : 0f;
    }
}
