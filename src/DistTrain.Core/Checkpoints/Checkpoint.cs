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

/// <summary>
/// Training state that lives on a worker, not on the parameter server: a local-SGD worker's own optimizer
/// (Adam moments, step count) and the error-feedback residual of 16-bit gradients. Saved by shard
/// <paramref name="Slot"/>, the shard index of the round the worker last computed; a resumed job hands it to
/// the worker of the same shard.
/// </summary>
public sealed record WorkerState(int Slot, OptimizerState? Optimizer, float[]? Residual);

/// <summary>
/// A model spec, its flat parameters, the optimizer's spec and state, run metadata, and the workers' own state
/// when the job's mode keeps some (<see cref="WorkerState"/>; empty or null otherwise).
/// </summary>
public sealed record Checkpoint(
    ModelSpec Spec,
    float[] Parameters,
    OptimizerSpec? Optimizer,
    OptimizerState? OptimizerState,
    CheckpointMetadata Metadata,
    IReadOnlyList<WorkerState>? WorkerStates = null);
