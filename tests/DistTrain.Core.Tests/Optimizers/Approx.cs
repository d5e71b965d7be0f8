namespace DistTrain.Core.Tests.Optimizers;

/// <summary>Element-wise comparisons that name the first differing index in the failure message.</summary>
internal static class Approx
{
    /// <summary>|actual − expected| ≤ relative·max(|actual|, |expected|) + absolute, for every element.</summary>
    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, double absolute, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: expected {expected.Length} values but got {actual.Length}.");
        for (var i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            var tolerance = relative * Math.Max(Math.Abs(e), Math.Abs(a)) + absolute;
            Assert.True(Math.Abs(a - e) <= tolerance,
                $"{what}[{i}]: expected {e:R} but got {a:R} (difference {Math.Abs(a - e):E3}, tolerance {tolerance:E3}).");
        }
    }

    public static void Equal(double expected, double actual, double relative, double absolute, string what)
    {
        var tolerance = relative * Math.Max(Math.Abs(expected), Math.Abs(actual)) + absolute;
        Assert.True(Math.Abs(actual - expected) <= tolerance,
            $"{what}: expected {expected:R} but got {actual:R} (difference {Math.Abs(actual - expected):E3}, tolerance {tolerance:E3}).");
    }

    /// <summary>Bit-for-bit equality (so NaN payloads and −0 count), naming the first differing index.</summary>
    public static void Identical(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: expected {expected.Length} values but got {actual.Length}.");
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R} but got {actual[i]:R} (not bit-identical).");
        }
    }

    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (var v in values) if (!float.IsFinite(v)) return false;
        return true;
    }
}
