using System.Globalization;
using System.Text;
using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;

namespace DistTrain.Data.Csv;

/// <summary>A data row skipped because a used cell was missing: its physical line and the first missing column.</summary>
public readonly record struct DroppedRow(int Line, string Column);

/// <summary>
/// Float features and integer class labels read from a CSV file. Features are stored row-major as one
/// float[N×F]; <see cref="CopyInputs"/> copies rows into the batch buffer. Every malformed input throws
/// a <see cref="DataFormatException"/> naming the file, line and column.
/// </summary>
public sealed class CsvDataset : IDataset
{
    private readonly float[] _features;
    private readonly int[] _labels;
    private readonly int[] _lines;
    private readonly string[] _featureNames;
    private readonly string[] _classNames;
    private readonly DroppedRow[] _dropped;

    /// <summary>Builds a dataset from arrays (features row-major N×F). Labels must lie in 0..classNames.Count−1.</summary>
    public CsvDataset(float[] features, int[] labels, IReadOnlyList<string> featureNames, IReadOnlyList<string> classNames,
        string sourceName = "in-memory", IReadOnlyList<DroppedRow>? droppedRows = null, int[]? lineNumbers = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(classNames);
        if (featureNames.Count == 0) throw new ArgumentException("A dataset needs at least one feature.", nameof(featureNames));
        if (classNames.Count == 0) throw new ArgumentException("A dataset needs at least one class.", nameof(classNames));
        if ((long)labels.Length * featureNames.Count != features.Length)
            throw new ArgumentException($"{labels.Length} labels × {featureNames.Count} features need {(long)labels.Length * featureNames.Count} feature values but got {features.Length}.", nameof(features));
        for (var i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classNames.Count)
                throw new ArgumentException($"Label {labels[i]} of sample {i} is outside the {classNames.Count} classes.", nameof(labels));
        if (lineNumbers is not null && lineNumbers.Length != labels.Length)
            throw new ArgumentException($"Got {lineNumbers.Length} line numbers for {labels.Length} samples.", nameof(lineNumbers));
        _features = features;
        _labels = labels;
        _featureNames = [.. featureNames];
        _classNames = [.. classNames];
        _dropped = droppedRows is null ? [] : [.. droppedRows];
        _lines = lineNumbers ?? [];
        SourceName = sourceName;
        SampleShape = new TensorShape(_featureNames.Length);
    }

    public static CsvDataset Load(string path, CsvOptions options)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Parse(reader, path, options);
    }

    public static CsvDataset Parse(TextReader reader, string sourceName, CsvOptions options)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var tokenizer = new CsvTokenizer(reader, sourceName);
        var header = new List<string>();
        if (!tokenizer.ReadRecord(header))
            throw new DataFormatException(sourceName, "line 1", "a header line naming the columns", "an empty file",
                $"The first line must name the columns, e.g. '{options.LabelColumn},{string.Join(',', options.FeatureColumns)}'.");
        var headerLine = tokenizer.RecordLine;
        for (var i = 0; i < header.Count; i++) header[i] = header[i].Trim();

        var labelIndex = FindColumn(header, options.LabelColumn, sourceName, headerLine);
        var featureCount = options.FeatureColumns.Count;
        var featureIndex = new int[featureCount];
        for (var f = 0; f < featureCount; f++) featureIndex[f] = FindColumn(header, options.FeatureColumns[f], sourceName, headerLine);

        var classIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var classNames = new List<string>();
        if (options.ClassOrder is not null)
            foreach (var c in options.ClassOrder) { classIndex.Add(c, classNames.Count); classNames.Add(c); }

        var features = new List<float>();
        var labels = new List<int>();
        var lines = new List<int>();
        var dropped = new List<DroppedRow>();
        var row = new float[featureCount];
        var fields = new List<string>(header.Count);
        var dataRows = 0;
        while (tokenizer.ReadRecord(fields))
        {
            dataRows++;
            var line = tokenizer.RecordLine;
            if (fields.Count != header.Count)
                throw new DataFormatException(sourceName, $"line {line}", $"{header.Count} fields (one per header column)", $"{fields.Count}",
                    "Every row needs one value per column; quote values that contain commas.");

            string? missingColumn = null;
            string? missingCell = null;
            var label = fields[labelIndex].Trim();
            if (IsMissing(label)) { missingColumn = options.LabelColumn; missingCell = label; }
            for (var f = 0; f < featureCount; f++)
            {
                var name = options.FeatureColumns[f];
                var cell = fields[featureIndex[f]].Trim();
                if (IsMissing(cell))
                {
                    if (missingColumn is null) { missingColumn = name; missingCell = cell; }
                    continue;
                }
                if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                    throw new DataFormatException(sourceName, $"line {line}, column '{name}'", "a number", $"'{cell}'",
                        "Use '.' as the decimal point and write missing values as NA or leave the cell empty.");
                if (!float.IsFinite(value))
                    throw new DataFormatException(sourceName, $"line {line}, column '{name}'", "a finite number", $"'{cell}'",
                        "NaN and infinite values cannot be learned from; write NA (or leave the cell empty) to mark a missing value, or remove the row.");
                row[f] = value;
            }

            if (missingColumn is not null)
            {
                if (options.Missing == MissingValues.Error)
                    throw new DataFormatException(sourceName, $"line {line}, column '{missingColumn}'", "a value",
                        missingCell!.Length == 0 ? "an empty cell" : $"the missing-value marker '{missingCell}'",
                        "Fill in the value, remove the row, or load with MissingValues.Drop to skip such rows.");
                dropped.Add(new DroppedRow(line, missingColumn));
                continue;
            }

            if (!classIndex.TryGetValue(label, out var cls))
            {
                if (options.ClassOrder is not null)
                    throw new DataFormatException(sourceName, $"line {line}, column '{options.LabelColumn}'",
                        $"one of the classes {string.Join(", ", options.ClassOrder)}", $"'{label}'",
                        "Correct the label or add the class to ClassOrder (labels are case-sensitive).");
                cls = classNames.Count;
                classIndex.Add(label, cls);
                classNames.Add(label);
            }
            features.AddRange(row);
            labels.Add(cls);
            lines.Add(line);
        }

        if (dataRows == 0)
            throw new DataFormatException(sourceName, $"line {tokenizer.NextLine}", "at least one data row after the header", "only the header",
                "Add data rows below the header line.");
        if (labels.Count == 0)
            throw new DataFormatException(sourceName, $"lines {dropped[0].Line}-{dropped[^1].Line}", "at least one row without missing values",
                $"{dropped.Count} rows that all have a missing value", "Fill in the missing values or choose other feature columns.");

        return new CsvDataset(features.ToArray(), labels.ToArray(), options.FeatureColumns, classNames, sourceName, dropped, lines.ToArray());
    }

    public string SourceName { get; }

    public int Count => _labels.Length;

    public int FeatureCount => _featureNames.Length;

    public TensorShape SampleShape { get; }

    public IReadOnlyList<string> FeatureNames => _featureNames;

    public IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>Row-major N×F feature values.</summary>
    public ReadOnlySpan<float> Features => _features;

    public ReadOnlySpan<int> Labels => _labels;

    /// <summary>Rows skipped for missing values (Drop mode), in file order; DroppedRows.Count is how many.</summary>
    public IReadOnlyList<DroppedRow> DroppedRows => _dropped;

    public int Label(int index) => _labels[index];

    /// <summary>The features of sample <paramref name="index"/>.</summary>
    public ReadOnlySpan<float> Row(int index) => _features.AsSpan(index * FeatureCount, FeatureCount);

    /// <summary>Physical line of sample <paramref name="index"/> in the source file (0 when built from arrays).</summary>
    public int LineOf(int index) => _lines.Length == 0 ? 0 : _lines[index];

    /// <summary>"dropped 2 rows with missing values (lines 5, 273)" or "no rows dropped".</summary>
    public string DescribeDroppedRows()
    {
        if (_dropped.Length == 0) return "no rows dropped";
        var sb = new StringBuilder();
        sb.Append("dropped ").Append(_dropped.Length).Append(_dropped.Length == 1 ? " row" : " rows").Append(" with missing values (line");
        if (_dropped.Length > 1) sb.Append('s');
        sb.Append(' ');
        var shown = Math.Min(_dropped.Length, 10);
        for (var i = 0; i < shown; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(_dropped[i].Line);
        }
        if (shown < _dropped.Length) sb.Append(", ...");
        return sb.Append(')').ToString();
    }

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
    {
        var f = FeatureCount;
        if (destination.Length < indices.Length * f)
            throw new ArgumentException($"The destination holds {destination.Length} values but {indices.Length} samples × {f} features need {indices.Length * f}.", nameof(destination));
        // x (n, F) rows gathered from features (N, F)
        for (var i = 0; i < indices.Length; i++)
            _features.AsSpan(indices[i] * f, f).CopyTo(destination.Slice(i * f, f));
    }

    private static bool IsMissing(string cell) => cell.Length == 0 || cell == "NA";

    private static int FindColumn(List<string> header, string name, string source, int headerLine)
    {
        var found = -1;
        for (var i = 0; i < header.Count; i++)
        {
            if (!string.Equals(header[i], name, StringComparison.Ordinal)) continue;
            if (found >= 0)
                throw new DataFormatException(source, $"line {headerLine} (header), column '{name}'", "each column name once",
                    $"'{name}' in columns {found + 1} and {i + 1}", "Rename one of the columns.");
            found = i;
        }
        if (found < 0)
            throw new DataFormatException(source, $"line {headerLine} (header), column '{name}'", $"a column named '{name}'",
                $"the columns {string.Join(", ", header.Select(h => $"'{h}'"))}",
                "Check the spelling (column names are case-sensitive) and that the file is comma-separated.");
        return found;
    }
}
