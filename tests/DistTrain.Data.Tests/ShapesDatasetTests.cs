using DistTrain.Data.Synthetic;

namespace DistTrain.Data.Tests;

public sealed class ShapesDatasetTests
{
    [Fact]
    public void The_same_seed_gives_the_same_images_and_another_seed_different_ones()
    {
        var a = ShapesDataset.Generate(30, 16, 3, seed: 5);
        var b = ShapesDataset.Generate(30, 16, 3, seed: 5);
        var c = ShapesDataset.Generate(30, 16, 3, seed: 6);

        Assert.True(a.Pixels.SequenceEqual(b.Pixels));
        Assert.Equal(a.Labels.ToArray(), b.Labels.ToArray());
        Assert.False(a.Pixels.SequenceEqual(c.Pixels));
    }

    [Theory]
    [InlineData(99, 1)]
    [InlineData(100, 3)]
    public void Classes_are_balanced_within_one_sample(int count, int channels)
    {
        var data = ShapesDataset.Generate(count, 12, channels, seed: 1);

        var counts = new int[3];
        foreach (var y in data.Labels) counts[y]++;
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join(",", counts));
        Assert.Equal(["triangle", "square", "circle"], data.ClassNames);
        Assert.Equal([channels, 12, 12], data.SampleShape.ToArray());
    }

    [Fact]
    public void Labels_are_not_in_a_fixed_rotation()
    {
        var data = ShapesDataset.Generate(60, 8, 1, seed: 2);

        var periodic = true;
        for (var i = 0; i < data.Count; i++) periodic &= data.Label(i) == i % 3;
        Assert.False(periodic);
    }

    [Fact]
    public void Every_image_is_different_and_shows_a_shape_against_its_background()
    {
        var data = ShapesDataset.Generate(90, 20, 1, seed: 3);

        var seen = new HashSet<string>();
        for (var i = 0; i < data.Count; i++)
        {
            var image = data.Image(i);
            Assert.True(seen.Add(Convert.ToBase64String(image)), $"image {i} repeats an earlier one");
            // foreground and background differ by ≥ 0.35 (89 levels); noise only widens the range
            Assert.True(image.ToArray().Max() - image.ToArray().Min() >= 80, $"image {i} has too little contrast");
        }
    }

    [Fact]
    public void Same_shape_images_differ_in_position_size_or_rotation()
    {
        var data = ShapesDataset.Generate(30, 16, 1, seed: 4);
        var first = new int[3];
        Array.Fill(first, -1);
        var differ = 0;
        for (var i = 0; i < data.Count; i++)
        {
            var y = data.Label(i);
            if (first[y] < 0) { first[y] = i; continue; }
            // compare binarised masks, so intensity and noise alone do not count
            if (!Mask(data.Image(i)).SequenceEqual(Mask(data.Image(first[y])))) differ++;
        }
        Assert.Equal(data.Count - 3, differ);

        static bool[] Mask(ReadOnlySpan<byte> image)
        {
            var arr = image.ToArray();
            var mid = (arr.Max() + arr.Min()) / 2;
            return arr.Select(b => b > mid).ToArray();
        }
    }

    [Fact]
    public void An_axis_aligned_square_covers_exactly_its_pixels()
    {
        // circumradius 2√2 at 45°: corners at (4 ± 2, 4 ± 2), i.e. pixels 2..5 in both directions
        var coverage = new float[8 * 8];

        ShapesDataset.Rasterize(ShapesDataset.Square, 4, 4, 2 * MathF.Sqrt(2), MathF.PI / 4, 8, coverage, new float[8]);

        for (var y = 0; y < 8; y++)
            for (var x = 0; x < 8; x++)
                Assert.Equal(x is >= 2 and <= 5 && y is >= 2 and <= 5 ? 1f : 0f, coverage[y * 8 + x]);
    }

    [Theory]
    [InlineData(0, 1.2990381)] // equilateral triangle: (3√3/4) r²
    [InlineData(1, 2.0)]       // square: 2 r²
    [InlineData(2, Math.PI)]   // circle: π r²
    public void Rasterised_area_matches_the_geometric_area(int shape, double areaOverRadiusSquared)
    {
        const int size = 40;
        const float radius = 12.3f;
        var coverage = new float[size * size];

        ShapesDataset.Rasterize(shape, 19.7f, 20.2f, radius, 0.4f, size, coverage, new float[8]);

        var area = coverage.Sum();
        Assert.InRange(area / (areaOverRadiusSquared * radius * radius), 0.99, 1.01);
    }

    [Fact]
    public void Invalid_arguments_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDataset.Generate(10, 4, 1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDataset.Generate(10, 16, 2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShapesDataset.Generate(0, 16, 1, 0));
    }
}
