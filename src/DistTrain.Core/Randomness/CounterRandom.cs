namespace DistTrain.Core.Randomness;

/// <summary>
/// Counter-based randomness: a value is a pure function of (seed, stream, counters), so per-sample draws
/// (dropout masks, augmentation) do not depend on which worker handled a sample or in what order.
/// SplitMix64 finaliser as the mixing function.
/// </summary>
public static class CounterRandom
{
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public static ulong Hash(ulong seed, ulong a) => Mix(seed ^ Mix(a));

    public static ulong Hash(ulong seed, ulong a, ulong b) => Mix(Hash(seed, a) ^ Mix(b + 0x632BE59BD9B4E019UL));

    public static ulong Hash(ulong seed, ulong a, ulong b, ulong c) => Mix(Hash(seed, a, b) ^ Mix(c + 0x8CB92BA72F3D8DD7UL));

    /// <summary>Uniform in [0, 1) with 24 bits of precision (exact in float).</summary>
    public static float ToUnitFloat(ulong h) => (h >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 bits of precision.</summary>
    public static double ToUnitDouble(ulong h) => (h >> 11) * (1.0 / (1UL << 53));
}

/// <summary>A small seeded sequential generator (SplitMix64) for shuffles and other streams.</summary>
public struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        var z = _state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, bound) without modulo bias (Lemire's method).</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound), bound, "bound must be positive");
        var threshold = (0UL - (ulong)bound) % (ulong)bound;
        while (true)
        {
            var r = NextUInt64();
            var m = Math.BigMul(r, (ulong)bound, out var low);
            if (low >= threshold) return (int)m;
        }
    }

    public double NextDouble() => CounterRandom.ToUnitDouble(NextUInt64());

    /// <summary>A System.Random seeded from this stream, for MathNet.Numerics distributions.</summary>
    public System.Random ToSystemRandom() => new((int)(NextUInt64() & 0x7FFFFFFF));
}
