using DistTrain.Data.Idx;
using DistTrain.Data.Presets;
using Xunit.Abstractions;

namespace DistTrain.Data.Tests;

/// <summary>Skipped, with the reason shown in the test output, when the Fashion-MNIST package is not installed.</summary>
public sealed class FashionMnistInstalledFactAttribute : FactAttribute
{
    public FashionMnistInstalledFactAttribute()
    {
        if (!File.Exists(Path.Combine(FashionMnist.DefaultFolder, "t10k-labels-idx1-ubyte.gz")))
            Skip = $"Fashion-MNIST not installed in {FashionMnist.DefaultFolder} (apt-get install dataset-fashion-mnist).";
    }
}

public sealed class FashionMnistTests(ITestOutputHelper output)
{
    [FashionMnistInstalledFact]
    public void The_installed_dataset_has_60000_train_and_10000_test_28x28_images_with_labels_0_to_9()
    {
        foreach (var (train, expected) in new[] { (true, 60000), (false, 10000) })
        {
            var data = FashionMnist.Load(train);

            Assert.Equal(expected, data.Count);
            Assert.Equal([1, 28, 28], data.SampleShape.ToArray());
            Assert.Equal(10, data.ClassNames.Count);
            var counts = new int[10];
            foreach (var y in data.Labels) counts[y]++; // an out-of-range label would throw here
            Assert.All(counts, c => Assert.Equal(expected / 10, c)); // Fashion-MNIST is balanced
            output.WriteLine($"{data.SourceName}: {data.Count} images");
        }
    }

    [Fact]
    public void A_missing_file_names_the_path_and_how_to_install_the_dataset()
    {
        using var dir = new TempDirectory();

        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path, train: true));

        Assert.Contains(Path.Combine(dir.Path, "train-images-idx3-ubyte.gz"), e.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("scripts/get-data.sh", e.Message);
    }

    [Fact]
    public void Load_reads_the_split_files_by_their_standard_names_gzipped_or_not()
    {
        using var dir = new TempDirectory();
        var pixels = new byte[3 * 28 * 28];
        pixels[28 * 28 + 5] = 255;
        IdxWriter.WriteImages(dir.File("t10k-images-idx3-ubyte.gz"), pixels, 3, 28, 28, gzip: true);
        IdxWriter.WriteLabels(dir.File("t10k-labels-idx1-ubyte"), [9, 0, 3]);

        var data = FashionMnist.Load(dir.Path, train: false);

        Assert.Equal(3, data.Count);
        Assert.Equal("Ankle boot", data.ClassNames[data.Label(0)]);
        Assert.Equal("T-shirt/top", data.ClassNames[data.Label(1)]);
        Assert.Equal(255, data.Image(1)[5]);
    }

    [Fact]
    public void Mismatched_image_and_label_files_are_rejected_naming_both()
    {
        using var dir = new TempDirectory();
        IdxWriter.WriteImages(dir.File("train-images-idx3-ubyte.gz"), new byte[4 * 4], 4, 2, 2, gzip: true);
        IdxWriter.WriteLabels(dir.File("train-labels-idx1-ubyte.gz"), [1, 2, 3], gzip: true);

        var e = Assert.Throws<DataFormatException>(() => FashionMnist.Load(dir.Path, train: true));

        Assert.Contains("train-images-idx3-ubyte.gz", e.Source);
        Assert.Contains("train-labels-idx1-ubyte.gz", e.Source);
        Assert.Contains("expected 4 labels (one per image) but found 3 labels", e.Message);
    }
}
