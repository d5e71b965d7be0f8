using Akka.Actor;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Protocol;

// Job control and coordinator -> observers (the CLI, tests, a submitting client).

/// <summary>
/// Start a job; <paramref name="ReplyTo"/> (the sender when null) and all subscribers get the progress events and the
/// final result. A client outside the cluster (<c>disttrain submit</c>, through a ClusterClient) names its own actor
/// here: the message's sender is then the receptionist's response tunnel, not the client.
/// </summary>
public sealed record StartTraining(TrainingJob Job, string? ResumeFrom = null, IActorRef? ReplyTo = null) : IDistTrainMessage;

/// <summary>The coordinator is busy with another job, or the job is invalid.</summary>
public sealed record TrainingRejected(string JobId, string Reason) : IDistTrainMessage;

public sealed record SubscribeProgress(IActorRef Subscriber) : IDistTrainMessage;

public sealed record JobStarted(string JobId, int Workers, int TrainSamples, int StepsPerEpoch, TrainingJob Job) : IDistTrainMessage;

public sealed record StepProgressed(string JobId, StepProgress Progress) : IDistTrainMessage;

/// <summary>
/// An epoch ended. Samples: training samples its steps averaged. VisitsMin/VisitsMax: the fewest and most
/// times any one training sample's gradient was applied in the epoch: 1 and 1 prove every sample was
/// used exactly once (none skipped after a lost worker, none counted twice after a re-run).
/// </summary>
public sealed record EpochCompleted(string JobId, EpochMetrics Metrics, int Workers, int Samples, int VisitsMin = 1, int VisitsMax = 1) : IDistTrainMessage;

/// <summary>Final figures of a finished job; TestPredictions[i] is the predicted class of test sample i.</summary>
public sealed record TrainingCompleted(string JobId, int Epochs, long Steps, double TestLoss, double TestAccuracy, int[] TestLabels,
    int[] TestPredictions, IReadOnlyList<string> ClassNames, double SamplesPerSecond, double Seconds, int Workers,
    string? CheckpointPath, string ParametersSha256, bool StoppedEarly) : IDistTrainMessage;

public sealed record TrainingFailed(string JobId, string Reason) : IDistTrainMessage;

/// <summary>Non-finite gradients were dropped in a step (none of them reached the parameters).</summary>
public sealed record GradientsDropped(string JobId, int Epoch, int Step, int DroppedShards, bool Applied, int ConsecutiveBadSteps) : IDistTrainMessage;

public sealed record WorkerJoined(string JobId, string WorkerId, int Workers) : IDistTrainMessage;

public sealed record WorkerLeft(string JobId, string WorkerId, int Workers, string Reason) : IDistTrainMessage;
