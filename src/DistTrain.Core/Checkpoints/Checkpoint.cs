using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Checkpoints;

/// <summary>Per-feature standardisation learned from the training split: x' = (x − Mean) / Std.</summary>
public sealed record Normalization(float[] Mean, float[] Std);

/// <summary>What a run needs to be resumed or used for prediction.</summary>
public sealed record CheckpointMetadata(
    int Epoch,
    long Step,
    ulong Seed,
    IReadOnlyList<string> ClassNames,
    LossKind Loss,
    Normalization? Normalization = null,
    IReadOnlyDictionary<string, string>? Extra = null);

/// <summary>A model spec, its flat parameters, the optimizer's spec and state, and run metadata.</summary>
public sealed record Checkpoint(
    ModelSpec Spec,
    float[] Parameters,
    OptimizerSpec? Optimizer,
    OptimizerState? OptimizerState,
    CheckpointMetadata Metadata);
