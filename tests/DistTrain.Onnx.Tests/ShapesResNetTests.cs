using System.Diagnostics;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using Xunit.Abstractions;

namespace DistTrain.Onnx.Tests;

public sealed class ShapesResNetTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_head_on_frozen_ResNet18_features_trained_by_two_workers_classifies_the_shapes()
    {
        // The preset at 240 images (120 train / 24 validation / 96 test), rendered at 112×112 (the extractor
        // resamples them to 224; rendering at 224 took as long as the extraction) and 6 epochs, to stay well
        // under a minute on two busy cores; the preset's own 300 images at 224 and 10 epochs are in docs/resnet.md.
        var preset = Presets.Get("shapes-resnet", seed: 3);
        var job = preset with { Data = preset.Data with { Count = 240, ImageSize = 112 }, Epochs = 6, TrainFraction = 0.5, ValidationFraction = 0.1 };
        var loader = new FeatureDataLoader(new PresetDataLoader(), new ResNet18Options(IntraOpThreads: Environment.ProcessorCount));
        var clock = Stopwatch.StartNew();
        var stepsStarted = TimeSpan.Zero;
        var done = await LocalMode.RunAsync(job, workers: 2, loader, e =>
        {
            if (e is Cluster.Protocol.StepProgressed && stepsStarted == TimeSpan.Zero) stepsStarted = clock.Elapsed;
        });
        var (images, load, extraction) = loader.LastExtraction;
        output.WriteLine($"{images} images rendered in {load.TotalSeconds:F1} s, featurized in {extraction.TotalSeconds:F1} s ({extraction.TotalMilliseconds / images:F1} ms/image, " +
                         $"{images / extraction.TotalSeconds:F1} images/s); first step after {stepsStarted.TotalSeconds:F1} s, whole run {clock.Elapsed.TotalSeconds:F1} s; test accuracy {done.TestAccuracy:F4} on {done.TestLabels.Length}");

        Assert.Equal(240, images); // featurized once although two workers loaded the job
        Assert.True(done.TestAccuracy >= 0.95, $"test accuracy {done.TestAccuracy}");
    }

    [Fact]
    public void The_fingerprint_depends_on_the_model_files()
    {
        var images = new string('a', 64);
        Assert.Equal(FeatureDataLoader.Fingerprint(images, "model-1"), FeatureDataLoader.Fingerprint(images, "model-1"));
        Assert.NotEqual(FeatureDataLoader.Fingerprint(images, "model-1"), FeatureDataLoader.Fingerprint(images, "model-2"));
        Assert.NotEqual(FeatureDataLoader.Fingerprint(images, "model-1"), FeatureDataLoader.Fingerprint(new string('b', 64), "model-1"));
    }

    [Fact]
    public void A_node_with_a_different_model_file_computes_a_different_fingerprint_even_when_its_features_agree()
    {
        // A copy of the model with one extra (unknown, ignored) protobuf field appended: same network, other bytes.
        var dir = Directory.CreateTempSubdirectory("disttrain-resnet-copy-").FullName;
        try
        {
            var files = ResNet18Model.Locate();
            var modelDir = Directory.CreateDirectory(Path.Combine(dir, "ResNet18Onnx")).FullName;
            var prepDir = Directory.CreateDirectory(Path.Combine(dir, "ResNetPrepOnnx")).FullName;
            File.WriteAllBytes(Path.Combine(modelDir, "ResNet18.onnx"), [.. File.ReadAllBytes(files.ModelPath), 0xC0, 0x3E, 0x01]); // field 1000 = 1
            File.Copy(files.PreprocessPath, Path.Combine(prepDir, "ResNetPreprocess.onnx"));
            var job = Presets.Get("shapes-resnet", seed: 1) with { TrainFraction = 0.5, ValidationFraction = 0 };
            job = job with { Data = job.Data with { Count = 6, ImageSize = 64 } };

            var here = new FeatureDataLoader(new PresetDataLoader(), new ResNet18Options(IntraOpThreads: 2)).Load(job);
            var there = new FeatureDataLoader(new PresetDataLoader(), new ResNet18Options(ModelPath: dir, IntraOpThreads: 2)).Load(job);

            var a = (FeatureDataset)here.Train;
            var b = (FeatureDataset)there.Train;
            Assert.Equal(a.Features(0).ToArray(), b.Features(0).ToArray());
            Assert.NotEqual(here.Fingerprint, there.Fingerprint);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
