using DistTrain.Core.Randomness;
using DistTrain.Data.Images;

namespace DistTrain.Data.Synthetic;

/// <summary>
/// Synthetic images of a triangle, a square or a circle (labels 0, 1, 2), each at a random position,
/// rotation and colour on a random background, with Gaussian pixel noise (σ = 0.05); anti-aliased by 4×4
/// supersampling. Every shape covers 10–24 % of the image whatever its class (so size is no cue) and
/// lies inside it; foreground and background differ by 0.35–0.65 per channel, either may be the
/// brighter. A multilayer perceptron on raw pixels stays near 50 % (position, rotation and polarity
/// vary); a small CNN should learn it. Every value is a pure function of (seed, sample index), so a
/// dataset is reproducible from its seed.
/// </summary>
public static class ShapesDataset
{
    public static IReadOnlyList<string> ClassNames { get; } = ["triangle", "square", "circle"];

    internal const int Triangle = 0, Square = 1, Circle = 2;
    private const int Supersample = 4;
    private const float NoiseStd = 0.05f;
    // Shape area as a fraction of the image: at 16×16 the smallest circle is ~5.7 px across.
    private const float MinArea = 0.10f, MaxArea = 0.24f;

    /// <param name="count">Number of images; classes are balanced (counts differ by at most one).</param>
    /// <param name="size">Image height and width in pixels (≥ 8).</param>
    /// <param name="channels">1 (grayscale) or 3 (RGB).</param>
    public static ImageDataset Generate(int count, int size, int channels, ulong seed)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "need at least one image");
        if (size < 8 || size > 1024) throw new ArgumentOutOfRangeException(nameof(size), size, "image size must be in 8..1024 pixels");
        if (channels != 1 && channels != 3) throw new ArgumentOutOfRangeException(nameof(channels), channels, "use 1 (grayscale) or 3 (RGB) channels");

        // Balanced labels in a seeded order.
        var labels = new int[count];
        for (var i = 0; i < count; i++) labels[i] = i % 3;
        var rng = new SplitMix64(CounterRandom.Hash(seed, 0x5A1E5UL));
        for (var i = count - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (labels[i], labels[j]) = (labels[j], labels[i]);
        }

        var plane = size * size;
        var pixels = new byte[(long)count * channels * plane];
        var coverage = new float[plane];
        var vertices = new float[8];
        for (var i = 0; i < count; i++)
        {
            var key = CounterRandom.Hash(seed, 0x5AA9E5UL, (ulong)i);
            Render(labels[i], size, key, coverage, vertices);
            var image = pixels.AsSpan(i * channels * plane, channels * plane);
            for (var c = 0; c < channels; c++)
            {
                var background = U(key, 10 + (ulong)c);
                var foreground = background + 0.35f + 0.3f * U(key, 20 + (ulong)c);
                if (foreground > 1) foreground -= 1; // wraps below the background: still ≥ 0.35 away
                var dst = image.Slice(c * plane, plane);
                for (var p = 0; p < plane; p++)
                {
                    var v = background + coverage[p] * (foreground - background) + NoiseStd * Gaussian(key, (ulong)(c * plane + p));
                    dst[p] = (byte)(Math.Clamp(v, 0f, 1f) * 255f + 0.5f);
                }
            }
        }
        return new ImageDataset(pixels, count, channels, size, size, labels, ClassNames, $"shapes(count={count}, size={size}, channels={channels}, seed={seed})");
    }

    private static void Render(int shape, int size, ulong key, Span<float> coverage, Span<float> vertices)
    {
        // Area a fraction of the image; the radius follows from the shape so areas match across classes.
        var area = (MinArea + (MaxArea - MinArea) * U(key, 0)) * size * size;
        var radius = shape switch
        {
            Triangle => MathF.Sqrt(area / (0.75f * MathF.Sqrt(3f))), // equilateral, circumradius r: (3√3/4) r²
            Square => MathF.Sqrt(area / 2f),                          // circumradius r: 2 r²
            _ => MathF.Sqrt(area / MathF.PI),
        };
        var margin = Math.Min(radius + 0.5f, size * 0.5f);
        var cx = margin + (size - 2 * margin) * U(key, 1);
        var cy = margin + (size - 2 * margin) * U(key, 2);
        Rasterize(shape, cx, cy, radius, 2 * MathF.PI * U(key, 3), size, coverage, vertices);
    }

    /// <summary>
    /// Coverage (size, size): the fraction of each pixel inside the shape, from 4×4 sample points per pixel.
    /// Pixel (x, y) spans [x, x+1) × [y, y+1); the polygon's first vertex is at <paramref name="angle"/>
    /// (radians, x right, y down) on the circumcircle of <paramref name="radius"/> around (cx, cy).
    /// </summary>
    internal static void Rasterize(int shape, float cx, float cy, float radius, float angle, int size, Span<float> coverage, Span<float> vertices)
    {
        var sides = shape == Triangle ? 3 : 4;
        for (var k = 0; k < sides; k++)
        {
            var t = angle + 2 * MathF.PI * k / sides;
            vertices[2 * k] = cx + radius * MathF.Cos(t);
            vertices[2 * k + 1] = cy + radius * MathF.Sin(t);
        }

        const float step = 1f / Supersample;
        const float weight = 1f / (Supersample * Supersample);
        var r2 = radius * radius;
        for (var y = 0; y < size; y++)
            for (var x = 0; x < size; x++)
            {
                var inside = 0;
                for (var sy = 0; sy < Supersample; sy++)
                    for (var sx = 0; sx < Supersample; sx++)
                    {
                        var px = x + (sx + 0.5f) * step;
                        var py = y + (sy + 0.5f) * step;
                        bool hit;
                        if (shape == Circle)
                        {
                            var dx = px - cx;
                            var dy = py - cy;
                            hit = dx * dx + dy * dy <= r2;
                        }
                        else
                        {
                            hit = InsideConvex(vertices[..(2 * sides)], px, py);
                        }
                        if (hit) inside++;
                    }
                coverage[y * size + x] = inside * weight;
            }
    }

    /// <summary>Point-in-convex-polygon: the point is on the same side of every edge (vertices in angular order).</summary>
    private static bool InsideConvex(ReadOnlySpan<float> v, float px, float py)
    {
        var n = v.Length / 2;
        var positive = false;
        var negative = false;
        for (var k = 0; k < n; k++)
        {
            var k2 = (k + 1) % n;
            var ex = v[2 * k2] - v[2 * k];
            var ey = v[2 * k2 + 1] - v[2 * k + 1];
            var cross = ex * (py - v[2 * k + 1]) - ey * (px - v[2 * k]);
            if (cross > 0) positive = true;
            else if (cross < 0) negative = true;
            if (positive && negative) return false;
        }
        return true;
    }

    private static float U(ulong key, ulong k) => CounterRandom.ToUnitFloat(CounterRandom.Hash(key, k));

    /// <summary>Standard normal by Box–Muller from two counter draws.</summary>
    private static float Gaussian(ulong key, ulong pixel)
    {
        var h = CounterRandom.Hash(key, 0x40153UL, pixel);
        var u1 = ((h >> 40) + 1) * (1.0f / ((1 << 24) + 1)); // (0, 1]
        var u2 = ((h & 0xFFFFFF) * (1.0f / (1 << 24)));
        return MathF.Sqrt(-2f * MathF.Log(u1)) * MathF.Cos(2 * MathF.PI * u2);
    }
}
