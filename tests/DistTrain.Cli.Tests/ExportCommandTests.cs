using System.Security.Cryptography;
using System.Runtime.InteropServices;
using System.Text.Json;
using DistTrain.Cli.Commands;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Interchange;
using DistTrain.Core.Interchange.Onnx;
using DistTrain.Core.Models;

namespace DistTrain.Cli.Tests;

/// <summary>One short penguins run shared by the export tests (3 epochs, --export safetensors).</summary>
public sealed class TrainedPenguins : IDisposable
{
    private readonly TempFolder _folder = new();

    public TrainedPenguins()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Exit = Program.RunAsync(["train", "--out", _folder.Path, "--epochs", "3", "--workers", "1", "--export", "safetensors"], stdout, stderr).GetAwaiter().GetResult();
        Out = stdout.ToString();
        Err = stderr.ToString();
    }

    public int Exit { get; }
    public string Out { get; }
    public string Err { get; }
    public string Folder => _folder.Path;
    public string Checkpoint => _folder.File("checkpoint.dtck");
    public JsonElement Summary => JsonDocument.Parse(File.ReadAllText(_folder.File("summary.json"))).RootElement;

    public void Dispose() => _folder.Dispose();
}

/// <summary><c>disttrain export</c>, <c>train --export</c> and <c>train --init-from</c>, in-process.</summary>
public sealed class ExportCommandTests(TrainedPenguins run) : IClassFixture<TrainedPenguins>
{
    private static async Task<(int Exit, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static bool BitIdentical(float[] a, float[] b) => MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.AsSpan()));

    [Fact]
    public void Train_with_export_safetensors_writes_the_final_weights_with_pytorch_names_and_metadata()
    {
        Assert.True(run.Exit == 0, run.Err);
        var path = Path.Combine(run.Folder, "model.safetensors");
        Assert.Contains($"exported {path}", run.Out);
        var ck = CheckpointFile.Read(run.Checkpoint);
        var content = SafeTensors.Read(path);
        Assert.True(BitIdentical(ck.Parameters, ModelWeights.FromSafeTensors(ck.Spec, content)));
        Assert.Equal(["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"], content.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal(ck.Spec, ModelWeights.StoredSpec(content));
        Assert.Equal(["Adelie", "Gentoo", "Chinstrap"], JsonSerializer.Deserialize<string[]>(content.Metadata["disttrain.class_names"])!);
        var norm = JsonDocument.Parse(content.Metadata["disttrain.normalization"]).RootElement;
        Assert.Equal(ck.Metadata.Normalization!.Mean, norm.GetProperty("mean").EnumerateArray().Select(e => e.GetSingle()));
    }

    [Fact]
    public async Task Export_onnx_writes_the_graph_of_the_checkpoint_next_to_it_by_default()
    {
        Assert.True(run.Exit == 0, run.Err);
        using var tmp = new TempFolder();
        var copy = tmp.File("penguins.dtck");
        File.Copy(run.Checkpoint, copy);
        var (exit, output, err) = await Run("export", copy, "--format", "onnx");
        Assert.True(exit == 0, err);
        var onnx = tmp.File("penguins.onnx");
        Assert.Contains($"wrote {onnx}", output);
        var ck = CheckpointFile.Read(copy);
        // Deterministic: the same bytes as the library export with the checkpoint's metadata (ONNX Runtime
        // runs such graphs in tests/DistTrain.Interchange.Tests).
        Assert.Equal(OnnxExport.ToBytes(ck.Spec, ck.Parameters, ck.Metadata.Loss, ExportCommand.Metadata(ck)), File.ReadAllBytes(onnx));
    }

    [Fact]
    public async Task Export_safetensors_with_out_and_checkpoint_option_round_trips_bit_for_bit()
    {
        Assert.True(run.Exit == 0, run.Err);
        using var tmp = new TempFolder();
        var target = tmp.File("sub/w.safetensors");
        var (exit, _, err) = await Run("export", "--checkpoint", run.Checkpoint, "--format", "SafeTensors", "--out", target);
        Assert.True(exit == 0, err);
        var ck = CheckpointFile.Read(run.Checkpoint);
        Assert.True(BitIdentical(ck.Parameters, ModelWeights.ReadSafeTensors(target, ck.Spec)));
    }

    [Theory]
    [InlineData("missing", "no such checkpoint file")]
    [InlineData("corrupt", "cannot be read")]
    [InlineData("format", "--format must be onnx or safetensors (got 'tflite')")]
    [InlineData("noformat", "--format onnx|safetensors is required")]
    public async Task Export_with_bad_input_exits_2_naming_the_problem(string kind, string expected)
    {
        using var tmp = new TempFolder();
        var path = tmp.File("ck.dtck");
        if (kind == "corrupt") File.WriteAllBytes(path, [1, 2, 3]);
        if (kind is "format" or "noformat") File.Copy(run.Checkpoint, path);
        string[] args = kind switch
        {
            "format" => ["export", path, "--format", "tflite"],
            "noformat" => ["export", path],
            _ => ["export", path, "--format", "onnx"],
        };
        var (exit, _, err) = await Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, err);
        if (kind is "missing" or "corrupt") Assert.Contains(path, err);
        Assert.False(File.Exists(tmp.File("ck.onnx")));
    }

    [Fact]
    public async Task Train_init_from_starts_from_the_imported_weights()
    {
        Assert.True(run.Exit == 0, run.Err);
        using var tmp = new TempFolder();
        var weights = Path.Combine(run.Folder, "model.safetensors");
        var imported = CheckpointFile.Read(run.Checkpoint).Parameters;
        // Plain SGD with a learning rate far below any parameter's last bit: training leaves the weights as
        // they started, so the run's final parameters are the imported ones exactly, and it scores the same.
        var (exit, output, err) = await Run("train", "--out", tmp.Path, "--epochs", "1", "--workers", "1",
            "--optimizer", "sgd", "--lr", "1e-30", "--init-from", weights);
        Assert.True(exit == 0, err);
        var summary = JsonDocument.Parse(File.ReadAllText(tmp.File("summary.json"))).RootElement;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(imported.AsSpan()))), summary.GetProperty("parameters_sha256").GetString());
        Assert.Equal(run.Summary.GetProperty("test_accuracy").GetDouble(), summary.GetProperty("test_accuracy").GetDouble());
        Assert.False(File.Exists(tmp.File(ExportCommand.InitialCheckpointFile)));
        Assert.Contains("epoch 1/1", output);
    }

    [Fact]
    public async Task Train_init_from_weights_of_another_model_exits_2_naming_the_file_and_tensor()
    {
        using var tmp = new TempFolder();
        var other = new ModelSpec([4], [new DenseSpec(6), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(5), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(3)]);
        var path = tmp.File("other.safetensors");
        ModelWeights.WriteSafeTensors(path, other, new float[new Model(other).ParameterCount]);
        var (exit, _, err) = await Run("train", "--out", tmp.File("out"), "--epochs", "1", "--init-from", path);
        Assert.Equal(2, exit);
        Assert.Contains(path, err);
        Assert.Contains("'0.weight'", err);
        Assert.Contains("has shape [6, 4]; expected [5, 4]", err);
    }

    [Theory]
    [InlineData("missing", "no such safetensors file")]
    [InlineData("garbage", "not a valid safetensors file")]
    public async Task Train_init_from_a_missing_or_malformed_file_exits_2_naming_it(string kind, string expected)
    {
        using var tmp = new TempFolder();
        var path = tmp.File("w.safetensors");
        if (kind == "garbage") File.WriteAllBytes(path, [9, 0, 0, 0, 0, 0, 0, 0, (byte)'{', 1, 2]);
        var (exit, _, err) = await Run("train", "--out", tmp.File("out"), "--epochs", "1", "--init-from", path);
        Assert.Equal(2, exit);
        Assert.Contains(path, err);
        Assert.Contains(expected, err);
    }

    [Theory]
    [InlineData("--export", "pickle", "--export must be onnx or safetensors (got 'pickle')")]
    [InlineData("--resume", "x.dtck", "--init-from and --resume exclude each other")]
    public async Task Train_refuses_bad_interchange_options_before_training(string option, string value, string expected)
    {
        using var tmp = new TempFolder();
        string[] args = option == "--resume"
            ? ["train", "--out", tmp.Path, "--init-from", "w.safetensors", option, value]
            : ["train", "--out", tmp.Path, option, value];
        var (exit, _, err) = await Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, err);
        Assert.False(File.Exists(tmp.File("metrics.jsonl")));
    }
}
