using System.Globalization;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Layers;
using DistTrain.Core.Training;
using DistTrain.Data.Csv;

namespace DistTrain.Cluster.Jobs;

/// <summary>
/// Data the calling program already holds in memory, for using DistTrain as a library (docs/library.md): a
/// table of features and labels that every job splits and standardises as the csv preset does, or splits the
/// caller made. The job's <see cref="DataSpec"/> is not read (give any kind, e.g. <c>new DataSpec("in-memory")</c>),
/// except <see cref="DataSpec.Limit"/> for a table.
/// In cluster mode every node that runs workers needs a loader with the same data: the coordinator compares
/// the nodes' fingerprints and refuses a worker whose data differ.
/// The loader keeps the arrays it is given without copying; do not change them while a job runs.
/// </summary>
public sealed class InMemoryDataLoader : IJobDataLoader
{
    private readonly CsvDataset? _table;
    private readonly bool _standardize;
    private readonly (IDataset Train, IDataset Validation, IDataset Test, Normalization? Normalization)? _splits;

    /// <summary>
    /// A table: <paramref name="features"/> row-major (samples × features), <paramref name="labels"/> class indices
    /// 0..classNames.Count − 1. Each job splits it by its TrainFraction, ValidationFraction and Seed (stratified),
    /// and with <paramref name="standardize"/> scales every feature by the training split's mean and standard
    /// deviation; the checkpoint records that scaling, and <see cref="Core.Models.Predictor"/> applies it to raw inputs.
    /// </summary>
    /// <exception cref="ArgumentException">The arrays disagree in size, a label is out of range, or a value is NaN or infinite (the message names the sample and feature).</exception>
    public InMemoryDataLoader(float[] features, int[] labels, IReadOnlyList<string> featureNames, IReadOnlyList<string> classNames, bool standardize = true)
        : this(new CsvDataset(features, labels, featureNames, classNames, sourceName: "in-memory table"), standardize)
    {
    }

    /// <summary>A table already in a <see cref="CsvDataset"/> (e.g. one parsed with <see cref="CsvDataset.Parse"/>); see the other constructor.</summary>
    public InMemoryDataLoader(CsvDataset table, bool standardize = true)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Count == 0) throw new ArgumentException("the table has no samples; training needs at least one per class", nameof(table));
        var values = table.Features;
        var f = table.FeatureCount;
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new ArgumentException($"{table.SourceName}: sample {i / f}, feature '{table.FeatureNames[i % f]}' is {values[i].ToString(CultureInfo.InvariantCulture)}; remove or fill in that sample before training", nameof(table));
        _table = table;
        _standardize = standardize;
    }

    /// <summary>
    /// Splits made by the caller, used as they are (no standardisation; pass <paramref name="normalization"/> if the
    /// inputs were standardised, so that the checkpoint records it for prediction). Any <see cref="IDataset"/> works,
    /// e.g. an <see cref="Data.Images.ImageDataset"/>. <paramref name="validation"/> may be empty (no validation and
    /// no early stopping).
    /// </summary>
    /// <exception cref="ArgumentException">The splits differ in sample shape or classes, the training split is empty, or an input is NaN or infinite.</exception>
    public InMemoryDataLoader(IDataset train, IDataset validation, IDataset test, Normalization? normalization = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(test);
        if (train.Count == 0) throw new ArgumentException("the training split has no samples", nameof(train));
        foreach (var (name, split) in new[] { ("validation", validation), ("test", test) })
        {
            if (!split.SampleShape.Equals(train.SampleShape))
                throw new ArgumentException($"the {name} split's samples have shape {split.SampleShape} but the training split's have {train.SampleShape}");
            if (!split.ClassNames.SequenceEqual(train.ClassNames))
                throw new ArgumentException($"the {name} split's classes [{string.Join(", ", split.ClassNames)}] differ from the training split's [{string.Join(", ", train.ClassNames)}]");
        }
        if (normalization is not null && (normalization.Mean.Length != train.SampleShape.Size || normalization.Std.Length != train.SampleShape.Size))
            throw new ArgumentException($"the normalization has {normalization.Mean.Length} means and {normalization.Std.Length} deviations but a sample has {train.SampleShape.Size} values");
        CheckFinite("training", train);
        CheckFinite("validation", validation);
        CheckFinite("test", test);
        _splits = (train, validation, test, normalization);
    }

    public JobData Load(TrainingJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (_table is not null) return PresetDataLoader.Tabular(_table, job, _standardize);
        // A fresh JobData per load (each has its own feature caches), over the same splits.
        var (train, validation, test, normalization) = _splits!.Value;
        return PresetDataLoader.Finish(PresetDataLoader.Limit(train, job.Data.Limit), validation, test, train.ClassNames, normalization);
    }

    private static void CheckFinite(string name, IDataset data)
    {
        const int Chunk = 256;
        var size = data.SampleShape.Size;
        var ids = new int[Chunk];
        var x = new float[Chunk * size];
        for (var start = 0; start < data.Count; start += Chunk)
        {
            var n = Math.Min(Chunk, data.Count - start);
            for (var i = 0; i < n; i++) ids[i] = start + i;
            data.CopyInputs(ids.AsSpan(0, n), x.AsSpan(0, n * size), BatchContext.Inference(n));
            for (var i = 0; i < n * size; i++)
                if (!float.IsFinite(x[i]))
                    throw new ArgumentException($"the {name} split's sample {start + i / size}, value {i % size} is {x[i].ToString(CultureInfo.InvariantCulture)}; remove or fill in that sample before training");
        }
    }
}
