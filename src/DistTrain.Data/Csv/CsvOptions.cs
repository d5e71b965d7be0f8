namespace DistTrain.Data.Csv;

/// <summary>What to do with a row whose label or feature cell is missing ("NA" or empty).</summary>
public enum MissingValues
{
    /// <summary>Skip the row and record it in <see cref="CsvDataset.DroppedRows"/>.</summary>
    Drop,
    /// <summary>Throw a <see cref="DataFormatException"/> naming the line and column.</summary>
    Error,
}

/// <summary>
/// Which columns of a CSV file to read: one label column (class names as text) and the numeric feature
/// columns in the order the model sees them. <paramref name="ClassOrder"/> fixes the class indices (and
/// rejects unknown labels); without it classes are numbered in order of first appearance.
/// </summary>
public sealed record CsvOptions(
    string LabelColumn,
    IReadOnlyList<string> FeatureColumns,
    MissingValues Missing = MissingValues.Drop,
    IReadOnlyList<string>? ClassOrder = null)
{
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(LabelColumn)) throw new ArgumentException("CsvOptions needs a label column name.");
        if (FeatureColumns is null || FeatureColumns.Count == 0) throw new ArgumentException("CsvOptions needs at least one feature column.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in FeatureColumns)
        {
            if (string.IsNullOrWhiteSpace(f)) throw new ArgumentException("Feature column names must not be empty.");
            if (!seen.Add(f)) throw new ArgumentException($"Feature column '{f}' is listed twice.");
        }
        if (seen.Contains(LabelColumn)) throw new ArgumentException($"Column '{LabelColumn}' cannot be both the label and a feature.");
        if (ClassOrder is not null)
        {
            if (ClassOrder.Count == 0) throw new ArgumentException("ClassOrder, when given, must name at least one class.");
            var classes = new HashSet<string>(StringComparer.Ordinal);
            foreach (var c in ClassOrder)
                if (!classes.Add(c)) throw new ArgumentException($"Class '{c}' appears twice in ClassOrder.");
        }
    }
}
