using DistTrain.Cli.Commands;
using DistTrain.Core.Models;
using SkiaSharp;

namespace DistTrain.Cli.Tests;

/// <summary>--base resnet18 / --images FOLDER: how they shape the job, and one small end-to-end run.</summary>
public class FeatureOptionsTests
{
    private static Cluster.Jobs.TrainingJob Build(params string[] args) =>
        JobOptions.Build(CommandLine.Parse("train", args, JobOptions.ValueOptions, JobOptions.Flags));

    /// <summary>Writes plain-colour PNGs: per class, images of slightly different shades of one colour.</summary>
    private static void WriteImages(string root, int perClass, params (string Class, SKColor Colour)[] classes)
    {
        foreach (var (cls, colour) in classes)
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, cls)).FullName;
            for (var i = 0; i < perClass; i++)
            {
                using var bitmap = new SKBitmap(20 + i, 16);
                bitmap.Erase(new SKColor((byte)Math.Max(0, colour.Red - 8 * i), (byte)Math.Max(0, colour.Green - 8 * i), (byte)Math.Max(0, colour.Blue - 8 * i)));
                using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(dir, $"{i}.png"), png.ToArray());
            }
        }
    }

    [Fact]
    public void Images_option_builds_a_resnet18_feature_job_with_a_head_for_the_folders_classes()
    {
        using var tmp = new TempFolder();
        WriteImages(tmp.Path, 1, ("a", SKColors.Red), ("b", SKColors.Green), ("c", SKColors.Blue), ("d", SKColors.White));

        var job = Build("--images", tmp.Path, "--seed", "3");

        Assert.Equal("images", job.Data.Kind);
        Assert.Equal(tmp.Path, job.Data.Path);
        Assert.Equal("resnet18", job.Data.Features);
        Assert.Equal([512], job.Model.InputShape);
        Assert.Equal(new DenseSpec(4, Initializer.Glorot), job.Model.Layers[^1]);
        Assert.EndsWith("-resnet18-3", job.JobId);
    }

    [Fact]
    public void Shapes_resnet_keeps_its_head_when_the_image_size_changes()
    {
        var job = Build("--preset", "shapes-resnet", "--image-size", "64");
        Assert.Equal(64, job.Data.ImageSize);
        Assert.Equal([512], job.Model.InputShape);
    }

    [Fact]
    public void Bad_base_or_raw_images_without_a_model_are_usage_errors()
    {
        using var tmp = new TempFolder();
        WriteImages(tmp.Path, 1, ("a", SKColors.Red), ("b", SKColors.Green));
        var vgg = Assert.Throws<UsageException>(() => Build("--base", "vgg")).Message;
        Assert.Contains("--base vgg: no such checkpoint file", vgg);
        Assert.Contains("resnet18, none", vgg);
        Assert.Contains("--model FILE", Assert.Throws<UsageException>(() => Build("--images", tmp.Path, "--base", "none")).Message);
        Assert.Contains("no such folder", Assert.Throws<UsageException>(() => Build("--images", tmp.File("missing"))).Message);
    }

    [Fact]
    public async Task Train_on_an_image_folder_through_the_frozen_resnet18_separates_two_colours()
    {
        using var images = new TempFolder();
        using var output = new TempFolder();
        WriteImages(images.Path, 6, ("red", new SKColor(250, 40, 40)), ("blue", new SKColor(40, 40, 250)));
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var exit = await Program.RunAsync(["train", "--images", images.Path, "--workers", "2", "--epochs", "15", "--batch-size", "4",
            "--train-fraction", "0.5", "--val-fraction", "0", "--onnx-threads", "2", "--out", output.Path], stdout, stderr);

        Assert.True(exit == 0, stderr.ToString());
        Assert.Contains("frozen resnet18: 12 images featurized", stdout.ToString());
        Assert.Contains("test accuracy 1.0000 (6 samples)", stdout.ToString());
    }
}
