using System.Text.Json;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Interchange;
using DistTrain.Core.Interchange.Onnx;

namespace DistTrain.Cli.Commands;

/// <summary>
/// <c>disttrain export</c>: a checkpoint's model as ONNX or safetensors (docs/interchange.md); also the
/// helpers behind <c>train --export</c> and <c>train --init-from</c>.
/// </summary>
public static class ExportCommand
{
    public const string Usage = """
        usage: disttrain export CHECKPOINT --format onnx|safetensors [--out FILE]
        Writes the checkpoint's trained model for other tools (docs/interchange.md):
          onnx          ONNX (opset 13) graph; inputs "input" (N, ...input_shape), outputs "output" (the
                        model's last layer, as disttrain computes it) and "probabilities" (what predict prints)
          safetensors   the weights named as PyTorch names the equivalent nn.Sequential ("0.weight", "0.bias", ...),
                        the model spec in the metadata
        Inputs are the standardised features the model was trained on; the checkpoint's standardisation is
        stored in the metadata ("disttrain.normalization").
          --out FILE    output file (default: the checkpoint's name with .onnx or .safetensors)
        """;

    public static readonly string[] Formats = ["onnx", "safetensors"];

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        // The checkpoint may come first, without an option name.
        var positional = args.Count > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : null;
        var cl = CommandLine.Parse("export", positional is null ? args : args.Skip(1).ToArray(), ["checkpoint", "format", "out"], ["help"]);
        if (cl.Has("help")) { stdout.WriteLine(Usage); return 0; }
        if (positional is not null && cl.Has("checkpoint")) throw new UsageException("give the checkpoint once: either first or with --checkpoint");
        var path = positional ?? cl.String("checkpoint") ?? throw new UsageException("a checkpoint is required: disttrain export CHECKPOINT --format onnx|safetensors");
        var format = ParseFormat(cl.String("format"), "--format") ?? throw new UsageException("--format onnx|safetensors is required");
        if (!File.Exists(path)) throw new UsageException($"{path}: no such checkpoint file");
        var ck = CheckpointFile.Read(path);
        var outPath = cl.String("out") ?? Path.ChangeExtension(path, Extension(format));
        Export(ck, format, outPath);
        stdout.WriteLine($"wrote {outPath}: {format} export of {path} ({ck.Parameters.Length:N0} parameters, epoch {ck.Metadata.Epoch})");
        return 0;
    }

    /// <summary>"onnx" or "safetensors" (any case); null when <paramref name="value"/> is null.</summary>
    public static string? ParseFormat(string? value, string option)
    {
        if (value is null) return null;
        var f = value.Trim().ToLowerInvariant();
        return Array.IndexOf(Formats, f) >= 0 ? f : throw new UsageException($"{option} must be onnx or safetensors (got '{value}')");
    }

    public static string Extension(string format) => format == "onnx" ? OnnxExport.Extension : SafeTensors.Extension;

    /// <summary>Writes <paramref name="ck"/>'s model to <paramref name="outPath"/> (atomically).</summary>
    public static void Export(Checkpoint ck, string format, string outPath)
    {
        var metadata = Metadata(ck);
        if (format == "onnx") OnnxExport.Write(outPath, ck.Spec, ck.Parameters, ck.Metadata.Loss, metadata);
        else ModelWeights.WriteSafeTensors(outPath, ck.Spec, ck.Parameters, metadata);
    }

    /// <summary>What a consumer needs besides the weights: class names, loss, input standardisation, epoch.</summary>
    public static Dictionary<string, string> Metadata(Checkpoint ck)
    {
        var m = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["disttrain.class_names"] = JsonSerializer.Serialize(ck.Metadata.ClassNames),
            ["disttrain.loss"] = ck.Metadata.Loss.ToString(),
            ["disttrain.epoch"] = ck.Metadata.Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (ck.Metadata.Normalization is { } n)
            m["disttrain.normalization"] = JsonSerializer.Serialize(new { mean = n.Mean, std = n.Std });
        return m;
    }

    /// <summary>
    /// <c>train --init-from</c>: imports the safetensors weights for the job's model (every tensor checked;
    /// a FormatException names the file and tensor) and writes them as an epoch-0 checkpoint without
    /// optimizer state, which training then starts from exactly as --resume would.
    /// </summary>
    public static string WriteInitialCheckpoint(string weightsPath, TrainingJob job, IReadOnlyList<string> classNames, string folder)
    {
        if (!File.Exists(weightsPath)) throw new UsageException($"--init-from {weightsPath}: no such safetensors file");
        var parameters = ModelWeights.ReadSafeTensors(weightsPath, job.Model);
        var ck = new Checkpoint(job.Model, parameters, null, null, new CheckpointMetadata(0, 0, job.Seed, classNames, job.Loss));
        var path = Path.Combine(folder, InitialCheckpointFile);
        CheckpointFile.Write(path, ck);
        return path;
    }

    public const string InitialCheckpointFile = ".init-from.dtck";
}
