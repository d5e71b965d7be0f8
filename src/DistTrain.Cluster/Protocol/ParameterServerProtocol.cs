using Akka.Actor;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Checkpoints;

namespace DistTrain.Cluster.Protocol;

// Coordinator -> parameter server -> workers -> parameter server -> coordinator: one synchronous step.

/// <summary>Create the job's parameters (seeded initialisation, or from a checkpoint) and optimizer.</summary>
public sealed record StartParameterServer(TrainingJob Job, string? ResumeFrom = null) : IDistTrainMessage;

public sealed record ParameterServerReady(string JobId, long Version, int ParameterCount, string ModelSpecHash, int StartEpoch) : IDistTrainMessage;

public sealed record ParameterServerFailed(string JobId, string Reason) : IDistTrainMessage;

/// <summary>One shard of a step's global batch: dataset positions (in the training split) for one worker.</summary>
/// <remarks>LocalSteps (local SGD): SampleIds is that many consecutive local batches of these sizes.</remarks>
public sealed record ShardAssignment(int ShardIndex, IActorRef Worker, int[] SampleIds, int[]? LocalSteps = null);

/// <summary>Run step (Epoch, Step) from parameter version <paramref name="Version"/> over these shards.</summary>
/// <remarks>Attempt increases when a step is re-run (a worker was lost); answers from earlier attempts are ignored.</remarks>
public sealed record RunStep(string JobId, long Version, int Attempt, int Epoch, int Step, IReadOnlyList<ShardAssignment> Shards) : IDistTrainMessage;

/// <summary>Parameter server to worker: compute the gradient sum of SampleIds at these parameters.</summary>
/// <remarks>
/// LocalSteps (local SGD): take one local optimizer step per entry on consecutive parts of SampleIds of
/// these sizes, and answer with the model delta as a pseudo-gradient sum (see Modes/LocalSgdWorker).
/// </remarks>
public sealed record ComputeGradients(string JobId, long Version, int Attempt, int Epoch, int Step, int ShardIndex, int[] SampleIds, ulong Seed,
    float[] Parameters, int[]? LocalSteps = null) : ITensorMessage;

/// <summary>What a <see cref="WorkerLocalState"/> message is for.</summary>
public enum WorkerStateRole : byte
{
    /// <summary>Parameter server to worker: report your state (for the checkpoint being written).</summary>
    Request = 0,

    /// <summary>Worker to parameter server: my state after the round of parameter version Version.</summary>
    Report = 1,

    /// <summary>Parameter server to worker: load this state (from the checkpoint a job resumed from) before your first round.</summary>
    Restore = 2,
}

/// <summary>
/// A worker's own training state, which the parameter server does not hold: a local-SGD worker's optimizer and
/// the error-feedback residual of 16-bit gradients (<see cref="Core.Checkpoints.WorkerState"/>). It travels only
/// for checkpoints (Request, then Report) and on resume (Restore), on the same road as the rounds' messages, so
/// a request is answered with the state after the worker's last round. Version: in a Report, the parameter
/// version of the round the state followed (-1: none yet), which the parameter server checks.
/// </summary>
public sealed record WorkerLocalState(string JobId, WorkerStateRole Role, int ShardIndex, long Version,
    Core.Optimizers.OptimizerState? Optimizer = null, float[]? Residual = null) : ITensorMessage;

/// <summary>Worker to parameter server: the gradient <b>sum</b> over the shard, with what the shard saw.</summary>
/// <remarks>Compressed: the gradient in 16 bits (then Gradient is empty); the parameter server decodes it.</remarks>
public sealed record GradientsComputed(string JobId, long Version, int Attempt, int Step, int ShardIndex, string WorkerId, float[] Gradient,
    int Samples, double LossSum, int Correct, Compression.CompressedTensor? Compressed = null) : ITensorMessage;

/// <summary>
/// The step is done: parameters are now at <paramref name="Version"/>. Samples, LossSum and Correct count
/// the shards that were averaged; DroppedShards had a non-finite gradient and were left out; Applied is
/// false when every shard was dropped and the parameters did not change. AppliedSampleIds lists the
/// training samples whose gradients were averaged (the coordinator's visit accounting). Steps: how many
/// of the schedule's steps (global batches) this update covered (local SGD: k; async: the batches applied
/// together). Staleness: the largest staleness among the gradients applied (async, ssp).
/// </summary>
public sealed record StepCompleted(string JobId, long Version, int Epoch, int Step, int Samples, double LossSum, int Correct,
    float LearningRate, int DroppedShards = 0, bool Applied = true, int[]? AppliedSampleIds = null, int Steps = 1, int Staleness = 0) : IDistTrainMessage;

/// <summary>Ask for the current parameters; answered with <see cref="ParametersSnapshot"/>.</summary>
public sealed record GetParameters(string JobId) : IDistTrainMessage;

public sealed record ParametersSnapshot(string JobId, long Version, float[] Parameters) : ITensorMessage;

/// <summary>Write a checkpoint of the current parameters and optimizer state.</summary>
public sealed record SaveCheckpoint(string JobId, string Path, CheckpointMetadata Metadata) : IDistTrainMessage;

public sealed record CheckpointSaved(string JobId, string Path, long Version, string ParametersSha256) : IDistTrainMessage;

public sealed record CheckpointFailed(string JobId, string Path, string Reason) : IDistTrainMessage;
