using Akka.Actor;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.State;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Protocol;

// Parameter-server failover: coordinator -> parameter server -> standby actors on the other ps nodes;
// a coordinator that starts on a standby node asks its local standby for the last replica.

/// <summary>
/// The coordinator's part of a replica: the job, where the schedule stands, what was measured so far, and who
/// subscribed to progress (so that result writers on other nodes keep receiving events after a takeover).
/// </summary>
public sealed record CoordinatorReplica(TrainingJob Job, ScheduleState Schedule, JobPrepared Reference, IReadOnlyList<EpochMetrics> History,
    string? LastCheckpoint, string LastSha, int BadSteps, double TrainSeconds, long TrainSamples, IReadOnlyList<IActorRef> Subscribers);

/// <summary>Coordinator to parameter server: send a replica of the job at the current version to the standbys.</summary>
public sealed record CaptureReplica(string JobId, CoordinatorReplica Coordinator) : IDistTrainMessage;

/// <summary>
/// Everything needed to continue a job on another ps node: parameters, optimizer state and version from the
/// parameter server, the rest from the coordinator. Sent to every standby every k steps.
/// </summary>
public sealed record ReplicaSnapshot(string JobId, long Version, float[] Parameters, OptimizerState? OptimizerState, CoordinatorReplica Coordinator)
    : IDistTrainMessage;

/// <summary>
/// A standby on another ps node to the standby that forwarded it a replica: it holds this one, send the next
/// (at most one replica in flight per peer: <see cref="State.ReplicaForwarding{TPeer}"/>).
/// </summary>
public sealed record ReplicaReceived(string JobId, long Version) : IDistTrainMessage;

/// <summary>The job ended (finished or failed): standbys drop its replica so that a later failover does not restart it.</summary>
public sealed record ClearReplica(string JobId) : IDistTrainMessage;

/// <summary>A starting coordinator asks its node's standby for the last replica; answered with <see cref="ReplicaSnapshot"/> or <see cref="NoReplica"/>.</summary>
public sealed record GetReplica : IDistTrainMessage;

public sealed record NoReplica : IDistTrainMessage;

/// <summary>Coordinator to a new parameter server: continue the job from these parameters (answered like StartParameterServer).</summary>
public sealed record RestoreParameterServer(TrainingJob Job, long Version, float[] Parameters, OptimizerState? OptimizerState, int StartEpoch)
    : IDistTrainMessage;

/// <summary>
/// A coordinator that took over continues the job from a replica at <paramref name="Version"/> (epoch and
/// completed steps of that epoch as given, 0-based epoch).
/// </summary>
public sealed record JobResumed(string JobId, long Version, int Epoch, int Step, int StepsPerEpoch) : IDistTrainMessage;
