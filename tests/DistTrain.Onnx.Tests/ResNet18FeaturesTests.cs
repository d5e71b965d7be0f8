using DistTrain.Data.Synthetic;

namespace DistTrain.Onnx.Tests;

public sealed class ResNet18FeaturesTests
{
    private const int N = 4, Size = ResNet18Features.InputSize;

    private static byte[] SampleImages(int count = N, int size = Size, int channels = 3) =>
        ShapesDataset.Generate(count, size, channels, seed: 7).Pixels.ToArray();

    [Fact]
    public void Extractor_returns_512_finite_features_per_image_that_differ_between_images()
    {
        using var fx = new ResNet18Features(new ResNet18Options(IntraOpThreads: 2, BatchSize: N));
        var f = fx.Extract(SampleImages(), N, 3, Size, Size);

        Assert.Equal(N * 512, f.Length);
        Assert.All(f, v => Assert.True(float.IsFinite(v)));
        // Average-pooled ReLU outputs: non-negative, and not all zero for any image.
        Assert.All(f, v => Assert.True(v >= 0));
        for (var i = 0; i < N; i++) Assert.True(f.AsSpan(i * 512, 512).ToArray().Max() > 0.1f, $"image {i} has (near) zero features");
        // Different shapes give different features.
        var d01 = 0.0;
        for (var k = 0; k < 512; k++) d01 += Math.Abs(f[k] - f[512 + k]);
        Assert.True(d01 > 1, $"images 0 and 1 have almost identical features (L1 {d01})");
    }

    [Fact]
    public void Two_extractors_give_bit_identical_features_and_batch_size_does_not_change_them()
    {
        var images = SampleImages();
        float[] a, b, one;
        using (var fx = new ResNet18Features(new ResNet18Options(IntraOpThreads: 2, BatchSize: 4))) a = fx.Extract(images, N, 3, Size, Size);
        using (var fx = new ResNet18Features(new ResNet18Options(IntraOpThreads: 2, BatchSize: 4))) b = fx.Extract(images, N, 3, Size, Size);
        using (var fx = new ResNet18Features(new ResNet18Options(IntraOpThreads: 1, BatchSize: 1))) one = fx.Extract(images, N, 3, Size, Size);

        Assert.Equal(a, b);
        var worst = 0f;
        for (var i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - one[i]));
        Assert.True(worst <= 1e-5f, $"batch 4 and batch 1 differ by up to {worst}");
    }

    [Fact]
    public void Images_of_another_size_are_resampled_to_224_before_extraction()
    {
        // A 112×112 image and the same image upsampled ×2 by pixel repetition: resampling both to 224 gives
        // nearly the same input (bilinear vs nearest at the edges of each pixel), so nearly the same features.
        var small = SampleImages(1, 112);
        var big = new byte[3 * Size * Size];
        for (var c = 0; c < 3; c++)
            for (var y = 0; y < Size; y++)
                for (var x = 0; x < Size; x++)
                    big[c * Size * Size + y * Size + x] = small[c * 112 * 112 + y / 2 * 112 + x / 2];
        var other = SampleImages(2, 112).AsSpan(3 * 112 * 112).ToArray(); // a different shape at 112
        using var fx = new ResNet18Features(new ResNet18Options(IntraOpThreads: 2));
        var fs = fx.Extract(small, 1, 3, 112, 112);
        var fb = fx.Extract(big, 1, 3, Size, Size);
        var fo = fx.Extract(other, 1, 3, 112, 112);

        Assert.True(Cosine(fs, fb) > 0.95, $"cosine(resampled, pre-upsampled) = {Cosine(fs, fb)}");
        Assert.True(Cosine(fs, fb) > Cosine(fs, fo), "a resampled image is closer to another image than to itself upsampled");
    }

    [Fact]
    public void A_grey_image_gives_the_features_of_the_RGB_image_with_three_equal_channels()
    {
        var grey = SampleImages(1, Size, channels: 1);
        var rgb = new byte[3 * grey.Length];
        for (var c = 0; c < 3; c++) grey.CopyTo(rgb, c * grey.Length);
        using var fx = new ResNet18Features(new ResNet18Options(IntraOpThreads: 2));
        Assert.Equal(fx.Extract(rgb, 1, 3, Size, Size), fx.Extract(grey, 1, 1, Size, Size));
    }

    [Fact]
    public void The_preprocessing_mean_image_has_the_ImageNet_means_in_blue_green_red_order()
    {
        using var fx = new ResNet18Features(new ResNet18Options(IntraOpThreads: 1));
        var mean = fx.MeanImage();
        Assert.Equal(3 * Size * Size, mean.Length);
        // ImageNet channel means (0..255): R 123.7, G 116.3, B 103.5. The model's channel 0 is blue.
        double[] expected = [103.5, 116.3, 123.7];
        for (var c = 0; c < 3; c++)
        {
            var avg = mean.AsSpan(c * Size * Size, Size * Size).ToArray().Average();
            Assert.InRange(avg, expected[c] - 2, expected[c] + 2);
        }
    }

    [Fact]
    public void A_missing_model_file_is_reported_with_the_expected_path()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"no-such-resnet-{Guid.NewGuid():N}.onnx");
        var e = Assert.Throws<FileNotFoundException>(() => new ResNet18Features(new ResNet18Options(ModelPath: missing)));
        Assert.Contains(missing, e.Message);
        Assert.Contains("--resnet-model", e.Message);
    }

    [Fact]
    public void The_default_model_location_is_next_to_the_application()
    {
        var files = ResNet18Model.Locate();
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, ResNet18Model.ModelRelative), files.ModelPath);
        Assert.True(File.Exists(files.PreprocessPath));
    }

    [Fact]
    public void A_truncated_model_file_is_rejected_with_its_name_and_offset()
    {
        var bytes = File.ReadAllBytes(ResNet18Model.Locate().ModelPath).AsSpan(0, 1000).ToArray();
        var e = Assert.Throws<FormatException>(() => OnnxBatchDimension.FreeFirstDimension(bytes, ["Input247"], "cut.onnx"));
        Assert.Contains("cut.onnx", e.Message);
        Assert.Contains("offset", e.Message);
    }

    private static double Cosine(float[] a, float[] b)
    {
        double ab = 0, aa = 0, bb = 0;
        for (var i = 0; i < a.Length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return ab / Math.Sqrt(aa * bb);
    }
}
