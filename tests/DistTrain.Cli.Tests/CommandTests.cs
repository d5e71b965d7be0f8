using System.Text.Json;

namespace DistTrain.Cli.Tests;

/// <summary>The disttrain commands end to end, in-process: exit codes, console output and files.</summary>
public class CommandTests
{
    private static async Task<(int Exit, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static JsonElement Summary(string folder) => JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json"))).RootElement;

    [Theory]
    [InlineData("train")]
    [InlineData("submit")]
    public async Task Help_puts_every_option_group_on_a_line_of_its_own(string command)
    {
        var (exit, output, _) = await Run(command, "--help");
        Assert.Equal(0, exit);
        // The usage text is assembled from several option blocks; each must start on a new line.
        var lines = output.Split('\n').Select(l => l.TrimStart()).ToList();
        foreach (var option in new[] { "--preset", "--base", "--mode", "--compress" })
            Assert.True(lines.Any(l => l.StartsWith(option, StringComparison.Ordinal)), $"{option} does not start a line in:\n{output}");
    }

    [Fact]
    public async Task Train_with_defaults_learns_the_penguins_and_writes_every_output_file()
    {
        using var tmp = new TempFolder();
        var (exit, output, err) = await Run("train", "--out", tmp.Path, "--workers", "2");
        Assert.True(exit == 0, err);
        foreach (var f in new[] { "checkpoint.dtck", "metrics.jsonl", "summary.json", "job.json", "loss.png", "accuracy.png", "confusion.png" })
            Assert.True(File.Exists(tmp.File(f)), $"{f} missing");
        // job.json is the job as run: `disttrain node --job` reads it back.
        var job = Commands.JobFile.Read(tmp.File("job.json"));
        Assert.Equal((100, 42ul, "penguins", Path.GetFullPath(tmp.Path)), (job.Epochs, job.Seed, job.Data.Kind, job.OutputDirectory));
        var summary = Summary(tmp.Path);
        Assert.True(summary.GetProperty("test_accuracy").GetDouble() >= 0.95);
        Assert.Equal("local", summary.GetProperty("mode").GetString());
        Assert.Equal(2, summary.GetProperty("workers").GetInt32());
        Assert.Equal(64, summary.GetProperty("parameters_sha256").GetString()!.Length);
        Assert.Equal(100, File.ReadAllLines(tmp.File("metrics.jsonl")).Length);
        // Plain progress (not a terminal): one line per epoch, then the result.
        Assert.Contains("epoch 100/100 train_loss=", output);
        Assert.Contains("test accuracy 0.9", output);
    }

    [Fact]
    public async Task Evaluate_rebuilds_the_test_split_and_reproduces_the_training_summary()
    {
        using var tmp = new TempFolder();
        Assert.Equal(0, (await Run("train", "--out", tmp.Path, "--epochs", "30")).Exit);
        var expected = Summary(tmp.Path).GetProperty("test_accuracy").GetDouble();
        var (exit, output, err) = await Run("evaluate", "--checkpoint", tmp.File("checkpoint.dtck"));
        Assert.True(exit == 0, err);
        Assert.Contains($"accuracy {expected:0.0000}", output);
        Assert.Contains("confusion matrix", output);
    }

    [Fact]
    public async Task Predict_prints_class_probabilities_in_the_course_notes_form()
    {
        using var tmp = new TempFolder();
        Assert.Equal(0, (await Run("train", "--out", tmp.Path)).Exit);
        var (exit, output, err) = await Run("predict", "--checkpoint", tmp.File("checkpoint.dtck"),
            "--values", "39.1,18.7,181,3750", "--values", "50,15.2,218,5700");
        Assert.True(exit == 0, err);
        var lines = output.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Contains("y = [P(Adelie), P(Gentoo), P(Chinstrap)] = [", lines[0]);
        Assert.EndsWith("-> Adelie", lines[0].Trim());
        Assert.EndsWith("-> Gentoo", lines[1].Trim());
        var probs = lines[0].Split("= [")[2].Split(']')[0].Split(", ").Select(double.Parse).ToArray();
        Assert.Equal(1.0, probs.Sum(), 3);
    }

    [Fact]
    public async Task Predict_an_image_file_gives_the_probabilities_of_the_same_image_in_the_dataset()
    {
        using var tmp = new TempFolder();
        var (trainExit, _, trainErr) = await Run("train", "--preset", "shapes-cnn", "--epochs", "1", "--count", "600", "--workers", "1", "--out", tmp.Path);
        Assert.True(trainExit == 0, trainErr);
        var ckPath = tmp.File("checkpoint.dtck");
        var ck = Core.Checkpoints.CheckpointFile.Read(ckPath);
        var job = Cluster.Jobs.JobMetadata.FromCheckpoint(ck, ckPath);
        var test = new Cluster.Jobs.PresetDataLoader().Load(job).Test;
        var shape = test.SampleShape; // (1, 20, 20)
        var model = new Core.Models.Model(ck.Spec);
        ck.Parameters.CopyTo(model.Parameters, 0);
        var loss = Core.Losses.Loss.Create(ck.Metadata.Loss);

        var files = new List<string>();
        var expected = new List<float[]>();
        for (var id = 0; id < 3; id++)
        {
            // The dataset's image as a grey PNG (R = G = B = the pixel), then the model's probabilities for it in memory.
            var x = new float[shape.Size];
            test.CopyInputs([id], x, Core.Layers.BatchContext.Inference(1));
            using var bitmap = new SkiaSharp.SKBitmap(shape[2], shape[1]);
            for (var r = 0; r < shape[1]; r++)
            for (var c = 0; c < shape[2]; c++)
            {
                var v = (byte)Math.Round(x[r * shape[2] + c] * 255f);
                bitmap.SetPixel(c, r, new SkiaSharp.SKColor(v, v, v));
            }
            var file = tmp.File($"shape-{id}.png");
            using (var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100))
                File.WriteAllBytes(file, data.ToArray());
            files.Add(file);
            var probs = new float[3];
            loss.ToProbabilities(model.Forward(x, Core.Layers.BatchContext.Inference(1)), probs, 1, 3);
            expected.Add(probs);
        }

        var (exit, output, err) = await Run(["predict", "--checkpoint", ckPath, .. files.SelectMany(f => new[] { "--image", f })]);
        Assert.True(exit == 0, err);
        var lines = output.Trim().Split('\n');
        Assert.Equal(3, lines.Length);
        for (var i = 0; i < 3; i++)
        {
            Assert.StartsWith(files[i], lines[i]);
            var printed = lines[i].Split("= [")[2].Split(']')[0].Split(", ").Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            for (var k = 0; k < 3; k++) Assert.Equal(expected[i][k], printed[k], 4);
            Assert.EndsWith($"-> {ck.Metadata.ClassNames[Core.Losses.Loss.ArgMax(expected[i])]}", lines[i].Trim());
        }

        var (badExit, _, badErr) = await Run("predict", "--checkpoint", ckPath, "--image", tmp.File("missing.png"));
        Assert.Equal(2, badExit);
        Assert.Contains("missing.png: no such file", badErr);
        File.WriteAllText(tmp.File("not-an-image.png"), "hello");
        (badExit, _, badErr) = await Run("predict", "--checkpoint", ckPath, "--image", tmp.File("not-an-image.png"));
        Assert.Equal(2, badExit);
        Assert.Contains("not-an-image.png", badErr);
    }

    [Fact]
    public async Task Resuming_from_a_checkpoint_gives_the_parameters_of_the_uninterrupted_run()
    {
        using var full = new TempFolder();
        using var half = new TempFolder();
        Assert.Equal(0, (await Run("train", "--out", full.Path, "--epochs", "6", "--workers", "2")).Exit);
        Assert.Equal(0, (await Run("train", "--out", half.Path, "--epochs", "3", "--workers", "2")).Exit);
        var (exit, _, err) = await Run("train", "--out", half.Path, "--epochs", "6", "--workers", "2", "--resume", half.File("checkpoint.dtck"));
        Assert.True(exit == 0, err);
        Assert.Equal(Summary(full.Path).GetProperty("parameters_sha256").GetString(), Summary(half.Path).GetProperty("parameters_sha256").GetString());
        Assert.Equal(6, File.ReadAllLines(half.File("metrics.jsonl")).Length);
    }

    [Theory]
    [InlineData("unknown command", "fly")]
    [InlineData("unknown option --nope", "train", "--nope", "1")]
    [InlineData("Unknown preset 'mnist'", "train", "--preset", "mnist")]
    [InlineData("--epochs must be a whole number", "train", "--epochs", "ten")]
    [InlineData("--batch-size must be between 1", "train", "--batch-size", "0")]
    [InlineData("--data /no/such.csv: no such file", "train", "--data", "/no/such.csv")]
    [InlineData("Unknown optimizer 'rmsprop'", "train", "--optimizer", "rmsprop")]
    [InlineData("--checkpoint FILE is required", "evaluate")]
    [InlineData("nothing to predict", "predict", "--checkpoint", "CHECKPOINT")]
    public async Task Bad_input_exits_with_code_2_and_a_message_that_names_it(string expected, params string[] args)
    {
        using var tmp = new TempFolder();
        if (args.Contains("CHECKPOINT"))
        {
            Assert.Equal(0, (await Run("train", "--out", tmp.Path, "--epochs", "1")).Exit);
            args = args.Select(a => a == "CHECKPOINT" ? tmp.File("checkpoint.dtck") : a).ToArray();
        }
        var outDir = Path.Combine(tmp.Path, "out");
        var withOut = args[0] == "train" ? [.. args, "--out", outDir] : args;
        var (exit, _, err) = await Run(withOut);
        Assert.Equal(2, exit);
        Assert.Contains(expected, err);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), "bad input left files behind");
    }

    [Fact]
    public async Task A_csv_with_wrong_columns_is_refused_naming_the_file_and_column()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp.File("bad.csv"), "a,b,label\n1,2,x\n3,4,y\n");
        var outDir = tmp.File("out");
        var (exit, _, err) = await Run("train", "--data", tmp.File("bad.csv"), "--label", "label", "--features", "a,c", "--out", outDir);
        Assert.Equal(2, exit);
        Assert.Contains("bad.csv", err);
        Assert.Contains("'c'", err);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task Resuming_from_a_checkpoint_of_another_model_is_refused()
    {
        using var tmp = new TempFolder();
        Assert.Equal(0, (await Run("train", "--out", tmp.Path, "--epochs", "1")).Exit);
        File.WriteAllText(tmp.File("other.json"), """{"input_shape":[4],"layers":[{"type":"dense","units":7},{"type":"dense","units":3}]}""");
        var (exit, _, err) = await Run("train", "--model", tmp.File("other.json"), "--data", "../../../../../data/penguins.csv", "--label", "species",
            "--features", "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g", "--resume", tmp.File("checkpoint.dtck"), "--out", tmp.File("o2"));
        Assert.Equal(2, exit);
        Assert.Contains("holds a different model", err);
    }

    [Fact]
    public async Task Summary_prints_the_model_table_with_parameter_counts()
    {
        var (exit, output, _) = await Run("summary", "--preset", "penguins");
        Assert.Equal(0, exit);
        Assert.Contains("dense_0 (Dense)", output);
        Assert.Contains("Total params: 73", output); // (4*5+5) + (5*5+5) + (5*3+3)
    }
}
