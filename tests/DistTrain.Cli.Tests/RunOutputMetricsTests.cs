using System.Text.Json;
using DistTrain.Cli.Output;
using DistTrain.Core.Training;

namespace DistTrain.Cli.Tests;

public class RunOutputMetricsTests
{
    private static readonly string[] MetricKeys =
        ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "samples_per_second", "seconds", "step", "learning_rate"];

    private static EpochMetrics Epoch(int epoch, double? valLoss = 0.39, double? valAcc = 0.9) =>
        new(epoch, 0.5 / epoch, 0.8 + 0.01 * epoch, valLoss, valAcc, 12345.5, 1.25, 100L * epoch, 0.001f);

    private static List<JsonDocument> ReadLines(string path)
    {
        var docs = new List<JsonDocument>();
        foreach (var line in File.ReadAllLines(path)) docs.Add(JsonDocument.Parse(line));
        return docs;
    }

    [Fact]
    public void AppendEpoch_writes_one_json_line_per_epoch_with_exactly_the_snake_case_keys()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.AppendEpoch(Epoch(1));
        output.AppendEpoch(Epoch(2));

        var lines = ReadLines(output.MetricsPath);
        Assert.Equal(2, lines.Count);
        foreach (var doc in lines)
        {
            var keys = new List<string>();
            foreach (var p in doc.RootElement.EnumerateObject()) keys.Add(p.Name);
            Assert.Equal(MetricKeys, keys);
        }
    }

    [Fact]
    public void AppendEpoch_writes_the_metric_values_given()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.AppendEpoch(new EpochMetrics(3, 0.4123, 0.8812, 0.3901, 0.9011, 12345.0, 1.23, 1407, 0.001f));

        var e = ReadLines(output.MetricsPath)[0].RootElement;
        Assert.Equal(3, e.GetProperty("epoch").GetInt32());
        Assert.Equal(0.4123, e.GetProperty("train_loss").GetDouble());
        Assert.Equal(0.8812, e.GetProperty("train_accuracy").GetDouble());
        Assert.Equal(0.3901, e.GetProperty("val_loss").GetDouble());
        Assert.Equal(0.9011, e.GetProperty("val_accuracy").GetDouble());
        Assert.Equal(12345.0, e.GetProperty("samples_per_second").GetDouble());
        Assert.Equal(1.23, e.GetProperty("seconds").GetDouble());
        Assert.Equal(1407L, e.GetProperty("step").GetInt64());
        Assert.Equal(0.001f, e.GetProperty("learning_rate").GetSingle());
        // A float learning rate is written at float precision, not as 0.0010000000474974513.
        Assert.Equal("0.001", e.GetProperty("learning_rate").GetRawText());
    }

    [Fact]
    public void AppendEpoch_writes_null_validation_figures_when_there_is_no_validation_set()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.AppendEpoch(Epoch(1, valLoss: null, valAcc: null));

        var e = ReadLines(output.MetricsPath)[0].RootElement;
        Assert.Equal(JsonValueKind.Null, e.GetProperty("val_loss").ValueKind);
        Assert.Equal(JsonValueKind.Null, e.GetProperty("val_accuracy").ValueKind);
    }

    [Fact]
    public void AppendEpoch_writes_a_diverged_nan_loss_as_null_so_the_line_stays_valid_json()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.AppendEpoch(new EpochMetrics(1, double.NaN, 0.1, double.PositiveInfinity, 0.1, 10, 1, 1, 0.1f));

        var e = ReadLines(output.MetricsPath)[0].RootElement;
        Assert.Equal(JsonValueKind.Null, e.GetProperty("train_loss").ValueKind);
        Assert.Equal(JsonValueKind.Null, e.GetProperty("val_loss").ValueKind);
    }

    [Fact]
    public void AppendEpoch_after_a_resume_replaces_lines_of_that_epoch_and_later()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        for (var epoch = 1; epoch <= 4; epoch++) output.AppendEpoch(Epoch(epoch));

        // Resumed from the checkpoint after epoch 2: epoch 3 runs again.
        var resumed = new RunOutput(dir.Path);
        resumed.AppendEpoch(Epoch(3, valLoss: 0.123));

        var lines = ReadLines(output.MetricsPath);
        Assert.Equal([1, 2, 3], lines.ConvertAll(d => d.RootElement.GetProperty("epoch").GetInt32()));
        Assert.Equal(0.123, lines[2].RootElement.GetProperty("val_loss").GetDouble());
    }

    [Fact]
    public void AppendEpoch_names_the_file_and_line_of_a_corrupt_metrics_file()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File(RunOutput.MetricsFile), "{\"epoch\":1}\nnot json\n");
        var output = new RunOutput(dir.Path);

        var e = Assert.Throws<InvalidDataException>(() => output.AppendEpoch(Epoch(2)));
        Assert.Contains(RunOutput.MetricsFile, e.Message);
        Assert.Contains("line 2", e.Message);
        Assert.Contains("not json", e.Message);
    }

    [Fact]
    public void AppendEpoch_leaves_no_temporary_files_behind()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        for (var epoch = 1; epoch <= 3; epoch++) output.AppendEpoch(Epoch(epoch));

        Assert.Equal([RunOutput.MetricsFile], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }
}
