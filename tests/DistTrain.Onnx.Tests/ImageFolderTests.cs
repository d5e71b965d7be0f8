using DistTrain.Cluster.Jobs;
using DistTrain.Core.Layers;
using DistTrain.Data;
using SkiaSharp;

namespace DistTrain.Onnx.Tests;

public sealed class ImageFolderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("disttrain-images-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Writes a w×h image of one colour with SkiaSharp.</summary>
    private string Write(string cls, string name, SKColor colour, int w = 10, int h = 6, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, cls)).FullName;
        using var bitmap = new SKBitmap(w, h);
        bitmap.Erase(colour);
        using var data = bitmap.Encode(format, 95);
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void Sub_folders_become_classes_in_ordinal_order_and_each_file_gets_its_folders_label()
    {
        Write("red", "b.png", new SKColor(255, 0, 0));
        Write("red", "a.PNG", new SKColor(200, 0, 0));
        Write("blue", "x.jpg", new SKColor(0, 0, 255), format: SKEncodedImageFormat.Jpeg);
        Write("green", "g.png", new SKColor(0, 128, 0), w: 30, h: 50);
        File.WriteAllText(Path.Combine(_root, "red", "notes.txt"), "not an image");

        var d = ImageFolder.Load(_root, 8, 3);

        Assert.Equal(["blue", "green", "red"], d.ClassNames);
        Assert.Equal(4, d.Count);
        Assert.Equal([0, 1, 2, 2], d.Labels.ToArray());
        // Files in ordinal order within a class: a.PNG (200, 0, 0) before b.png (255, 0, 0). Plain colours survive resampling.
        Assert.Equal(200, d.Image(2)[0]);
        Assert.Equal(0, d.Image(2)[64]);
        Assert.Equal(255, d.Image(3)[0]);
        Assert.Equal(128, d.Image(1)[64 + 10]); // green plane of the 30×50 image
        Assert.InRange(d.Image(0)[128 + 5], 250, 255); // JPEG blue, lossy
    }

    [Fact]
    public void A_malformed_image_file_is_reported_by_name()
    {
        Write("a", "ok.png", SKColors.White);
        Write("b", "ok.png", SKColors.Black);
        var bad = Path.Combine(_root, "b", "broken.png");
        File.WriteAllBytes(bad, [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);

        var e = Assert.Throws<DataFormatException>(() => ImageFolder.Load(_root, 8, 3));
        Assert.Contains(bad, e.Message);
        Assert.Contains("PNG or JPEG", e.Message);
    }

    [Fact]
    public void A_truncated_PNG_is_reported_by_name()
    {
        Write("a", "ok.png", SKColors.White);
        var whole = Write("b", "cut.png", SKColors.Black, w: 64, h: 64);
        var bytes = File.ReadAllBytes(whole);
        File.WriteAllBytes(whole, bytes.AsSpan(0, bytes.Length / 2).ToArray());

        var e = Assert.Throws<DataFormatException>(() => ImageFolder.Load(_root, 8, 3));
        Assert.Contains(whole, e.Message);
    }

    [Fact]
    public void A_folder_without_class_sub_folders_is_rejected()
    {
        Write("only", "x.png", SKColors.White);
        var e = Assert.Throws<DataFormatException>(() => ImageFolder.Load(_root, 8, 3));
        Assert.Contains(_root, e.Message);
        Assert.Contains("at least 2 sub-folders", e.Message);
    }

    [Fact]
    public void The_loader_splits_an_image_folder_stratified_by_seed_and_reports_a_bad_file_as_a_FormatException()
    {
        for (var i = 0; i < 10; i++)
        {
            Write("cat", $"{i}.png", new SKColor((byte)(20 * i), 0, 0));
            Write("dog", $"{i}.png", new SKColor(0, (byte)(20 * i), 0));
        }
        var job = new TrainingJob("t", new DataSpec("images", Path: _root, ImageSize: 16, Channels: 3), Presets.ResNetHead(2),
            Core.Losses.LossKind.SoftmaxCrossEntropy, new Core.Optimizers.OptimizerSpec(Core.Optimizers.OptimizerKind.Adam, 1e-3f),
            Epochs: 1, BatchSize: 4, Seed: 5, TrainFraction: 0.6, ValidationFraction: 0.2);
        var a = new FeatureDataLoader(new PresetDataLoader()).Load(job);
        var b = new FeatureDataLoader(new PresetDataLoader()).Load(job);

        Assert.Equal((12, 4, 4), (a.Train.Count, a.Validation.Count, a.Test.Count));
        Assert.Equal(2, Enumerable.Range(0, a.Test.Count).Count(i => a.Test.Label(i) == 0)); // stratified: 2 of each class
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        var other = new FeatureDataLoader(new PresetDataLoader()).Load(job with { Seed = 6 });
        Assert.NotEqual(a.Fingerprint, other.Fingerprint);

        File.WriteAllText(Path.Combine(_root, "dog", "zz.jpg"), "text");
        var e = Assert.Throws<FormatException>(() => new FeatureDataLoader(new PresetDataLoader()).Load(job));
        Assert.Contains(Path.Combine(_root, "dog", "zz.jpg"), e.Message);
    }
}
