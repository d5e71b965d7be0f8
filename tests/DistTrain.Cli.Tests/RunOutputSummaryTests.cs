using System.Text.Json;
using DistTrain.Cli.Output;

namespace DistTrain.Cli.Tests;

public class RunOutputSummaryTests
{
    internal static RunSummary Sample(string mode = "local") => new()
    {
        JobId = "job-42",
        Mode = mode,
        Preset = "penguins-mlp",
        Seed = 7,
        Epochs = 3,
        Workers = 2,
        BatchSize = 16,
        Optimizer = "adam",
        LearningRate = 0.01,
        Gemm = "managed",
        Seconds = 1.5,
        SamplesPerSecond = 4321.5,
        StoppedEarly = false,
        TestLoss = 0.12,
        TestAccuracy = 0.97,
        ParametersSha256 = "ab12",
        Checkpoint = "final.ckpt",
        ClassNames = ["Adelie", "Chinstrap", "Gentoo"],
        Precision = [1.0, 0.5, double.NaN],
        Recall = [0.9, 0.8, 0.7],
        ConfusionMatrix = [[9, 1, 0], [0, 8, 2], [1, 0, 7]],
    };

    [Fact]
    public void WriteSummary_writes_every_required_key_in_snake_case()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.WriteSummary(Sample());

        using var doc = JsonDocument.Parse(File.ReadAllText(output.SummaryPath));
        string[] required =
        [
            "test_accuracy", "test_loss", "epochs", "workers", "mode", "samples_per_second", "parameters_sha256",
            "job_id", "preset", "seed", "batch_size", "optimizer", "learning_rate", "seconds", "stopped_early",
            "class_names", "precision", "recall", "confusion_matrix", "checkpoint", "gemm",
        ];
        foreach (var key in required)
            Assert.True(doc.RootElement.TryGetProperty(key, out _), $"summary.json lacks \"{key}\"");
    }

    [Fact]
    public void WriteSummary_writes_the_values_given()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.WriteSummary(Sample(mode: "cluster"));

        var root = JsonDocument.Parse(File.ReadAllText(output.SummaryPath)).RootElement;
        Assert.Equal(0.97, root.GetProperty("test_accuracy").GetDouble());
        Assert.Equal("cluster", root.GetProperty("mode").GetString());
        Assert.Equal(2, root.GetProperty("workers").GetInt32());
        Assert.Equal(7UL, root.GetProperty("seed").GetUInt64());
        Assert.False(root.GetProperty("stopped_early").GetBoolean());
        Assert.Equal("final.ckpt", root.GetProperty("checkpoint").GetString());
        Assert.Equal(["Adelie", "Chinstrap", "Gentoo"], root.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(0.5, root.GetProperty("precision")[1].GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("precision")[2].ValueKind); // NaN: class never predicted
        Assert.Equal(0.7, root.GetProperty("recall")[2].GetDouble());
        var confusion = root.GetProperty("confusion_matrix").Deserialize<int[][]>()!;
        Assert.Equal([[9, 1, 0], [0, 8, 2], [1, 0, 7]], confusion);
    }

    [Fact]
    public void WriteSummary_is_indented_with_one_line_per_confusion_row()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.WriteSummary(Sample());

        var lines = File.ReadAllLines(output.SummaryPath);
        Assert.Contains(lines, l => l.StartsWith("  \"job_id\": ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Trim() == "[0,8,2],");
    }

    [Fact]
    public void WriteSummary_rejects_a_mode_other_than_local_or_cluster()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);

        var e = Assert.Throws<ArgumentException>(() => output.WriteSummary(Sample(mode: "remote")));
        Assert.Contains("remote", e.Message);
        Assert.False(File.Exists(output.SummaryPath));
    }

    [Fact]
    public void WriteSummary_rejects_per_class_figures_that_do_not_match_the_class_names()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);

        var e = Assert.Throws<ArgumentException>(() => output.WriteSummary(Sample() with { Recall = [0.5, 0.5] }));
        Assert.Contains("recall has 2 entries", e.Message);
    }

    [Fact]
    public void WriteSummary_replaces_an_earlier_summary_and_leaves_no_temporary_files()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.WriteSummary(Sample());
        output.WriteSummary(Sample() with { TestAccuracy = 0.5 });

        Assert.Equal([RunOutput.SummaryFile], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        var root = JsonDocument.Parse(File.ReadAllText(output.SummaryPath)).RootElement;
        Assert.Equal(0.5, root.GetProperty("test_accuracy").GetDouble());
    }

    [Fact]
    public void ToJagged_keeps_rows_as_true_classes_and_columns_as_predictions()
    {
        var jagged = RunSummary.ToJagged(new[,] { { 1, 2 }, { 3, 4 } });
        Assert.Equal([[1, 2], [3, 4]], jagged);
    }
}
