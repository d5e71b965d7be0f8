using DistTrain.Cluster.Jobs;

namespace DistTrain.Cluster.Compression;

/// <summary>
/// A gradient in a 16-bit encoding: <see cref="Bits"/> holds one IEEE half (fp16) or bfloat16 per value.
/// Travels inside <see cref="Protocol.GradientsComputed"/> at 2 bytes per value.
/// </summary>
public sealed record CompressedTensor(GradientCompression Kind, ushort[] Bits);

/// <summary>
/// float32 ↔ 16-bit conversions, round to nearest even. fp16 saturates finite values beyond ±65504 to
/// ±65504 (so a large but finite gradient never turns into an infinity the parameter server would drop);
/// NaN and ±∞ stay what they are, so a bad gradient is still recognised after decoding.
/// </summary>
public static class HalfPrecision
{
    /// <summary>Largest finite fp16 value.</summary>
    public const float Fp16Max = 65504f;

    public static ushort Encode(float v, GradientCompression kind) => kind switch
    {
        GradientCompression.Fp16 => EncodeFp16(v),
        GradientCompression.Bf16 => EncodeBf16(v),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no 16-bit encoding for this compression"),
    };

    public static float Decode(ushort bits, GradientCompression kind) => kind switch
    {
        GradientCompression.Fp16 => BitConverter.UInt32BitsToSingle(HalfKernels.HalfToFloat(bits)),
        GradientCompression.Bf16 => BitConverter.UInt32BitsToSingle((uint)bits << 16),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no 16-bit encoding for this compression"),
    };

    public static ushort EncodeFp16(float v) => (ushort)HalfKernels.FloatToHalf(BitConverter.SingleToUInt32Bits(v));

    public static ushort EncodeBf16(float v) => (ushort)HalfKernels.FloatToBf16(BitConverter.SingleToUInt32Bits(v));

    /// <summary>Decodes <paramref name="bits"/> into <paramref name="destination"/> (same length), 16 values per vector step.</summary>
    public static void Decode(ReadOnlySpan<ushort> bits, Span<float> destination, GradientCompression kind)
    {
        if (destination.Length != bits.Length)
            throw new ArgumentException($"decoding {bits.Length} 16-bit values into a buffer of {destination.Length}");
        if (kind is not (GradientCompression.Fp16 or GradientCompression.Bf16))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "no 16-bit encoding for this compression");
        HalfKernels.Decode(bits, destination, kind);
    }
}

/// <summary>
/// A worker's gradient encoder with error feedback: each value sent is the 16-bit rounding of
/// (gradient + residual), and the residual keeps what the rounding lost, so it is sent with a later
/// gradient instead of being dropped. Over many steps the decoded sum tracks the true sum to within one
/// rounding step. A non-finite value is sent as such and its residual reset, so one bad step cannot
/// poison the later ones. Buffers are allocated once per parameter count.
/// </summary>
public sealed class ErrorFeedbackEncoder
{
    private readonly GradientCompression _kind;
    private float[] _residual = [];
    private ushort[] _bits = [];

    public ErrorFeedbackEncoder(GradientCompression kind)
    {
        if (kind is not (GradientCompression.Fp16 or GradientCompression.Bf16))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "error feedback needs fp16 or bf16");
        _kind = kind;
    }

    public GradientCompression Kind => _kind;

    /// <summary>What rounding has lost so far and will be added to the next gradient.</summary>
    public ReadOnlySpan<float> Residual => _residual;

    /// <summary>
    /// Encodes gradient + residual and updates the residual. The returned tensor's buffer is reused by the
    /// next call (the caller sends it before computing again).
    /// </summary>
    public CompressedTensor Encode(ReadOnlySpan<float> gradient)
    {
        if (_residual.Length != gradient.Length)
        {
            _residual = new float[gradient.Length];
            _bits = new ushort[gradient.Length];
        }
        HalfKernels.EncodeWithFeedback(gradient, _residual, _bits, _kind);
        return new CompressedTensor(_kind, _bits);
    }

    /// <summary>Forgets the residual (a new job).</summary>
    public void Reset() => Array.Clear(_residual);

    /// <summary>Sets the residual (a resumed job's, from its checkpoint); the next gradient must have its length.</summary>
    public void RestoreResidual(float[] residual)
    {
        ArgumentNullException.ThrowIfNull(residual);
        _residual = (float[])residual.Clone();
        _bits = new ushort[residual.Length];
    }
}
