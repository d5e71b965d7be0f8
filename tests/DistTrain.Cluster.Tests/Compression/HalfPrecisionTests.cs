using System.Runtime.Serialization;
using DistTrain.Cluster.Compression;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Tests.Serialization;

namespace DistTrain.Cluster.Tests.Compression;

public class HalfPrecisionTests
{
    private static float[] RandomValues(int n, int seed, double scale)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (var i = 0; i < n; i++) v[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return v;
    }

    [Theory]
    [InlineData(GradientCompression.Fp16, 11)] // 10 stored mantissa bits: relative error <= 2^-11
    [InlineData(GradientCompression.Bf16, 8)]  // 7 stored mantissa bits: relative error <= 2^-8
    public void Encoding_rounds_to_nearest_within_half_a_unit_in_the_last_place(GradientCompression kind, int bits)
    {
        var bound = Math.Pow(2, -bits);
        foreach (var scale in new[] { 1e-3, 1.0, 1000.0 })
        {
            foreach (var v in RandomValues(20_000, 3, scale))
            {
                if (Math.Abs(v) < 1e-4 && kind == GradientCompression.Fp16) continue; // fp16 subnormals: absolute error instead
                var back = HalfPrecision.Decode(HalfPrecision.Encode(v, kind), kind);
                var rel = Math.Abs(back - v) / Math.Abs(v);
                Assert.True(rel <= bound * (1 + 1e-6), $"{kind}: {v} came back as {back} (relative error {rel:E2} > {bound:E2})");
            }
        }
        // Exactly representable values come back bit for bit.
        foreach (var v in new[] { 0f, -0f, 1f, -2.5f, 0.125f, 1024f })
            Assert.Equal(BitConverter.SingleToInt32Bits(v), BitConverter.SingleToInt32Bits(HalfPrecision.Decode(HalfPrecision.Encode(v, kind), kind)));
    }

    [Fact]
    public void Fp16_decoding_matches_dotnet_half_for_all_65536_bit_patterns_in_the_vector_and_scalar_paths()
    {
        var all = new ushort[65536 + 7]; // + 7: the last values go through the scalar tail
        for (var i = 0; i < all.Length; i++) all[i] = (ushort)i;
        var decoded = new float[all.Length];
        HalfPrecision.Decode(all, decoded, GradientCompression.Fp16);
        for (var i = 0; i < all.Length; i++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf(all[i]);
            var scalar = HalfPrecision.Decode(all[i], GradientCompression.Fp16);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(decoded[i]) && float.IsNaN(scalar), $"pattern {all[i]:X4} should decode to NaN");
                continue;
            }
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(decoded[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(scalar));
        }
    }

    [Theory]
    [InlineData(GradientCompression.Fp16)]
    [InlineData(GradientCompression.Bf16)]
    public void Vector_encoding_matches_the_scalar_kernel_and_dotnet_rounding(GradientCompression kind)
    {
        // Random bit patterns over every exponent (denormals, ties, near the fp16 limit), n not a multiple of 16.
        var rng = new Random(17);
        var v = new float[100_003];
        for (var i = 0; i < v.Length; i++)
        {
            var bits = (uint)rng.NextInt64(0, 1L << 32);
            v[i] = BitConverter.UInt32BitsToSingle(bits);
            if (!float.IsFinite(v[i]) || Math.Abs(v[i]) > 1e6f || Math.Abs(v[i]) < 1e-9f) v[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-30, 18)));
        }
        v[0] = 65504f; v[1] = 65519.99f; v[2] = 65520f; v[3] = -1e5f; v[4] = 5.9604645E-08f; v[5] = 2.9802322E-08f; v[6] = 1.0009766f + 0.00048828125f;
        var sent = new ErrorFeedbackEncoder(kind).Encode(v); // first call: residual 0, so bits = encode(v)
        for (var i = 0; i < v.Length; i++)
        {
            var scalar = HalfPrecision.Encode(v[i], kind);
            Assert.True(scalar == sent.Bits[i], $"{kind} {v[i]:R}: vector {sent.Bits[i]:X4}, scalar {scalar:X4}");
            if (kind == GradientCompression.Fp16 && Math.Abs(v[i]) <= HalfPrecision.Fp16Max)
            {
                var dotnet = BitConverter.HalfToUInt16Bits((Half)v[i]);
                Assert.True(dotnet == scalar, $"fp16 {v[i]:R}: ours {scalar:X4}, .NET {dotnet:X4}");
            }
        }
    }

    [Fact]
    public void Fp16_saturates_large_finite_values_and_keeps_nan_and_infinity()
    {
        Assert.Equal(HalfPrecision.Fp16Max, HalfPrecision.Decode(HalfPrecision.EncodeFp16(1e6f), GradientCompression.Fp16));
        Assert.Equal(-HalfPrecision.Fp16Max, HalfPrecision.Decode(HalfPrecision.EncodeFp16(-1e6f), GradientCompression.Fp16));
        Assert.True(float.IsNaN(HalfPrecision.Decode(HalfPrecision.EncodeFp16(float.NaN), GradientCompression.Fp16)));
        Assert.True(float.IsPositiveInfinity(HalfPrecision.Decode(HalfPrecision.EncodeFp16(float.PositiveInfinity), GradientCompression.Fp16)));
        Assert.True(float.IsNaN(HalfPrecision.Decode(HalfPrecision.EncodeBf16(float.NaN), GradientCompression.Bf16)));
        Assert.True(float.IsNegativeInfinity(HalfPrecision.Decode(HalfPrecision.EncodeBf16(float.NegativeInfinity), GradientCompression.Bf16)));
        Assert.True(float.IsFinite(HalfPrecision.Decode(HalfPrecision.EncodeBf16(float.MaxValue), GradientCompression.Bf16)));
    }

    [Theory]
    [InlineData(GradientCompression.Fp16)]
    [InlineData(GradientCompression.Bf16)]
    public void Error_feedback_keeps_the_accumulated_sum_on_the_true_sum(GradientCompression kind)
    {
        // Each step's gradient is 1 + a small part that 16 bits cannot hold next to the 1; without error
        // feedback that part is lost every step.
        const int n = 64, steps = 2000;
        var rng = new Random(5);
        var encoder = new ErrorFeedbackEncoder(kind);
        var trueSum = new double[n];
        var sentSum = new double[n];
        var naiveSum = new double[n];
        var g = new float[n];
        for (var t = 0; t < steps; t++)
        {
            for (var i = 0; i < n; i++)
            {
                g[i] = 1f + (float)(rng.NextDouble() * 2e-4);
                trueSum[i] += g[i];
                naiveSum[i] += HalfPrecision.Decode(HalfPrecision.Encode(g[i], kind), kind);
            }
            var sent = encoder.Encode(g);
            for (var i = 0; i < n; i++) sentSum[i] += HalfPrecision.Decode(sent.Bits[i], kind);
        }
        // The decoded total differs from the true total by exactly what is still in the residual:
        // bounded by one rounding step, not growing with the number of steps.
        var step = kind == GradientCompression.Fp16 ? Math.Pow(2, -10) : Math.Pow(2, -7); // ulp at 1
        for (var i = 0; i < n; i++)
        {
            Assert.True(Math.Abs(sentSum[i] - trueSum[i]) <= step, $"value {i}: error-fed sum off by {sentSum[i] - trueSum[i]:E2}");
            Assert.Equal(trueSum[i] - sentSum[i], encoder.Residual[i], 2e-3);
        }
        // Without error feedback the error grows with the steps (here about 1e-4 per step, always rounded away).
        Assert.True(Math.Abs(naiveSum[0] - trueSum[0]) > 20 * step, $"naive error {naiveSum[0] - trueSum[0]:E2} should be large");
    }

    [Fact]
    public void A_non_finite_gradient_is_sent_as_such_and_does_not_poison_the_residual()
    {
        var encoder = new ErrorFeedbackEncoder(GradientCompression.Fp16);
        encoder.Encode([1.0001f, 2f]);
        var bad = encoder.Encode([float.PositiveInfinity, float.NaN]);
        Assert.True(float.IsPositiveInfinity(HalfPrecision.Decode(bad.Bits[0], GradientCompression.Fp16)));
        Assert.True(float.IsNaN(HalfPrecision.Decode(bad.Bits[1], GradientCompression.Fp16)));
        Assert.Equal([0f, 0f], encoder.Residual.ToArray());
        var next = encoder.Encode([0.5f, 0.25f]);
        Assert.Equal(0.5f, HalfPrecision.Decode(next.Bits[0], GradientCompression.Fp16));
    }

    [Theory]
    [InlineData(GradientCompression.Fp16)]
    [InlineData(GradientCompression.Bf16)]
    public void A_compressed_gradient_serializes_in_half_the_bytes_and_round_trips(GradientCompression kind)
    {
        const int n = 235_146; // the W2 MLP
        var g = RandomValues(n, 9, 0.01);
        var full = new GradientsComputed("job", 3, 1, 2, 0, "worker-1", g, 64, 12.5, 50);
        var compressed = full with { Gradient = [], Compressed = new ErrorFeedbackEncoder(kind).Encode(g) };
        var fullBytes = TensorMessageSerializer.Encode(full);
        var halfBytes = TensorMessageSerializer.Encode(compressed);
        Assert.Equal("GH", TensorMessageSerializer.ManifestOf(compressed));
        var ratio = (double)halfBytes.Length / fullBytes.Length;
        Assert.InRange(ratio, 0.5, 0.5001);
        var back = (GradientsComputed)TensorMessageSerializer.Decode(halfBytes, "GH");
        Deep.Equal(compressed, back);
    }

    [Fact]
    public void A_compressed_gradient_with_an_unknown_kind_is_refused_naming_the_field()
    {
        var m = new GradientsComputed("job", 3, 1, 2, 0, "w", [], 1, 0, 0, new CompressedTensor(GradientCompression.Fp16, [1, 2]));
        var bytes = TensorMessageSerializer.Encode(m);
        bytes[^9] = 9; // the kind byte sits before the int32 count and the two 2-byte values
        var e = Assert.Throws<SerializationException>(() => TensorMessageSerializer.Decode(bytes, "GH"));
        Assert.Contains("Compressed.Kind", e.Message);
    }
}
