using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;
using DistTrain.Data.Csv;

namespace DistTrain.Data;

/// <summary>
/// Per-feature standardisation x' = (x − mean) / std. <see cref="Fit(ReadOnlySpan{float}, int, ReadOnlySpan{int})"/>
/// uses the <b>population</b> standard deviation (divide by n, as scikit-learn's StandardScaler) over the
/// given rows only — pass the training split so validation and test rows never leak into the statistics.
/// A feature that is constant over those rows gets std 1 (it is only centred). Construct one from a
/// checkpoint's Mean/Std to apply the same normalisation at prediction time.
/// </summary>
public sealed class Standardizer
{
    private readonly float[] _mean;
    private readonly float[] _std;

    public Standardizer(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0) throw new ArgumentException("A standardizer needs at least one feature.", nameof(mean));
        if (mean.Length != std.Length) throw new ArgumentException($"Got {mean.Length} means but {std.Length} standard deviations.", nameof(std));
        for (var f = 0; f < mean.Length; f++)
        {
            if (!float.IsFinite(mean[f])) throw new ArgumentException($"Mean of feature {f} is {mean[f]}; it must be finite.", nameof(mean));
            if (!float.IsFinite(std[f]) || std[f] <= 0) throw new ArgumentException($"Std of feature {f} is {std[f]}; it must be finite and > 0.", nameof(std));
        }
        _mean = (float[])mean.Clone();
        _std = (float[])std.Clone();
    }

    public int FeatureCount => _mean.Length;

    /// <summary>Per-feature means (a copy).</summary>
    public float[] Mean => (float[])_mean.Clone();

    /// <summary>Per-feature population standard deviations, 1 where the feature was constant (a copy).</summary>
    public float[] Std => (float[])_std.Clone();

    /// <summary>Fits on <paramref name="rows"/> of row-major features (N × featureCount).</summary>
    public static Standardizer Fit(ReadOnlySpan<float> features, int featureCount, ReadOnlySpan<int> rows)
    {
        if (featureCount <= 0) throw new ArgumentOutOfRangeException(nameof(featureCount), featureCount, "need at least one feature");
        if (features.Length % featureCount != 0)
            throw new ArgumentException($"{features.Length} values are not a whole number of rows of {featureCount} features.", nameof(features));
        if (rows.IsEmpty) throw new ArgumentException("Cannot fit a standardizer on zero rows; pass the training split.", nameof(rows));
        var n = features.Length / featureCount;
        // Two passes in double: mean, then squared deviations (numerically stable for large offsets like body mass in grams).
        var sum = new double[featureCount];
        foreach (var r in rows)
        {
            if ((uint)r >= (uint)n) throw new ArgumentOutOfRangeException(nameof(rows), r, $"row is outside the {n} rows");
            var x = features.Slice(r * featureCount, featureCount);
            for (var f = 0; f < featureCount; f++) sum[f] += x[f];
        }
        var mean = new double[featureCount];
        for (var f = 0; f < featureCount; f++) mean[f] = sum[f] / rows.Length;
        var sq = new double[featureCount];
        foreach (var r in rows)
        {
            var x = features.Slice(r * featureCount, featureCount);
            for (var f = 0; f < featureCount; f++)
            {
                var d = x[f] - mean[f];
                sq[f] += d * d;
            }
        }
        var m = new float[featureCount];
        var s = new float[featureCount];
        for (var f = 0; f < featureCount; f++)
        {
            m[f] = (float)mean[f];
            var std = (float)Math.Sqrt(sq[f] / rows.Length);
            s[f] = std > 1e-12f ? std : 1f;
        }
        return new Standardizer(m, s);
    }

    public static Standardizer Fit(CsvDataset data, ReadOnlySpan<int> rows)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Fit(data.Features, data.FeatureCount, rows);
    }

    /// <summary>Standardises row-major values (any number of rows of <see cref="FeatureCount"/>) in place.</summary>
    public void Transform(Span<float> values)
    {
        var f = _mean.Length;
        if (values.Length % f != 0)
            throw new ArgumentException($"{values.Length} values are not a whole number of rows of {f} features.", nameof(values));
        for (var i = 0; i < values.Length; i += f)
            for (var j = 0; j < f; j++)
                values[i + j] = (values[i + j] - _mean[j]) / _std[j];
    }

    /// <summary>A new dataset with standardised features (same labels, classes, dropped rows).</summary>
    public CsvDataset Apply(CsvDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckFeatures(data.FeatureCount);
        var values = data.Features.ToArray();
        Transform(values);
        var lines = new int[data.Count];
        for (var i = 0; i < lines.Length; i++) lines[i] = data.LineOf(i);
        return new CsvDataset(values, data.Labels.ToArray(), data.FeatureNames, data.ClassNames, data.SourceName, data.DroppedRows, lines);
    }

    /// <summary>A wrapper that standardises in <see cref="IDataset.CopyInputs"/> (for flat-vector datasets of any kind).</summary>
    public IDataset Apply(IDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data is CsvDataset csv) return Apply(csv);
        CheckFeatures(data.SampleShape.Size);
        return new StandardizedDataset(data, this);
    }

    private void CheckFeatures(int count)
    {
        if (count != _mean.Length)
            throw new ArgumentException($"The standardizer was fitted on {_mean.Length} features but the data has {count}.");
    }

    private sealed class StandardizedDataset(IDataset inner, Standardizer standardizer) : IDataset
    {
        public int Count => inner.Count;

        public TensorShape SampleShape => inner.SampleShape;

        public IReadOnlyList<string> ClassNames => inner.ClassNames;

        public int Label(int index) => inner.Label(index);

        public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
        {
            inner.CopyInputs(indices, destination, ctx);
            standardizer.Transform(destination[..(indices.Length * standardizer.FeatureCount)]);
        }
    }
}
