using System.Globalization;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Models;
using DistTrain.Data;

namespace DistTrain.Cli.Commands;

/// <summary>
/// The transfer-learning options of a job: <c>--classes</c> (a class filter), <c>--base</c> (a DistTrain
/// checkpoint to start from), <c>--head</c> (hidden widths of the new head), <c>--cut</c> (where the base is
/// cut) and <c>--freeze</c> (which layers do not train).
/// </summary>
public static class TransferOptions
{
    // "base" is declared by FeatureOptions: --base resnet18|none is a frozen feature base, anything else a checkpoint.
    public static readonly string[] ValueOptions = ["classes", "head", "cut", "freeze"];

    public const string Help = """
          --classes 5-9          fashion-mnist: only these classes, relabelled 0..k-1 (names kept); also a list 0,2,4
          --base CHECKPOINT      transfer: keep the base's layers before its last dense layer (or --cut N), add a new head
          --head 128[,64]        hidden dense+ReLU widths of the new head (default: none); a final dense with the class count follows
          --cut N                keep base layers 0..N-1 instead
          --freeze SEL           frozen layers: base (default with --base) | none | indices 0-5,7 | names conv2d_0,dense_8
        """;

    public static TrainingJob Apply(CommandLine cl, TrainingJob job)
    {
        if (cl.String("classes") is { } classesText)
        {
            try
            {
                job = job with { Data = job.Data with { Classes = ClassSubset.Parse(classesText) } };
            }
            catch (FormatException e)
            {
                throw new UsageException($"--classes: {e.Message}");
            }
        }
        var classes = job.Data.Classes?.Count ?? job.Model.Layers[^1] switch
        {
            DenseSpec d => d.Units,
            _ => 0,
        };
        var freeze = cl.String("freeze");
        try
        {
            if (cl.String("base") is not { } basePath || FeatureOptions.IsFeatureBase(basePath))
            {
                if (cl.Has("head") || cl.Has("cut")) throw new UsageException("--head and --cut replace the head of a trained network: give it with --base CHECKPOINT");
                var model = job.Model;
                // A class filter changes the class count: resize the preset's output layer to it.
                if (job.Data.Classes is not null && model.Layers[^1] is DenseSpec last && last.Units != classes)
                    model = new ModelSpec(model.InputShape, [.. model.Layers.Take(model.Layers.Count - 1), last with { Units = classes }]);
                if (freeze is not null) model = Transfer.Freeze(model, freeze);
                return job with { Model = model };
            }
            if (!File.Exists(basePath)) throw new UsageException($"--base {basePath}: no such checkpoint file (--base takes resnet18, none, or the path of a DistTrain checkpoint)");
            Checkpoint ck;
            try
            {
                ck = CheckpointFile.Read(basePath);
            }
            catch (CheckpointFormatException e)
            {
                throw new UsageException($"--base: {e.Message}");
            }
            if (classes < 1) throw new UsageException("--base: cannot tell the number of classes for the new head; give --classes");
            var transfer = Transfer.WithNewHead(ck.Spec, classes, ParseHead(cl.String("head")), cl.Int("cut", 1));
            var spec = Transfer.Freeze(transfer.Spec, freeze ?? "base", transfer.BaseLayers);
            var sha = Transfer.LoadBase(new Model(spec), ck, $"base checkpoint {basePath}");
            return job with { Model = spec, Base = new BaseModel(Path.GetFullPath(basePath), sha) };
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static int[] ParseHead(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text == "none") return [];
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var units = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out units[i]) || units[i] < 1)
                throw new UsageException($"--head {text}: '{parts[i]}' is not a positive layer width; expected e.g. 128 or 256,64");
        return units;
    }
}
