using System.Globalization;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Training;
using DistTrain.Data.Evaluation;
using DistTrain.Data.Idx;

namespace DistTrain.Cli.Commands;

/// <summary><c>evaluate</c>, <c>predict</c> and <c>summary</c>: use a checkpoint without training.</summary>
public static class InspectCommands
{
    public const string EvaluateUsage = """
        usage: disttrain evaluate --checkpoint FILE [--split test|validation|train] [--data PATH]
        Rebuilds the data split the checkpoint was trained with (same source, fractions and seed) and prints
        accuracy, per-class precision/recall and the confusion matrix.
        """;

    public const string PredictUsage = """
        usage: disttrain predict --checkpoint FILE (--values "v1,v2,..." [--values ...] | --csv FILE
                                 | --idx IMAGES.idx[.gz] [--index N] [--count N] | --image FILE.png|jpg [--image ...])
                                [--resnet-model PATH]
        Prints class probabilities y = [P(class 1), P(class 2), ...] and the chosen class for each input.
        Tabular values are given raw (e.g. penguin measurements in mm and g); the checkpoint's
        standardisation is applied. Images from an idx file are scaled to [0, 1] like training. Image files
        are decoded as training decodes an image folder: grey (0.299 R + 0.587 G + 0.114 B) or RGB as the
        model's input has 1 or 3 channels, resampled to its size, scaled to [0, 1]; for a head trained on
        ResNet-18 features (--base resnet18) the image goes through ResNet-18 first (--resnet-model, as for train).
        Fashion-MNIST models expect a light item on a black background, as in the dataset.
        """;

    public const string SummaryUsage = """
        usage: disttrain summary [--preset NAME | --model FILE | --checkpoint FILE]
        Prints the model table: layer, output shape, parameter count.
        """;

    public static int Evaluate(IReadOnlyList<string> args, TextWriter stdout)
    {
        var cl = CommandLine.Parse("evaluate", args, ["checkpoint", "split", "data"], ["help"]);
        if (cl.Has("help")) { stdout.WriteLine(EvaluateUsage); return 0; }
        var (ck, path) = ReadCheckpoint(cl);
        var job = JobMetadata.FromCheckpoint(ck, path);
        if (cl.String("data") is { } d) job = job with { Data = job.Data with { Path = d } };
        var data = new Onnx.FeatureDataLoader(new PresetDataLoader()).Load(job);
        var split = (cl.String("split") ?? "test").ToLowerInvariant() switch
        {
            "test" => DataSplit.Test,
            "validation" or "val" => DataSplit.Validation,
            "train" => DataSplit.Train,
            var s => throw new UsageException($"--split must be test, validation or train (got '{s}')"),
        };
        var set = data.Get(split);
        if (set.Count == 0) throw new UsageException($"the {split} split of this job is empty");
        var model = new Predictor(ck, $"checkpoint {path}").Model;
        TrainCommand.CheckCompatible(job, data, model);
        var computer = new GradientComputer(model, Loss.Create(ck.Metadata.Loss));
        var predictions = new int[set.Count];
        var r = computer.Evaluate(set, 512, predictions);
        var labels = new int[set.Count];
        for (var i = 0; i < labels.Length; i++) labels[i] = set.Label(i);
        var report = new ClassificationReport(labels, predictions, data.ClassNames);
        stdout.WriteLine($"{path}: {split} split of {TrainCommand.Describe(job.Data)}, {set.Count} samples");
        stdout.WriteLine(report.ToString());
        stdout.WriteLine($"accuracy {(double)r.Correct / r.Samples:0.0000}, loss {r.LossSum / r.Samples:0.0000}");
        return 0;
    }

    public static int Predict(IReadOnlyList<string> args, TextWriter stdout)
    {
        // --values may repeat: collect them before the strict parser sees the rest.
        var values = new List<string>();
        var images = new List<string>();
        var rest = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--values")
            {
                if (i + 1 >= args.Count) throw new UsageException("--values needs a value");
                values.Add(args[++i]);
            }
            else if (args[i] == "--image")
            {
                if (i + 1 >= args.Count) throw new UsageException("--image needs a file");
                images.Add(args[++i]);
            }
            else rest.Add(args[i]);
        }
        var cl = CommandLine.Parse("predict", rest, ["checkpoint", "csv", "idx", "index", "count", "resnet-model"], ["help"]);
        if (cl.Has("help")) { stdout.WriteLine(PredictUsage); return 0; }
        var (ck, path) = ReadCheckpoint(cl);
        var predictor = new Predictor(ck, $"checkpoint {path}");
        var model = predictor.Model;
        var inputSize = model.InputShape.Size;
        var rows = new List<(string Label, float[] X)>();
        foreach (var v in values) rows.Add((v, ParseRow(v, inputSize, "--values")));
        if (cl.String("csv") is { } csv)
        {
            if (!File.Exists(csv)) throw new UsageException($"--csv {csv}: no such file");
            var lineNo = 0;
            foreach (var line in File.ReadLines(csv))
            {
                lineNo++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                if (lineNo == 1 && !char.IsDigit(line.TrimStart().FirstOrDefault()) && line.TrimStart().FirstOrDefault() is not ('-' or '.')) continue; // header
                rows.Add((line, ParseRow(line, inputSize, $"{csv} line {lineNo}")));
            }
        }
        if (cl.String("idx") is { } idx)
        {
            var (pixels, count, h, w) = IdxReader.ReadImages(idx);
            if (h * w != inputSize) throw new UsageException($"{idx} holds {h}x{w} images but the model expects {model.InputShape}");
            var first = cl.Int("index", 0, count - 1) ?? 0;
            var n = Math.Min(cl.Int("count", 1, 10_000) ?? 1, count - first);
            for (var k = first; k < first + n; k++)
            {
                var x = new float[inputSize];
                for (var j = 0; j < inputSize; j++) x[j] = pixels[k * inputSize + j] / 255f;
                rows.Add(($"{Path.GetFileName(idx)}[{k}]", x));
            }
        }
        if (images.Count > 0) rows.AddRange(ImageRows(images, ck, path, model, cl.String("resnet-model")));
        if (rows.Count == 0) throw new UsageException("nothing to predict: give --values, --csv, --idx or --image");

        // The predictor standardises the raw values as training did (the checkpoint's normalization, if any).
        var names = string.Join(", ", predictor.ClassNames.Select(c => $"P({c})"));
        foreach (var (label, x) in rows)
        {
            var prediction = predictor.Predict(x);
            var p = string.Join(", ", prediction.Probabilities.Select(v => v.ToString("0.0000", CultureInfo.InvariantCulture)));
            stdout.WriteLine($"{label}: y = [{names}] = [{p}] -> {prediction.ClassName}");
        }
        return 0;
    }

    /// <summary>Image files as the model's inputs: decoded like an image folder, through ResNet-18 first for a head on its features.</summary>
    private static IEnumerable<(string Label, float[] X)> ImageRows(List<string> files, Checkpoint ck, string path, Model model, string? resnetModel)
    {
        foreach (var f in files)
            if (!File.Exists(f)) throw new UsageException($"--image {f}: no such file");
        var job = JobMetadata.FromCheckpoint(ck, path);
        var shape = model.InputShape;
        IDataset inputs;
        if (string.Equals(job.Data.Features, Onnx.FeatureDataLoader.ResNet18, StringComparison.OrdinalIgnoreCase))
        {
            var raw = LoadImages(files, Onnx.ResNet18Features.InputSize, 3, ck.Metadata.ClassNames);
            using var fx = new Onnx.ResNet18Features(new Onnx.ResNet18Options(resnetModel));
            inputs = Onnx.FeatureDataLoader.Featurize(fx, raw);
            if (inputs.SampleShape.Size != shape.Size)
                throw new FormatException($"checkpoint {path}: ResNet-18 gives {inputs.SampleShape.Size} features but the model takes {shape}");
        }
        else
        {
            // (C, H, W) images, or a flat input of a square grey image (an MLP on 28x28 pixels).
            var (channels, size) = shape.Rank == 3 && shape[1] == shape[2] && shape[0] is 1 or 3 ? (shape[0], shape[1])
                : shape.Rank == 1 && (int)Math.Round(Math.Sqrt(shape.Size)) is var side && side * side == shape.Size ? (1, side)
                : throw new UsageException($"--image: the model takes inputs of shape {shape}, not images (C, H, W) or a square grey image");
            inputs = LoadImages(files, size, channels, ck.Metadata.ClassNames);
        }
        var n = inputs.SampleShape.Size;
        var all = new float[files.Count * n];
        var ids = Enumerable.Range(0, files.Count).ToArray();
        inputs.CopyInputs(ids, all, BatchContext.Inference(files.Count));
        for (var i = 0; i < files.Count; i++) yield return (files[i], all.AsSpan(i * n, n).ToArray());
    }

    private static IDataset LoadImages(List<string> files, int size, int channels, IReadOnlyList<string> classes)
    {
        try
        {
            return Onnx.ImageFolder.LoadFiles(files, size, channels, classes);
        }
        catch (Data.DataFormatException e)
        {
            throw new FormatException(e.Message, e);
        }
    }

    public static int Summary(IReadOnlyList<string> args, TextWriter stdout)
    {
        var cl = CommandLine.Parse("summary", args, ["preset", "model", "checkpoint"], ["help"]);
        if (cl.Has("help")) { stdout.WriteLine(SummaryUsage); return 0; }
        ModelSpec spec;
        if (cl.Has("checkpoint")) spec = ReadCheckpoint(cl).Checkpoint.Spec;
        else if (cl.String("model") is { } m)
        {
            if (!File.Exists(m)) throw new UsageException($"--model {m}: no such file");
            spec = ModelSpec.FromJson(File.ReadAllText(m), m);
        }
        else
        {
            try { spec = Presets.Get(cl.String("preset") ?? "penguins").Model; }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
        }
        stdout.WriteLine(new Model(spec).Summary().ToString());
        return 0;
    }

    private static (Checkpoint Checkpoint, string Path) ReadCheckpoint(CommandLine cl)
    {
        var path = cl.String("checkpoint") ?? throw new UsageException("--checkpoint FILE is required");
        if (!File.Exists(path)) throw new UsageException($"--checkpoint {path}: no such file");
        return (CheckpointFile.Read(path), path);
    }

    private static float[] ParseRow(string text, int size, string where)
    {
        var parts = text.Split([',', ';', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length != size) throw new UsageException($"{where}: expected {size} numbers but found {parts.Length} in '{text}'");
        var x = new float[size];
        for (var j = 0; j < size; j++)
        {
            if (!float.TryParse(parts[j], NumberStyles.Float, CultureInfo.InvariantCulture, out x[j]) || !float.IsFinite(x[j]))
                throw new UsageException($"{where}: value {j + 1} '{parts[j]}' is not a finite number");
        }
        return x;
    }
}
