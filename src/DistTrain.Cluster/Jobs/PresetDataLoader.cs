using DistTrain.Core.Checkpoints;
using DistTrain.Core.Training;
using DistTrain.Data;
using DistTrain.Data.Augmentation;
using DistTrain.Data.Csv;
using DistTrain.Data.Images;
using DistTrain.Data.Presets;
using DistTrain.Data.Synthetic;

namespace DistTrain.Cluster.Jobs;

/// <summary>
/// Resolves a <see cref="DataSpec"/> on this node: loads the file (or the embedded/synthetic data), makes
/// the seeded stratified split, standardises tabular features with training-split statistics, and
/// fingerprints the result so the coordinator can check every worker loaded the same samples.
/// </summary>
public sealed class PresetDataLoader : IJobDataLoader
{
    public const string DefaultFashionFolder = "/usr/share/datasets/fashion-mnist";

    public JobData Load(TrainingJob job)
    {
        var spec = job.Data;
        if (spec.Features is not null || spec.Kind == "images")
            throw new ArgumentException($"data source '{spec.Kind}'{(spec.Features is null ? "" : $" with {spec.Features} features")} needs the DistTrain.Onnx loader (FeatureDataLoader)");
        if (spec.Classes is not null && !spec.Kind.Equals("fashion-mnist", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"a class filter (--classes) is supported for fashion-mnist only, not for {spec.Kind}");
        return spec.Kind.ToLowerInvariant() switch
        {
            "penguins" => Tabular(spec.Path is null ? Penguins.LoadEmbedded() : Penguins.Load(spec.Path), job),
            "csv" => Tabular(CsvDataset.Load(spec.Path ?? throw new ArgumentException("a csv data source needs a path (--data FILE)"),
                new CsvOptions(spec.LabelColumn ?? throw new ArgumentException("a csv data source needs a label column (--label COLUMN)"),
                    spec.FeatureColumns is { Count: > 0 } f ? f : throw new ArgumentException("a csv data source needs feature columns (--features A,B,...)"))), job),
            "fashion-mnist" => Fashion(spec, job),
            "shapes" => Shapes(spec, job),
            _ => throw new ArgumentException($"Unknown data source '{spec.Kind}'; use penguins, csv, fashion-mnist or shapes."),
        };
    }

    /// <summary>
    /// A table as the csv and penguins presets use it: the job's seeded stratified split, then (when
    /// <paramref name="standardize"/>) features standardised with the training split's mean and std, which the
    /// checkpoint records so prediction applies them too.
    /// </summary>
    internal static JobData Tabular(CsvDataset csv, TrainingJob job, bool standardize = true)
    {
        var split = Splits.Stratified(csv, job.TrainFraction, job.ValidationFraction, job.Seed);
        Normalization? norm = null;
        IDataset data = csv;
        if (standardize)
        {
            var standardizer = Standardizer.Fit(csv, split.Train);
            data = standardizer.Apply(csv);
            norm = new Normalization(standardizer.Mean, standardizer.Std);
        }
        var (train, val, test) = Splits.Views(data, split);
        return Finish(Limit(train, job.Data.Limit), val, test, csv.ClassNames, norm);
    }

    private static JobData Fashion(DataSpec spec, TrainingJob job)
    {
        var folder = spec.Path ?? DefaultFashionFolder;
        var images = FashionMnist.Load(folder, train: true);
        if (spec.Augment) images = images.WithAugmentation(DefaultAugmentation);
        IDataset trainAll = images;
        IDataset test = FashionMnist.Load(folder, train: false);
        if (spec.Classes is { } classes)
        {
            trainAll = new ClassSubset(trainAll, classes);
            test = new ClassSubset(test, classes);
        }
        IDataset train = trainAll, val = new DatasetView(trainAll, []);
        if (job.ValidationFraction > 0)
        {
            var split = Splits.Stratified(trainAll, 1 - job.ValidationFraction, job.ValidationFraction, job.Seed);
            train = new DatasetView(trainAll, split.Train);
            val = new DatasetView(trainAll, split.Validation);
        }
        return Finish(Limit(train, spec.Limit), val, test, trainAll.ClassNames, null);
    }

    private static JobData Shapes(DataSpec spec, TrainingJob job)
    {
        var all = ShapesDataset.Generate(spec.Count, spec.ImageSize, spec.Channels, job.Seed);
        var split = Splits.Stratified(all, job.TrainFraction, job.ValidationFraction, job.Seed);
        var augmented = spec.Augment ? all.WithAugmentation(DefaultAugmentation) : all;
        return Finish(Limit(new DatasetView(augmented, split.Train), spec.Limit), new DatasetView(all, split.Validation),
            new DatasetView(all, split.Test), all.ClassNames, null);
    }

    /// <summary>Flip, mirror, skew and shift, each with a probability: the course notes' augmentation.</summary>
    public static Augmentation DefaultAugmentation { get; } = new(horizontalFlip: 0.5f, verticalMirror: 0.1f, skew: 0.1f, skewProbability: 0.3f, shift: 2, shiftProbability: 0.3f);

    internal static IDataset Limit(IDataset data, int? limit)
    {
        if (limit is not { } n || n >= data.Count) return data;
        if (n < 1) throw new ArgumentException($"limit must be >= 1 (got {n})");
        var ids = new int[n];
        for (var i = 0; i < n; i++) ids[i] = i;
        return new DatasetView(data, ids);
    }

    internal static JobData Finish(IDataset train, IDataset val, IDataset test, IReadOnlyList<string> classes, Normalization? norm) =>
        new(train, val, test, classes, norm, JobData.ComputeFingerprint(train, val, test));
}
