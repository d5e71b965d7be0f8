using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Layers;
using DistTrain.Core.Training;
using DistTrain.Data;

namespace DistTrain.Onnx;

/// <summary>
/// Loads jobs whose data goes through a frozen pretrained network (<see cref="DataSpec.Features"/> =
/// "resnet18") or comes from an image folder (<see cref="DataSpec.Kind"/> = "images"), and hands every
/// other job to the inner loader. For features it loads the raw images (shapes from the inner loader
/// without augmentation, or the folder with a seeded stratified split), runs each split once through
/// <see cref="ResNet18Features"/> and returns <see cref="FeatureDataset"/>s: the frozen-feature cache the
/// head trains on. The fingerprint hashes the raw images' fingerprint together with the model files'
/// SHA-256, so a worker whose ONNX file differs is refused by the coordinator.
/// </summary>
public sealed class FeatureDataLoader(IJobDataLoader inner, ResNet18Options? options = null) : IJobDataLoader
{
    public const string ResNet18 = "resnet18";

    private readonly ResNet18Options _options = options ?? new ResNet18Options();

    /// <summary>The last featurizing Load: images, time to load/render them, time to extract their features (for reports and docs).</summary>
    public (int Images, TimeSpan Load, TimeSpan Extraction) LastExtraction { get; private set; }

    private readonly Lock _gate = new();
    private (string Key, JobData Data)? _cache;

    /// <summary>
    /// Loads (and featurizes) once per job description: the worker actors of one node share the result, so
    /// the frozen features are computed once per node. Malformed image files surface as FormatException
    /// (naming the file), which the worker reports back to the coordinator.
    /// </summary>
    public JobData Load(TrainingJob job)
    {
        // What the data depends on (records holding lists compare by reference, so compare their JSON).
        var key = $"{System.Text.Json.JsonSerializer.Serialize(job.Data, Core.Models.ModelSpec.JsonOptions)} seed {job.Seed} split {job.TrainFraction:R}/{job.ValidationFraction:R}";
        lock (_gate)
        {
            if (_cache is { } c && c.Key == key) return c.Data;
            JobData data;
            try
            {
                data = LoadUncached(job);
            }
            catch (DataFormatException e)
            {
                throw new FormatException(e.Message, e);
            }
            _cache = (key, data);
            return data;
        }
    }

    private JobData LoadUncached(TrainingJob job)
    {
        var spec = job.Data;
        if (spec.Features is null)
            return spec.Kind == "images" ? Images(job) : inner.Load(job);
        if (!string.Equals(spec.Features, ResNet18, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"unknown feature extractor '{spec.Features}'; the one available is {ResNet18}");

        // The base is frozen and deterministic: features are computed once, from un-augmented images.
        var rawJob = job with { Data = spec.Kind == "images"
            ? spec with { Features = null, Augment = false, ImageSize = ResNet18Features.InputSize, Channels = 3 }
            : spec with { Features = null, Augment = false } };
        var loadClock = Stopwatch.StartNew();
        var raw = spec.Kind == "images" ? Images(rawJob) : inner.Load(rawJob);
        var loadTime = loadClock.Elapsed;
        using var fx = new ResNet18Features(_options);
        var clock = Stopwatch.StartNew();
        var train = Featurize(fx, raw.Train);
        var val = Featurize(fx, raw.Validation);
        var test = Featurize(fx, raw.Test);
        LastExtraction = (raw.Train.Count + raw.Validation.Count + raw.Test.Count, loadTime, clock.Elapsed);
        return new JobData(train, val, test, raw.ClassNames, null, Fingerprint(raw.Fingerprint, fx.Files.ComputeHash()));
    }

    internal static string Fingerprint(string imagesFingerprint, string modelHash) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"resnet18 features v1 (BGR 0..255 minus mean image, 224x224)\n{imagesFingerprint}\n{modelHash}")));

    /// <summary>Runs a split's images through the extractor in chunks (bounded memory) → N × 512 features.</summary>
    /// <summary>ResNet-18 features of every image of <paramref name="images"/> (inference preprocessing, no augmentation), labels kept.</summary>
    public static FeatureDataset Featurize(ResNet18Features fx, IDataset images)
    {
        var shape = images.SampleShape;
        if (shape.Rank != 3) throw new ArgumentException($"feature extraction needs images (C, H, W), found samples of shape {shape}");
        int c = shape[0], h = shape[1], w = shape[2];
        var n = images.Count;
        var features = new float[(long)n * ResNet18Features.FeatureCount];
        var labels = new int[n];
        const int chunk = 32;
        var ids = new int[chunk];
        var pixels = new float[chunk * shape.Size];
        for (var first = 0; first < n; first += chunk)
        {
            var m = Math.Min(chunk, n - first);
            for (var i = 0; i < m; i++) ids[i] = first + i;
            images.CopyInputs(ids.AsSpan(0, m), pixels.AsSpan(0, m * shape.Size), BatchContext.Inference(m));
            fx.Extract(pixels.AsSpan(0, m * shape.Size), m, c, h, w, features.AsSpan(first * ResNet18Features.FeatureCount, m * ResNet18Features.FeatureCount));
        }
        for (var i = 0; i < n; i++) labels[i] = images.Label(i);
        return new FeatureDataset(features, labels, ResNet18Features.FeatureCount, images.ClassNames);
    }

    /// <summary>An image folder at the spec's size and channels, split stratified with the job's seed.</summary>
    private static JobData Images(TrainingJob job)
    {
        var spec = job.Data;
        var folder = spec.Path ?? throw new ArgumentException("an image-folder data source needs a folder (--images FOLDER)");
        var all = ImageFolder.Load(folder, spec.ImageSize, spec.Channels);
        var split = Splits.Stratified(all, job.TrainFraction, job.ValidationFraction, job.Seed);
        IDataset train = new DatasetView(spec.Augment ? all.WithAugmentation(PresetDataLoader.DefaultAugmentation) : all, split.Train);
        if (spec.Limit is { } limit && limit < train.Count)
        {
            if (limit < 1) throw new ArgumentException($"limit must be >= 1 (got {limit})");
            var ids = new int[limit];
            for (var i = 0; i < limit; i++) ids[i] = i;
            train = new DatasetView(train, ids);
        }
        var val = new DatasetView(all, split.Validation);
        var test = new DatasetView(all, split.Test);
        return new JobData(train, val, test, all.ClassNames, null, JobData.ComputeFingerprint(train, val, test));
    }
}
