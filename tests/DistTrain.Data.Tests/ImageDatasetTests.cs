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
