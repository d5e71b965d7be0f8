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
        // The preset at 240 images (120 train / 24 validation / 96 test) and 6 epochs, to stay well under a
        // minute on two busy cores; the preset's own 300 images and 10 epochs are measured in docs/resnet.md.
        var preset = Presets.Get("shapes-resnet", seed: 3);
        var job = preset with { Data = preset.Data with { Count = 240 }, Epochs = 6, TrainFraction = 0.5, ValidationFraction = 0.1 };
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
}
