using Akka.Actor;

namespace DistTrain.Cluster.Protocol;

// Async and stale-synchronous training (Modes/AsyncUpdateLoop): the coordinator hands the parameter
// server a whole epoch's batches; the parameter server applies each gradient on arrival and gives the
// worker its next batch itself, answering StepCompleted per update as in synchronous mode.

/// <summary>
/// Run batches FirstStep.. of the epoch asynchronously over these workers (slot i = Workers[i]), never
/// applying a gradient with staleness above Bound (null = unbounded).
/// </summary>
public sealed record RunAsyncEpoch(string JobId, long Version, int Attempt, int Epoch, int FirstStep, int[][] Batches,
    IReadOnlyList<IActorRef> Workers, int? Bound) : IDistTrainMessage;

/// <summary>The coordinator tells the parameter server a worker of the running async epoch left: its batch goes to another.</summary>
public sealed record AsyncWorkerLost(string JobId, int Attempt, IActorRef Worker) : IDistTrainMessage;

/// <summary>
/// Progress event at the end of an async/ssp epoch (0-based Epoch): Updates parameter updates, the
/// largest staleness of any gradient applied and the mean over updates of each update's largest.
/// </summary>
public sealed record StalenessReport(string JobId, int Epoch, int Updates, int MaxStaleness, double MeanStaleness, int? Bound)
    : IDistTrainMessage;
