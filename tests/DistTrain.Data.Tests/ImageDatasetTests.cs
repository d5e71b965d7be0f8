using DistTrain.Core.Layers;
using DistTrain.Data.Images;

namespace DistTrain.Data.Tests;

public sealed class ImageDatasetTests
{
    private static readonly string[] TwoClasses = ["a", "b"];

    [Fact]
    public void CopyInputs_scales_bytes_to_unit_range_in_index_order()
    {
        // two 1×2×2 images
        byte[] pixels = [0, 51, 102, 255, 10, 20, 30, 40];
        var data = new ImageDataset(pixels, 2, 1, 2, 2, new byte[] { 1, 0 }, TwoClasses);
        var dst = new float[8];

        data.CopyInputs([1, 0], dst, BatchContext.Inference(2));

        Assert.Equal([10 / 255f, 20 / 255f, 30 / 255f, 40 / 255f, 0f, 0.2f, 0.4f, 1f], dst);
        Assert.Equal([1, 2, 2], data.SampleShape.ToArray());
        Assert.Equal(1, data.Label(0));
    }

    [Fact]
    public void Per_channel_normalisation_subtracts_the_mean_and_divides_by_the_std()
    {
        // one 2×1×2 image (two channels of two pixels)
        byte[] pixels = [255, 0, 51, 102];
        var data = new ImageDataset(pixels, 1, 2, 1, 2, new[] { 0 }, TwoClasses, mean: [0.5f, 0.2f], std: [0.25f, 0.1f]);
        var dst = new float[4];

        data.CopyInputs([0], dst, BatchContext.Inference(1));

        Assert.Equal(2f, dst[0], 5);   // (1 − 0.5) / 0.25
        Assert.Equal(-2f, dst[1], 5);  // (0 − 0.5) / 0.25
        Assert.Equal(0f, dst[2], 5);   // (0.2 − 0.2) / 0.1
        Assert.Equal(2f, dst[3], 5);   // (0.4 − 0.2) / 0.1
    }

    [Fact]
    public void An_image_count_different_from_the_label_count_is_rejected()
    {
        var e = Assert.Throws<DataFormatException>(() =>
            new ImageDataset(new byte[3 * 4], 3, 1, 2, 2, new byte[] { 0, 1 }, TwoClasses, "imgs.idx + lbls.idx"));

        Assert.StartsWith("imgs.idx + lbls.idx: image/label counts: ", e.Message);
        Assert.Contains("expected 3 labels (one per image) but found 2 labels", e.Message);
    }

    [Fact]
    public void A_pixel_buffer_of_the_wrong_length_is_rejected()
    {
        var e = Assert.Throws<DataFormatException>(() => new ImageDataset(new byte[15], 4, 1, 2, 2, new byte[4], TwoClasses, "x"));

        Assert.Contains("expected 4 images × 1 × 2 × 2 = 16 bytes but found 15 bytes", e.Message);
    }

    [Fact]
    public void A_label_outside_the_classes_is_rejected()
    {
        var e = Assert.Throws<DataFormatException>(() => new ImageDataset(new byte[8], 2, 1, 2, 2, new byte[] { 0, 2 }, TwoClasses, "x"));

        Assert.Contains("label 1: expected a class index in 0..1 but found 2", e.Message);
    }

    [Fact]
    public void Channel_statistics_use_only_the_given_rows()
    {
        // image 0: all 0; image 1: 0 and 255 halves; image 2: all 255 (excluded)
        byte[] pixels = [0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255];
        var data = new ImageDataset(pixels, 3, 1, 2, 2, new byte[3], TwoClasses);

        var (mean, std) = data.ChannelStatistics([0, 1]);

        Assert.Equal(0.25f, mean[0], 5);                       // 2 of 8 pixels are 1
        Assert.Equal(MathF.Sqrt(0.25f - 0.0625f), std[0], 5); // E[x²] − E[x]²
    }

    [Fact]
    public void WithNormalization_shares_the_pixels_and_changes_only_the_conversion()
    {
        byte[] pixels = [0, 255];
        var data = new ImageDataset(pixels, 1, 1, 1, 2, new byte[1], TwoClasses);
        var normalized = data.WithNormalization([0.5f], [0.5f]);
        var dst = new float[2];

        normalized.CopyInputs([0], dst, BatchContext.Inference(1));

        Assert.Equal([-1f, 1f], dst);
        Assert.True(normalized.Pixels == data.Pixels);
    }
}

public class ImageDatasetConversionTests
{
    [Theory]
    [InlineData(1, 28, 28, false)] // Fashion-MNIST: 784 pixels, a 16-pixel tail after the 32-pixel vectors
    [InlineData(3, 4, 7, false)]   // 28-pixel planes, shorter than one vector: the table alone
    [InlineData(3, 20, 20, true)]
    [InlineData(1, 28, 28, true)]
    public void Pixels_convert_to_exactly_the_scalar_formula(int channels, int height, int width, bool normalize)
    {
        var rng = new Random(channels * 100 + height);
        const int count = 9;
        var size = channels * height * width;
        var pixels = new byte[count * size];
        rng.NextBytes(pixels);
        for (var b = 0; b < 256 && b < pixels.Length; b++) pixels[b] = (byte)b; // every byte value at least once
        float[]? mean = normalize ? Enumerable.Range(0, channels).Select(c => 0.2f + 0.13f * c).ToArray() : null;
        float[]? std = normalize ? Enumerable.Range(0, channels).Select(c => 0.3f + 0.07f * c).ToArray() : null;
        var ds = new ImageDataset(pixels, count, channels, height, width, new int[count], ["a"], "test", mean, std);
        var ids = new[] { 4, 0, 8, 3 };
        var x = new float[ids.Length * size];
        ds.CopyInputs(ids, x, BatchContext.Inference(ids.Length));
        var plane = height * width;
        for (var i = 0; i < ids.Length; i++)
        for (var j = 0; j < size; j++)
        {
            var v = pixels[ids[i] * size + j] / 255f;
            if (normalize) v = (v - mean![j / plane]) / std![j / plane];
            Assert.Equal(BitConverter.SingleToInt32Bits(v), BitConverter.SingleToInt32Bits(x[i * size + j]));
        }
    }
}
