using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using DistTrain.Cluster.Jobs;

namespace DistTrain.Cluster.Compression;

/// <summary>
/// The 16-bit conversions as integer bit operations, so that 16 values go through in one Vector256 pass
/// (the scalar <c>(Half)x</c> cast cost ~25 ns a value: 6 ms per W2 gradient). fp16 rounding follows
/// F. Giesen's float_to_half_fast3_rtne (round to nearest even, denormals included) and half_to_float
/// by the magic-number method; the scalar and vector paths are the same operations, and the tests compare
/// both with .NET's <see cref="Half"/> conversions.
/// </summary>
internal static class HalfKernels
{
    private const uint SignMask = 0x8000_0000u;
    private const uint F32Infinity = 0x7F80_0000u;
    private const uint F16MaxAsF32 = 0x477F_E000u;       // 65504
    private const uint F16Overflow = (127u + 16) << 23;   // 65536: from here up only ∞/NaN remain after the clamp
    private const uint DenormMagic = ((127u - 15) + (23 - 10) + 1) << 23;
    private const uint SmallestNormal = 113u << 23;       // 2^-14
    private const uint RebiasRound = unchecked(((15u - 127) << 23) + 0xFFF);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint FloatToHalf(uint bits)
    {
        var sign = bits & SignMask;
        var f = bits ^ sign;
        if (f < F32Infinity && f > F16MaxAsF32) f = F16MaxAsF32; // saturate finite values
        uint o;
        if (f >= F16Overflow) o = f > F32Infinity ? 0x7E00u : 0x7C00u;
        else if (f < SmallestNormal) o = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(f) + BitConverter.UInt32BitsToSingle(DenormMagic)) - DenormMagic;
        else o = (f + RebiasRound + ((f >> 13) & 1u)) >> 13;
        return o | (sign >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HalfToFloat(uint h)
    {
        var o = (h & 0x7FFFu) << 13;
        var exp = o & 0x0F80_0000u;
        o += (127u - 15) << 23;
        if (exp == 0x0F80_0000u) o += (128u - 16) << 23;
        else if (exp == 0) o = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(o + (1u << 23)) - BitConverter.UInt32BitsToSingle(SmallestNormal));
        return o | ((h & 0x8000u) << 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint FloatToBf16(uint bits)
    {
        if ((bits & 0x7FFF_FFFFu) > F32Infinity) return (bits >> 16) | 0x40u; // stays a quiet NaN
        var rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
        // A finite value just below float.MaxValue would round up to infinity: truncate it instead.
        if ((bits & F32Infinity) != F32Infinity && (rounded & 0x7F80u) == 0x7F80u) rounded = bits >> 16;
        return rounded;
    }

    private static Vector256<uint> FloatToHalf(Vector256<uint> bits)
    {
        var sign = bits & Vector256.Create(SignMask);
        var f = bits ^ sign;
        var finite = Vector256.LessThan(f, Vector256.Create(F32Infinity));
        f = Vector256.ConditionalSelect(finite, Vector256.Min(f, Vector256.Create(F16MaxAsF32)), f);
        var special = Vector256.ConditionalSelect(Vector256.GreaterThan(f, Vector256.Create(F32Infinity)), Vector256.Create(0x7E00u), Vector256.Create(0x7C00u));
        var magic = Vector256.Create(DenormMagic);
        var denormal = (f.AsSingle() + magic.AsSingle()).AsUInt32() - magic;
        var normal = Vector256.ShiftRightLogical(f + Vector256.Create(RebiasRound) + (Vector256.ShiftRightLogical(f, 13) & Vector256<uint>.One), 13);
        var o = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(f, Vector256.Create(F16Overflow)), special,
            Vector256.ConditionalSelect(Vector256.LessThan(f, Vector256.Create(SmallestNormal)), denormal, normal));
        return o | Vector256.ShiftRightLogical(sign, 16);
    }

    private static Vector256<uint> HalfToFloat(Vector256<uint> h)
    {
        var o = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13);
        var exp = o & Vector256.Create(0x0F80_0000u);
        o += Vector256.Create((127u - 15) << 23);
        var infNan = o + Vector256.Create((128u - 16) << 23);
        var denormal = ((o + Vector256.Create(1u << 23)).AsSingle() - Vector256.Create(SmallestNormal).AsSingle()).AsUInt32();
        o = Vector256.ConditionalSelect(Vector256.Equals(exp, Vector256.Create(0x0F80_0000u)), infNan,
            Vector256.ConditionalSelect(Vector256.Equals(exp, Vector256<uint>.Zero), denormal, o));
        return o | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16);
    }

    private static Vector256<uint> FloatToBf16(Vector256<uint> bits)
    {
        var nan = Vector256.GreaterThan(bits & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(F32Infinity));
        var rounded = Vector256.ShiftRightLogical(bits + Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(bits, 16) & Vector256<uint>.One), 16);
        var finite = ~Vector256.Equals(bits & Vector256.Create(F32Infinity), Vector256.Create(F32Infinity));
        var overflow = finite & Vector256.Equals(rounded & Vector256.Create(0x7F80u), Vector256.Create(0x7F80u));
        var truncated = Vector256.ShiftRightLogical(bits, 16);
        rounded = Vector256.ConditionalSelect(overflow, truncated, rounded);
        return Vector256.ConditionalSelect(nan, truncated | Vector256.Create(0x40u), rounded);
    }

    /// <summary>
    /// bits[i] = encode(g[i] + r[i]); r[i] = (g[i] + r[i]) − decode(bits[i]), or 0 when that sum is not finite.
    /// </summary>
    public static void EncodeWithFeedback(ReadOnlySpan<float> g, Span<float> r, Span<ushort> bits, GradientCompression kind)
    {
        var fp16 = kind == GradientCompression.Fp16;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= g.Length - 16; i += 16)
            {
                var v0 = Vector256.Create(g.Slice(i, 8)) + Vector256.Create((ReadOnlySpan<float>)r.Slice(i, 8));
                var v1 = Vector256.Create(g.Slice(i + 8, 8)) + Vector256.Create((ReadOnlySpan<float>)r.Slice(i + 8, 8));
                Vector256<uint> q0, q1, d0, d1;
                if (fp16)
                {
                    q0 = FloatToHalf(v0.AsUInt32());
                    q1 = FloatToHalf(v1.AsUInt32());
                    d0 = HalfToFloat(q0);
                    d1 = HalfToFloat(q1);
                }
                else
                {
                    q0 = FloatToBf16(v0.AsUInt32());
                    q1 = FloatToBf16(v1.AsUInt32());
                    d0 = Vector256.ShiftLeft(q0, 16);
                    d1 = Vector256.ShiftLeft(q1, 16);
                }
                Vector256.Narrow(q0, q1).CopyTo(bits.Slice(i, 16));
                var inf = Vector256.Create(F32Infinity);
                var f0 = ~Vector256.Equals(v0.AsUInt32() & inf, inf);
                var f1 = ~Vector256.Equals(v1.AsUInt32() & inf, inf);
                Vector256.ConditionalSelect(f0.AsSingle(), v0 - d0.AsSingle(), Vector256<float>.Zero).CopyTo(r.Slice(i, 8));
                Vector256.ConditionalSelect(f1.AsSingle(), v1 - d1.AsSingle(), Vector256<float>.Zero).CopyTo(r.Slice(i + 8, 8));
            }
        }
        for (; i < g.Length; i++)
        {
            var v = g[i] + r[i];
            var vb = BitConverter.SingleToUInt32Bits(v);
            uint q, d;
            if (fp16)
            {
                q = FloatToHalf(vb);
                d = HalfToFloat(q);
            }
            else
            {
                q = FloatToBf16(vb);
                d = q << 16;
            }
            bits[i] = (ushort)q;
            r[i] = float.IsFinite(v) ? v - BitConverter.UInt32BitsToSingle(d) : 0f;
        }
    }

    public static void Decode(ReadOnlySpan<ushort> bits, Span<float> destination, GradientCompression kind)
    {
        var fp16 = kind == GradientCompression.Fp16;
        var dst = MemoryMarshal.Cast<float, uint>(destination);
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= bits.Length - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(bits.Slice(i, 16)));
                if (fp16)
                {
                    HalfToFloat(lo).CopyTo(dst.Slice(i, 8));
                    HalfToFloat(hi).CopyTo(dst.Slice(i + 8, 8));
                }
                else
                {
                    Vector256.ShiftLeft(lo, 16).CopyTo(dst.Slice(i, 8));
                    Vector256.ShiftLeft(hi, 16).CopyTo(dst.Slice(i + 8, 8));
                }
            }
        }
        for (; i < bits.Length; i++) dst[i] = fp16 ? HalfToFloat(bits[i]) : (uint)bits[i] << 16;
    }
}
