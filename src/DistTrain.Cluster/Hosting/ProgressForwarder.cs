using Akka.Actor;
using DistTrain.Cluster.Protocol;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// Subscribes to a coordinator and hands every progress event to a callback; completes a task with the
/// job's result. The bridge between the actor world and the CLI or a test.
/// </summary>
public sealed class ProgressForwarder : ReceiveActor
{
    public ProgressForwarder(IActorRef coordinator, Action<object>? onEvent, TaskCompletionSource<TrainingCompleted> result, string jobId)
    {
        coordinator.Tell(new SubscribeProgress(Self));
        Receive<TrainingCompleted>(c =>
        {
            if (c.JobId != jobId) return;
            onEvent?.Invoke(c);
            result.TrySetResult(c);
        });
        Receive<TrainingFailed>(f =>
        {
            if (f.JobId != jobId) return;
            onEvent?.Invoke(f);
            result.TrySetException(new TrainingFailedException(f.JobId, f.Reason));
        });
        Receive<TrainingRejected>(r =>
        {
            if (r.JobId != jobId) return;
            onEvent?.Invoke(r);
            result.TrySetException(new TrainingFailedException(r.JobId, r.Reason));
        });
        ReceiveAny(m => onEvent?.Invoke(m));
    }

    public static Props Props(IActorRef coordinator, Action<object>? onEvent, TaskCompletionSource<TrainingCompleted> result, string jobId) =>
        Akka.Actor.Props.Create(() => new ProgressForwarder(coordinator, onEvent, result, jobId));
}

/// <summary>A job that the coordinator rejected or that failed; the message says why.</summary>
public sealed class TrainingFailedException(string jobId, string reason) : Exception($"Job {jobId} failed: {reason}")
{
    public string JobId { get; } = jobId;

    public string Reason { get; } = reason;
}
