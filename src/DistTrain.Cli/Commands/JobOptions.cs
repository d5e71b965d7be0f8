using DistTrain.Cluster.Jobs;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cli.Commands;

/// <summary>Turns command-line options into a <see cref="TrainingJob"/>: a preset, then overrides.</summary>
public static class JobOptions
{
    public static readonly string[] ValueOptions =
    [
        "preset", "model", "data", "label", "features", "loss", "epochs", "batch-size", "optimizer", "lr", "momentum",
        "weight-decay", "seed", "patience", "limit", "train-fraction", "val-fraction", "image-size", "channels", "count",
        .. FeatureOptions.JobValueOptions, .. FeatureOptions.NodeValueOptions,
        .. CommunicationOptions.ValueOptions, .. TransferOptions.ValueOptions,
    ];

    public static readonly string[] Flags = ["augment", "no-augment", "nesterov"];

    public static TrainingJob Build(CommandLine cl)
    {
        var preset = cl.String("preset") ?? (cl.Has("model") ? null : cl.Has("images") || FeatureOptions.IsFeatureBase(cl.String("base")) ? "shapes-resnet" : "penguins");
        var seed = cl.ULong("seed") ?? 42;
        TrainingJob job;
        if (preset is not null)
        {
            try
            {
                job = Presets.Get(preset, seed);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
        }
        else
        {
            job = new TrainingJob("custom", new DataSpec("csv"), Presets.PenguinsModel, LossKind.SoftmaxCrossEntropy,
                new OptimizerSpec(OptimizerKind.Adam, 1e-3f), Epochs: 10, BatchSize: 32, Seed: seed);
        }

        var data = job.Data;
        if (cl.String("data") is { } path)
        {
            // A path on its own: a CSV for tabular presets, an idx folder for fashion-mnist.
            data = data with { Path = path, Kind = data.Kind == "penguins" && cl.Has("label") ? "csv" : data.Kind };
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new UsageException($"--data {path}: no such file or folder");
        }
        if (cl.String("label") is { } label) data = data with { Kind = "csv", LabelColumn = label };
        if (cl.String("features") is { } features)
            data = data with { FeatureColumns = features.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) };
        if (cl.Int("limit", 1) is { } limit) data = data with { Limit = limit };
        if (cl.Int("image-size", 8, 512) is { } size) data = data with { ImageSize = size };
        if (cl.Int("channels", 1, 3) is { } ch) data = data with { Channels = ch };
        if (cl.Int("count", 3) is { } count) data = data with { Count = count };
        if (cl.Has("augment")) data = data with { Augment = true };
        if (cl.Has("no-augment")) data = data with { Augment = false };

        var model = job.Model;
        if (cl.String("model") is { } modelPath)
        {
            if (!File.Exists(modelPath)) throw new UsageException($"--model {modelPath}: no such file");
            model = ModelSpec.FromJson(File.ReadAllText(modelPath), modelPath);
        }
        else if (job.Data.Kind == "shapes" && data.Features is null && (data.ImageSize != job.Data.ImageSize || data.Channels != job.Data.Channels))
        {
            model = Presets.ShapesCnn(data.ImageSize, data.Channels);
        }

        var opt = job.Optimizer;
        if (cl.String("optimizer") is { } o)
        {
            try
            {
                var kind = OptimizerSpec.ParseKind(o);
                opt = new OptimizerSpec(kind, kind == OptimizerKind.Adadelta ? 1.0f : opt.LearningRate);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
        }
        if (cl.Double("lr", 0) is { } lr) opt = opt with { LearningRate = (float)lr };
        if (cl.Double("momentum", 0, 0.999999) is { } m) opt = opt with { Momentum = (float)m };
        if (cl.Double("weight-decay", 0) is { } wd) opt = opt with { WeightDecay = (float)wd };
        if (cl.Has("nesterov")) opt = opt with { Nesterov = true };

        var loss = job.Loss;
        if (cl.String("loss") is { } l)
        {
            try { loss = Loss.Parse(l); }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
        }

        job = job with
        {
            JobId = $"{preset ?? Path.GetFileNameWithoutExtension(cl.String("model"))}-{seed}",
            Data = data,
            Model = model,
            Optimizer = opt,
            Loss = loss,
            Epochs = cl.Int("epochs", 1, 1_000_000) ?? job.Epochs,
            BatchSize = cl.Int("batch-size", 1, 1 << 20) ?? job.BatchSize,
            Patience = cl.Int("patience", 0) ?? job.Patience,
            TrainFraction = cl.Double("train-fraction", 0.01, 1) ?? job.TrainFraction,
            ValidationFraction = cl.Double("val-fraction", 0, 0.99) ?? job.ValidationFraction,
        };
        job = FeatureOptions.Apply(cl, job, modelGiven: cl.Has("model"));
        job = TransferOptions.Apply(cl, job);
        job = CommunicationOptions.Apply(cl, job);
        try
        {
            job.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        return job;
    }

    public const string Help = """
          --preset NAME          penguins (default) | fashion-mlp | fashion-cnn | shapes-cnn | shapes-resnet
          --model FILE           model spec JSON instead of the preset's network
          --data PATH            CSV file (penguins, csv) or idx folder (fashion-*); default: bundled/installed data
          --label COL --features A,B,...   train on any CSV: label column and numeric feature columns
          --loss cross-entropy|mse
          --epochs N  --batch-size N  --patience N (early stopping on validation loss; 0 = off)
          --optimizer sgd|adam|adadelta  --lr X  --momentum X  --nesterov  --weight-decay X
          --seed N               every random draw (init, split, shuffle, dropout, augmentation) follows it
          --limit N              use only the first N training samples
          --train-fraction X  --val-fraction X   stratified split of the labelled data
          --image-size N --channels 1|3 --count N  (shapes-cnn)   --augment / --no-augment
        """ + "\n" + TransferOptions.Help + "\n" + FeatureOptions.Help + "\n" + CommunicationOptions.Help;
}
