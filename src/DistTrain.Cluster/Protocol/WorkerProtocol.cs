using Akka.Actor;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Checkpoints;

namespace DistTrain.Cluster.Protocol;

// Coordinator <-> worker: membership, job preparation, evaluation.

/// <summary>A worker announces itself to the coordinator (on start and on every coordinator change).</summary>
public sealed record RegisterWorker(string WorkerId, IActorRef Worker) : IDistTrainMessage;

/// <summary>
/// The coordinator's answer to every <see cref="RegisterWorker"/>: a cluster worker that gets none for a while
/// says so in its log (no ps node in its cluster, or seeds that point elsewhere).
/// </summary>
public sealed record WorkerRegistered(string WorkerId) : IDistTrainMessage;

/// <summary>The coordinator asks a registered worker to load the job's data and build its model replica.</summary>
public sealed record PrepareJob(TrainingJob Job) : IDistTrainMessage;

/// <summary>
/// The worker is ready: its replica's spec hash and what it loaded, for the coordinator to check;
/// BaseSha256 is the hash of the parameters it took from the job's base checkpoint (null: no base).
/// </summary>
public sealed record JobPrepared(string JobId, string WorkerId, string ModelSpecHash, int TrainCount, int ValidationCount, int TestCount,
    string DataFingerprint, IReadOnlyList<string> ClassNames, Normalization? Normalization, string? BaseSha256 = null) : IDistTrainMessage;

/// <summary>The worker could not prepare the job (missing data file, bad spec…); Reason says what and how to fix it.</summary>
public sealed record JobPreparationFailed(string JobId, string WorkerId, string Reason) : IDistTrainMessage;

/// <summary>The coordinator refuses a worker (e.g. mismatched model); the worker logs the reason and stays idle.</summary>
public sealed record WorkerRefused(string JobId, string WorkerId, string Reason) : IDistTrainMessage;

public enum DataSplit
{
    Train,
    Validation,
    Test,
}

/// <summary>Evaluate parameters <paramref name="Version"/> on positions [Start, Start+Length) of a split.</summary>
public sealed record EvaluateShard(string JobId, long Version, DataSplit Split, int Start, int Length, float[] Parameters) : ITensorMessage;

/// <summary>Loss sum, correct count, and per-sample labels and predicted classes of an evaluated shard.</summary>
public sealed record ShardEvaluated(string JobId, long Version, DataSplit Split, int Start, int Samples, double LossSum, int Correct,
    int[] Labels, int[] Predictions, string WorkerId) : IDistTrainMessage;
