using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Jobs;

/// <summary>
/// Where a job's samples come from. Every worker resolves it against its own disk, so only this
/// description (never the data) crosses the wire.
/// </summary>
/// <param name="Kind">penguins | csv | fashion-mnist | shapes | images (a folder of class sub-folders; DistTrain.Onnx loads it)</param>
/// <param name="Path">CSV file, idx folder or image folder; null = the preset's default (penguins: the embedded copy).</param>
/// <param name="LabelColumn">csv: the label column.</param>
/// <param name="FeatureColumns">csv: the feature columns.</param>
/// <param name="Limit">Use only the first N training samples (quick runs); null = all.</param>
/// <param name="ImageSize">shapes: image side in pixels.</param>
/// <param name="Channels">shapes: 1 (grey) or 3 (RGB).</param>
/// <param name="Count">shapes: number of images to generate.</param>
/// <param name="Augment">Apply flip/mirror/skew/shift augmentation to training images.</param>
/// <param name="Features">null = train on the inputs; "resnet18" = on the 512 features of a frozen pretrained
/// ImageNet ResNet-18, computed once per node when the job is prepared (DistTrain.Onnx, docs/resnet.md).</param>
/// <param name="Classes">fashion-mnist: keep only these classes, relabelled 0..k−1 in this order; null = all.</param>
public sealed record DataSpec(
    string Kind,
    string? Path = null,
    string? LabelColumn = null,
    IReadOnlyList<string>? FeatureColumns = null,
    int? Limit = null,
    int ImageSize = 32,
    int Channels = 1,
    int Count = 1200,
    bool Augment = false,
    string? Features = null,
    IReadOnlyList<int>? Classes = null);

/// <summary>
/// The trained network a transfer job starts from: a DistTrain checkpoint that every node reads from its own
/// disk at <paramref name="Checkpoint"/>, and the SHA-256 of the parameters the job takes from it
/// (<see cref="Core.Models.Transfer.LoadBase"/>), so a node with a different file is refused.
/// </summary>
public sealed record BaseModel(string Checkpoint, string ParametersSha256);

/// <summary>
/// Everything needed to run one training job: plain data, identical on every node.
/// Fractions are of the labelled set that the preset splits (penguins, csv, shapes); Fashion-MNIST
/// keeps its own test set and takes the validation fraction from its training file.
/// </summary>
public sealed record TrainingJob(
    string JobId,
    DataSpec Data,
    ModelSpec Model,
    LossKind Loss,
    OptimizerSpec Optimizer,
    int Epochs,
    int BatchSize,
    ulong Seed,
    int Patience = 0,
    double TrainFraction = 0.7,
    double ValidationFraction = 0.15,
    string? OutputDirectory = null,
    int CheckpointEvery = 1,
    CommunicationSpec? Communication = null,
    BaseModel? Base = null)
{
    /// <summary>Throws an ArgumentException naming the first bad field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(JobId)) throw new ArgumentException("job id must not be empty");
        if (Epochs < 1) throw new ArgumentException($"epochs must be >= 1 (got {Epochs})");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be >= 1 (got {BatchSize})");
        if (Patience < 0) throw new ArgumentException($"patience must be >= 0 (got {Patience})");
        if (TrainFraction <= 0 || TrainFraction > 1) throw new ArgumentException($"train fraction must be in (0, 1] (got {TrainFraction})");
        if (ValidationFraction < 0 || TrainFraction + ValidationFraction > 1 + 1e-9)
            throw new ArgumentException($"validation fraction must be >= 0 and train + validation <= 1 (got {TrainFraction} + {ValidationFraction})");
        if (CheckpointEvery < 0) throw new ArgumentException($"checkpoint-every must be >= 0 epochs (got {CheckpointEvery})");
        Optimizer.Validate();
        Communication?.Validate();
        if (Communication is { Mode: not TrainingMode.Sync } c && Model.Layers.Any(l => l.Trainable == false))
            throw new ArgumentException($"communication mode {c.Mode} does not support frozen layers yet (their parameters would travel); train a frozen base in sync mode");
    }
}
