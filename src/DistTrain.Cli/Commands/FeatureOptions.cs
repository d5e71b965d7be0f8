using DistTrain.Cluster.Jobs;
using DistTrain.Onnx;

namespace DistTrain.Cli.Commands;

/// <summary>
/// The frozen-base options: <c>--base resnet18</c> and <c>--images FOLDER</c> shape the job (JobOptions),
/// <c>--resnet-model</c> and <c>--onnx-threads</c> are this machine's (never part of the job), and every
/// command that loads data goes through <see cref="Loader"/>.
/// </summary>
public static class FeatureOptions
{
    public static readonly string[] JobValueOptions = ["base", "images"];
    public static readonly string[] NodeValueOptions = ["resnet-model", "onnx-threads"];

    /// <summary>True when --base names a frozen feature base (resnet18, none) rather than a DistTrain checkpoint.</summary>
    public static bool IsFeatureBase(string? value) =>
        value?.ToLowerInvariant() is FeatureDataLoader.ResNet18 or "none";

    public const string Help = """
          --base resnet18        train a head on the 512 features of a frozen pretrained ImageNet ResNet-18
                                 (computed once when the job is prepared; docs/resnet.md); --base none: raw inputs
          --images FOLDER        image folder, one sub-folder per class (PNG/JPEG); implies --base resnet18
                                 unless --model is given
          --resnet-model PATH    ResNet18.onnx or its DnnImageModels folder (default: next to disttrain)
          --onnx-threads N       OnnxRuntime threads for feature extraction (default: one per processor)
        """;

    /// <summary>Applies --base/--images to a job built from the other options.</summary>
    public static TrainingJob Apply(CommandLine cl, TrainingJob job, bool modelGiven)
    {
        var data = job.Data;
        var images = cl.String("images");
        if (images is not null)
        {
            if (!Directory.Exists(images)) throw new UsageException($"--images {images}: no such folder");
            data = data with { Kind = "images", Path = images, Features = modelGiven ? null : FeatureDataLoader.ResNet18 };
        }
        switch (cl.String("base")?.ToLowerInvariant())
        {
            case null: break;
            case FeatureDataLoader.ResNet18: data = data with { Features = FeatureDataLoader.ResNet18 }; break;
            case "none": data = data with { Features = null }; break;
            default: break; // a DistTrain checkpoint: TransferOptions keeps its layers and adds a new head
        }
        if (data.Kind == "images" && data.Features is null && !modelGiven)
            throw new UsageException("--images with --base none trains on raw pixels: give the network with --model FILE");
        var model = job.Model;
        if (data.Features is not null && !modelGiven)
        {
            int classes;
            try
            {
                classes = data.Kind == "images" ? ImageFolder.ClassNames(data.Path!).Count : data.Kind == "shapes" ? 3 : model.Layers is [.., Core.Models.DenseSpec d] ? d.Units : 3;
            }
            catch (Data.DataFormatException e)
            {
                throw new UsageException(e.Message);
            }
            model = Presets.ResNetHead(classes);
        }
        var jobId = images is null ? job.JobId : $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(images)))}-{data.Features ?? "pixels"}-{job.Seed}";
        return job with { Data = data, Model = model, JobId = jobId };
    }

    /// <summary>The data loader every command uses: image folders and frozen-base features, then the presets.</summary>
    public static FeatureDataLoader Loader(CommandLine cl, Func<string, string?>? env = null)
    {
        string? Get(string name) => cl.String(name) ?? env?.Invoke(name);
        var threads = 0;
        if (Get("onnx-threads") is { } t && (!int.TryParse(t, out threads) || threads < 1 || threads > 256))
            throw new UsageException($"--onnx-threads must be a whole number in 1..256 (got '{t}')");
        return new FeatureDataLoader(new PresetDataLoader(), new ResNet18Options(Get("resnet-model"), threads));
    }

    /// <summary>One line on the feature extraction of the last load, or null when it featurized nothing.</summary>
    public static string? Describe(FeatureDataLoader loader)
    {
        var (images, load, extraction) = loader.LastExtraction;
        if (images == 0) return null;
        return $"  base    frozen resnet18: {images} images featurized in {extraction.TotalSeconds:0.0} s " +
               $"({images / Math.Max(extraction.TotalSeconds, 1e-9):0.0} images/s) after {load.TotalSeconds:0.0} s loading them";
    }
}
