using DistTrain.Core.Models;
using DistTrain.Data.Idx;
using DistTrain.Data.Images;

namespace DistTrain.Data.Presets;

/// <summary>
/// Fashion-MNIST (Zalando Research, MIT): 28×28 grayscale clothing images, 60000 train / 10000 test,
/// read from the idx files that `apt-get install dataset-fashion-mnist` puts in <see cref="DefaultFolder"/>.
/// </summary>
public static class FashionMnist
{
    public const string DefaultFolder = "/usr/share/datasets/fashion-mnist";

    public const int ImageSize = 28;

    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The benchmark MLP 784-256-128-10.</summary>
    public static ModelSpec Mlp { get; } = new(
        [1, ImageSize, ImageSize],
        [
            new FlattenSpec(),
            new DenseSpec(256), new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(128), new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(10, Initializer.Glorot),
        ]);

    /// <summary>The benchmark CNN: conv32-pool-conv64-pool-dropout-dense128-dense10.</summary>
    public static ModelSpec Cnn { get; } = new(
        [1, ImageSize, ImageSize],
        [
            new Conv2DSpec(32, 3, Padding: 1), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2),
            new Conv2DSpec(64, 3, Padding: 1), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2),
            new DropoutSpec(0.25f),
            new FlattenSpec(),
            new DenseSpec(128), new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(10, Initializer.Glorot),
        ]);

    /// <summary>Idx file names of a split: "train-…" or "t10k-…", images then labels.</summary>
    public static (string Images, string Labels) FileNames(bool train)
    {
        var prefix = train ? "train" : "t10k";
        return ($"{prefix}-images-idx3-ubyte.gz", $"{prefix}-labels-idx1-ubyte.gz");
    }

    public static ImageDataset Load(bool train) => Load(DefaultFolder, train);

    /// <summary>
    /// Loads the train (60000) or test (10000) split from <paramref name="folder"/>; also accepts the
    /// uncompressed files (names without .gz). Pixels are scaled to [0, 1], not normalised.
    /// </summary>
    public static ImageDataset Load(string folder, bool train)
    {
        var (imagesName, labelsName) = FileNames(train);
        var imagesPath = Find(folder, imagesName);
        var labelsPath = Find(folder, labelsName);
        var (pixels, count, rows, cols) = IdxReader.ReadImages(imagesPath);
        var labels = IdxReader.ReadLabels(labelsPath);
        return new ImageDataset(pixels, count, 1, rows, cols, labels, ClassNames, $"{imagesPath} + {labelsPath}");
    }

    private static string Find(string folder, string name)
    {
        var path = Path.Combine(folder, name);
        if (File.Exists(path)) return path;
        var raw = path[..^3];
        if (File.Exists(raw)) return raw;
        throw new FileNotFoundException(
            $"Fashion-MNIST file '{path}' not found (nor '{Path.GetFileName(raw)}'). Install the dataset with " +
            $"`apt-get install dataset-fashion-mnist` (files go to {DefaultFolder}) or run `scripts/get-data.sh`, " +
            "or pass the folder that holds the idx files.", path);
    }
}
