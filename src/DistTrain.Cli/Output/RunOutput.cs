using System.Globalization;
using System.Text;
using System.Text.Json;
using DistTrain.Core.Training;

namespace DistTrain.Cli.Output;

/// <summary>
/// Writes one run's output folder: metrics.jsonl (one line per epoch), summary.json and the PNG charts.
/// Every file is replaced atomically (<see cref="AtomicFile"/>), so an interrupted run never leaves a
/// half-written file. Safe to call from several threads (epoch events arrive from actor threads).
/// </summary>
public sealed class RunOutput
{
    public const string MetricsFile = "metrics.jsonl";
    public const string SummaryFile = "summary.json";

    /// <summary>The job as run (`disttrain node --job` reads it back, e.g. with `--resume` and the checkpoint beside it).</summary>
    public const string JobFile = "job.json";
    public const string LossPlotFile = "loss.png";
    public const string AccuracyPlotFile = "accuracy.png";
    public const string ConfusionPlotFile = "confusion.png";

    private readonly object _gate = new();

    // metrics.jsonl as (epoch, line), read once on the first append; this object is the file's only writer.
    private List<(int Epoch, string Line)>? _metrics;

    /// <summary>Creates the folder if needed and checks it is writable (see <see cref="Validate"/>).</summary>
    public RunOutput(string folder)
    {
        Folder = Validate(folder);
    }

    /// <summary>Absolute path of the output folder.</summary>
    public string Folder { get; }

    public string MetricsPath => Path.Combine(Folder, MetricsFile);

    public string SummaryPath => Path.Combine(Folder, SummaryFile);

    /// <summary>
    /// Creates <paramref name="folder"/> if it does not exist and proves it is writable by creating and
    /// deleting a probe file. Call before training so a bad --output fails in a second, not after an hour.
    /// Returns the absolute path.
    /// </summary>
    /// <exception cref="OutputFolderException">The folder cannot be created or written; the message says why.</exception>
    public static string Validate(string folder)
    {
        if (string.IsNullOrWhiteSpace(folder))
            throw new OutputFolderException(folder ?? "", "The output folder is empty; pass a folder path with --output.");
        string full;
        try
        {
            full = Path.GetFullPath(folder);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OutputFolderException(folder, $"The output folder '{folder}' is not a valid path: {e.Message}", e);
        }
        if (File.Exists(full))
            throw new OutputFolderException(full, $"The output folder '{full}' is an existing file, not a folder; choose another --output.");
        try
        {
            Directory.CreateDirectory(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputFolderException(full, $"Cannot create the output folder '{full}': {e.Message} Choose another --output or fix the permissions of its parent.", e);
        }
        var probe = Path.Combine(full, $".disttrain-write-probe.{Guid.NewGuid():N}{AtomicFile.TempSuffix}");
        try
        {
            using (var fs = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                fs.WriteByte(0);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputFolderException(full, $"The output folder '{full}' is not writable: {e.Message} Choose another --output or fix its permissions.", e);
        }
        return full;
    }

    /// <summary>
    /// Appends one line to metrics.jsonl with the keys epoch, train_loss, train_accuracy, val_loss,
    /// val_accuracy (null without validation), samples_per_second, seconds, step, learning_rate.
    /// Lines already in the file for this epoch or later are dropped first, so a run resumed from an
    /// earlier checkpoint continues the file instead of repeating epochs. Non-finite numbers become null.
    /// With <paramref name="visits"/> (cluster runs) the line also has visits_min and visits_max: the fewest
    /// and most times any training sample's gradient was applied in the epoch (1 and 1 = exactly once).
    /// </summary>
    public void AppendEpoch(EpochMetrics m, (int Min, int Max)? visits = null)
    {
        ArgumentNullException.ThrowIfNull(m);
        lock (_gate)
        {
            _metrics ??= ReadMetrics();
            while (_metrics.Count > 0 && _metrics[^1].Epoch >= m.Epoch) _metrics.RemoveAt(_metrics.Count - 1);
            _metrics.Add((m.Epoch, MetricsLine(m, visits)));
            var text = new StringBuilder(_metrics.Count * 220);
            foreach (var (_, line) in _metrics) text.Append(line).Append('\n');
            // Not fsynced: losing the last epoch's line to a power cut is fine, a torn line is not (rename covers that).
            AtomicFile.Write(MetricsPath, Encoding.UTF8.GetBytes(text.ToString()), durable: false);
        }
    }

    /// <summary>Writes job.json: the job's JSON (<c>Commands.JobFile.ToJson</c>), written when the run starts.</summary>
    public void WriteJob(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        lock (_gate) AtomicFile.Write(Path.Combine(Folder, JobFile), Encoding.UTF8.GetBytes(json + "\n"));
    }

    /// <summary>Writes summary.json (indented, snake_case keys in <see cref="RunSummary"/>'s order).</summary>
    public void WriteSummary(RunSummary s)
    {
        ArgumentNullException.ThrowIfNull(s);
        s.Validate();
        var bytes = JsonSerializer.SerializeToUtf8Bytes(s, JsonFormat.Summary);
        lock (_gate) AtomicFile.Write(SummaryPath, [.. bytes, (byte)'\n']);
    }

    /// <summary>
    /// Writes loss.png and accuracy.png (train and, when measured, validation per epoch) and confusion.png
    /// (counts in each cell, class names on the axes; row = true class). Returns the paths written; the
    /// curves are skipped when <paramref name="history"/> is empty.
    /// </summary>
    public IReadOnlyList<string> WritePlots(IReadOnlyList<EpochMetrics> history, int[,] confusion, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(confusion);
        ArgumentNullException.ThrowIfNull(classNames);
        var n = classNames.Count;
        if (n == 0) throw new ArgumentException("The confusion plot needs at least one class name.", nameof(classNames));
        if (confusion.GetLength(0) != n || confusion.GetLength(1) != n)
            throw new ArgumentException($"The confusion matrix is {confusion.GetLength(0)}×{confusion.GetLength(1)} but there are {n} class names; expected {n}×{n}.", nameof(confusion));

        var written = new List<string>(3);
        lock (_gate)
        {
            if (history.Count > 0)
            {
                written.Add(WritePng(LossPlotFile, PlotWriter.Loss(history)));
                written.Add(WritePng(AccuracyPlotFile, PlotWriter.Accuracy(history)));
            }
            written.Add(WritePng(ConfusionPlotFile, PlotWriter.Confusion(confusion, classNames)));
        }
        return written;
    }

    private string WritePng(string name, byte[] png)
    {
        var path = Path.Combine(Folder, name);
        AtomicFile.Write(path, png);
        return path;
    }

    internal static string MetricsLine(EpochMetrics m, (int Min, int Max)? visits = null)
    {
        using var buffer = new MemoryStream(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("epoch", m.Epoch);
            WriteNumber(w, "train_loss", m.TrainLoss);
            WriteNumber(w, "train_accuracy", m.TrainAccuracy);
            WriteNumber(w, "val_loss", m.ValidationLoss);
            WriteNumber(w, "val_accuracy", m.ValidationAccuracy);
            WriteNumber(w, "samples_per_second", m.SamplesPerSecond);
            WriteNumber(w, "seconds", m.Seconds);
            w.WriteNumber("step", m.Step);
            if (float.IsFinite(m.LearningRate)) w.WriteNumber("learning_rate", m.LearningRate);
            else w.WriteNull("learning_rate");
            if (visits is { } v)
            {
                w.WriteNumber("visits_min", v.Min);
                w.WriteNumber("visits_max", v.Max);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteNumber(Utf8JsonWriter w, string key, double? value)
    {
        if (value is { } v && double.IsFinite(v)) w.WriteNumber(key, v);
        else w.WriteNull(key);
    }

    private List<(int Epoch, string Line)> ReadMetrics()
    {
        var kept = new List<(int, string)>();
        if (!File.Exists(MetricsPath)) return kept;
        var lines = File.ReadAllLines(MetricsPath);
        for (var i = 0; i < lines.Length; i++)
            if (lines[i].Length > 0) kept.Add((EpochOf(lines[i], i + 1), lines[i]));
        // Keep file order but make sure epochs ascend, so dropping from the tail on resume is enough.
        return [.. kept.OrderBy(static l => l.Item1)]; // stable: equal epochs keep their order
    }

    private int EpochOf(string line, int lineNumber)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("epoch", out var e) && e.TryGetInt32(out var epoch))
                return epoch;
        }
        catch (JsonException)
        {
        }
        var shown = line.Length > 60 ? line[..60] + "…" : line;
        throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
            $"{MetricsPath} line {lineNumber}: expected a JSON object with an integer \"epoch\", found '{shown}'. Move the file away or choose another --output."));
    }
}
