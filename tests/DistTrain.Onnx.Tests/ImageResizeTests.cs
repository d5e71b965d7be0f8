namespace DistTrain.Onnx.Tests;

public sealed class ImageResizeTests
{
    [Fact]
    public void Resampling_to_the_same_size_copies_the_plane()
    {
        var src = new float[5 * 7];
        for (var i = 0; i < src.Length; i++) src[i] = i * 0.37f;
        var dst = new float[src.Length];
        new ImageResize(5, 7, 5, 7).Plane(src, dst, new float[5 * 7]);
        Assert.Equal(src, dst);
    }

    [Fact]
    public void Halving_a_plane_averages_each_2x2_block_with_the_triangle_filter_weights()
    {
        // 4×4 → 2×2: the filter spans 4 source pixels per axis with weights 1/8, 3/8, 3/8, 1/8 around each
        // output centre (clipped and renormalised at the border: 3/7, 3/7, 1/7 for the outermost ones).
        var src = new float[16];
        for (var i = 0; i < 16; i++) src[i] = i;
        var dst = new float[4];
        new ImageResize(4, 4, 2, 2).Plane(src, dst, new float[4 * 2]);
        double[] w = [3 / 7.0, 3 / 7.0, 1 / 7.0, 0]; // output 0 reads columns 0..2
        double expected00 = 0;
        for (var y = 0; y < 4; y++)
            for (var x = 0; x < 4; x++) expected00 += w[y] * w[x] * src[y * 4 + x];
        Assert.Equal(expected00, dst[0], 4);
        Assert.Equal(15 - expected00, dst[3], 4); // symmetric
    }

    [Fact]
    public void A_constant_plane_stays_constant_at_any_size()
    {
        var src = new float[13 * 9];
        Array.Fill(src, 0.25f);
        var dst = new float[224 * 224];
        new ImageResize(13, 9, 224, 224).Plane(src, dst, new float[13 * 224], scale: 4);
        Assert.All(dst, v => Assert.Equal(1f, v, 5));
    }
}
