using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// The one wiring function: local mode, cluster mode and the tests all create the parameter server,
/// coordinator and workers through these calls; only the ActorSystem's provider and what crosses a wire
/// differ.
/// </summary>
public static class TrainingTopology
{
    public const string ParameterServerName = "parameter-server";
    public const string CoordinatorName = "coordinator";

    /// <param name="threads">Threads the parameter server averages and steps on (see <see cref="ParameterServerActor"/>).</param>
    public static Props ParameterServerProps(int threads = 1) => ParameterServerActor.Props(threads);

    public static Props CoordinatorProps(IActorRef parameterServer, CoordinatorSettings settings) => CoordinatorActor.Props(parameterServer, settings);

    public static Props WorkerProps(string workerId, IJobDataLoader loader, IActorRef coordinator, TimeSpan? announceEvery = null,
        StepAssist? assist = null) =>
        WorkerActor.Props(workerId, loader, coordinator, announceEvery, assist);

    /// <summary>Parameter server and coordinator in one ActorSystem (local mode, tests).</summary>
    /// <param name="team">Instead of <paramref name="parameterServerThreads"/>: a team the caller owns (local mode shares it with the workers).</param>
    public static (IActorRef ParameterServer, IActorRef Coordinator) StartServer(IActorRefFactory system, CoordinatorSettings settings,
        int parameterServerThreads = 1, Core.Kernels.WorkTeam? team = null)
    {
        var ps = system.ActorOf(team is null ? ParameterServerProps(parameterServerThreads) : ParameterServerActor.Props(team), ParameterServerName);
        var coordinator = system.ActorOf(CoordinatorProps(ps, settings), CoordinatorName);
        return (ps, coordinator);
    }

    /// <summary>Starts <paramref name="count"/> workers named worker-1..N; their ids are <paramref name="idPrefix"/> + name.</summary>
    public static IReadOnlyList<IActorRef> StartWorkers(IActorRefFactory system, int count, IJobDataLoader loader, IActorRef coordinator,
        string idPrefix = "", TimeSpan? announceEvery = null, StepAssist? assist = null, string? dispatcher = null)
    {
        var workers = new List<IActorRef>(count);
        for (var i = 0; i < count; i++)
        {
            var name = $"worker-{i + 1}";
            var props = WorkerProps(idPrefix + name, loader, coordinator, announceEvery, assist);
            workers.Add(system.ActorOf(dispatcher is null ? props : props.WithDispatcher(dispatcher), name));
        }
        return workers;
    }

    /// <summary>Starts a job on a coordinator and returns its result; every progress event goes to <paramref name="onEvent"/>.</summary>
    public static Task<TrainingCompleted> RunJob(IActorRefFactory system, IActorRef coordinator, TrainingJob job, string? resumeFrom = null,
        Action<object>? onEvent = null)
    {
        var result = new TaskCompletionSource<TrainingCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        var forwarder = system.ActorOf(ProgressForwarder.Props(coordinator, onEvent, result, job.JobId));
        coordinator.Tell(new StartTraining(job, resumeFrom, forwarder), forwarder);
        return result.Task;
    }
}
