using DistTrain.Core.Randomness;

namespace DistTrain.Data.Augmentation;

/// <summary>
/// Random image transforms applied per sample while training: left-right flip, top-bottom mirror,
/// horizontal shear (skew) and integer shift, each with its own probability. Draws are a pure function
/// of (seed, epoch, sample id) through <see cref="CounterRandom"/>, so a sample is transformed the same way
/// whichever worker processes it and whatever else is in its batch. Sampling is bilinear (exact when the
/// transform maps pixels onto pixels, as flips and shifts do) with zero fill outside the source image.
/// </summary>
public sealed record Augmentation
{
    /// <summary>Stream id separating augmentation draws from dropout (whose stream ids are layer indices).</summary>
    private const ulong Stream = 0xA0_6E_17_A7_10_00_00_01UL;

    private readonly float _horizontalFlip;
    private readonly float _verticalMirror;
    private readonly float _skew;
    private readonly float _skewProbability;
    private readonly int _shift;
    private readonly float _shiftProbability;

    public Augmentation(float horizontalFlip = 0, float verticalMirror = 0, float skew = 0, float skewProbability = 0, int shift = 0, float shiftProbability = 0)
    {
        HorizontalFlip = horizontalFlip;
        VerticalMirror = verticalMirror;
        Skew = skew;
        SkewProbability = skewProbability;
        Shift = shift;
        ShiftProbability = shiftProbability;
    }

    /// <summary>No transform at all.</summary>
    public static Augmentation None { get; } = new();

    /// <summary>Probability of a left-right flip.</summary>
    public float HorizontalFlip { get => _horizontalFlip; init => _horizontalFlip = Probability(value, nameof(HorizontalFlip)); }

    /// <summary>Probability of a top-bottom mirror.</summary>
    public float VerticalMirror { get => _verticalMirror; init => _verticalMirror = Probability(value, nameof(VerticalMirror)); }

    /// <summary>Largest horizontal shear factor (x' = x + s·(y − centre), s uniform in [−Skew, Skew]), e.g. 0.15.</summary>
    public float Skew
    {
        get => _skew;
        init => _skew = float.IsFinite(value) && value >= 0 && value <= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Skew), value, "shear factor must be in [0, 1]");
    }

    public float SkewProbability { get => _skewProbability; init => _skewProbability = Probability(value, nameof(SkewProbability)); }

    /// <summary>Largest shift in pixels along each axis (uniform integer in [−Shift, Shift]).</summary>
    public int Shift
    {
        get => _shift;
        init => _shift = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(Shift), value, "shift must be >= 0 pixels");
    }

    public float ShiftProbability { get => _shiftProbability; init => _shiftProbability = Probability(value, nameof(ShiftProbability)); }

    /// <summary>True when no draw can change an image.</summary>
    public bool IsIdentity => _horizontalFlip == 0 && _verticalMirror == 0 && (_skew == 0 || _skewProbability == 0) && (_shift == 0 || _shiftProbability == 0);

    /// <summary>The transform for one sample: a pure function of (seed, epoch, sample id).</summary>
    public AugmentationDraw Draw(ulong seed, int epoch, long sampleId)
    {
        var key = CounterRandom.Hash(seed, (ulong)epoch, (ulong)sampleId, Stream);
        var flip = Uniform(key, 0) < _horizontalFlip;
        var mirror = Uniform(key, 1) < _verticalMirror;
        var shear = 0f;
        if (Uniform(key, 2) < _skewProbability) shear = (2 * Uniform(key, 3) - 1) * _skew;
        int dx = 0, dy = 0;
        if (_shift > 0 && Uniform(key, 4) < _shiftProbability)
        {
            dx = (int)(Uniform(key, 5) * (2 * _shift + 1)) - _shift;
            dy = (int)(Uniform(key, 6) * (2 * _shift + 1)) - _shift;
        }
        return new AugmentationDraw(flip, mirror, shear, dx, dy);
    }

    /// <summary>
    /// Writes the transformed image into <paramref name="destination"/> as floats, mapping source bytes
    /// through <paramref name="lookup"/> (channels × 256 entries: byte value → normalised float).
    /// </summary>
    // image (C,H,W) bytes -> destination (C,H,W) floats
    public static void Apply(in AugmentationDraw draw, ReadOnlySpan<byte> image, int channels, int height, int width,
        ReadOnlySpan<float> lookup, Span<float> destination)
    {
        var plane = height * width;
        if (image.Length < channels * plane || destination.Length < channels * plane || lookup.Length < channels * 256)
            throw new ArgumentException($"Image buffers too small for ({channels}, {height}, {width}).");
        var cx = (width - 1) * 0.5f;
        var cy = (height - 1) * 0.5f;
        for (var c = 0; c < channels; c++)
        {
            var src = image.Slice(c * plane, plane);
            var dst = destination.Slice(c * plane, plane);
            var lut = lookup.Slice(c * 256, 256);
            var fill = lut[0];
            for (var y = 0; y < height; y++)
            {
                // Undo, in reverse order, shear → flip/mirror → shift: output (x, y) reads source (sx, sy).
                var v = y - cy - draw.ShiftY;
                if (draw.MirrorVertical) v = -v;
                var sy = v + cy;
                var y0 = (int)MathF.Floor(sy);
                var fy = sy - y0;
                var rowOffset = -draw.Shear * v + cx;
                for (var x = 0; x < width; x++)
                {
                    var u = x - cx - draw.ShiftX;
                    if (draw.FlipHorizontal) u = -u;
                    var sx = u + rowOffset;
                    var x0 = (int)MathF.Floor(sx);
                    var fx = sx - x0;
                    var a = Sample(src, lut, fill, x0, y0, width, height);
                    if (fx != 0) a += fx * (Sample(src, lut, fill, x0 + 1, y0, width, height) - a);
                    if (fy != 0)
                    {
                        var b = Sample(src, lut, fill, x0, y0 + 1, width, height);
                        if (fx != 0) b += fx * (Sample(src, lut, fill, x0 + 1, y0 + 1, width, height) - b);
                        a += fy * (b - a);
                    }
                    dst[y * width + x] = a;
                }
            }
        }
    }

    private static float Sample(ReadOnlySpan<byte> src, ReadOnlySpan<float> lut, float fill, int x, int y, int width, int height)
        => (uint)x < (uint)width && (uint)y < (uint)height ? lut[src[y * width + x]] : fill;

    private static float Uniform(ulong key, ulong k) => CounterRandom.ToUnitFloat(CounterRandom.Hash(key, k));

    private static float Probability(float value, string name)
        => float.IsFinite(value) && value >= 0 && value <= 1 ? value : throw new ArgumentOutOfRangeException(name, value, "probability must be in [0, 1]");
}

/// <summary>One sample's transform: flips, shear factor and shift in pixels (x right, y down).</summary>
public readonly record struct AugmentationDraw(bool FlipHorizontal, bool MirrorVertical, float Shear, int ShiftX, int ShiftY)
{
    public bool IsIdentity => !FlipHorizontal && !MirrorVertical && Shear == 0 && ShiftX == 0 && ShiftY == 0;
}
