using Akka.Actor;
using Akka.Configuration;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// Single-process training: one ActorSystem, parameter server, coordinator and N workers in-process,
/// nothing serialized. The same actors and wiring as the cluster.
/// </summary>
public static class LocalMode
{
    /// <summary>Set to <c>pool</c> to run the parameter server and coordinator on the thread pool (for comparison).</summary>
    public const string DispatcherEnvironmentVariable = "DISTTRAIN_LOCAL_DISPATCHER";

    private static bool InlineDispatch =>
        !string.Equals(Environment.GetEnvironmentVariable(DispatcherEnvironmentVariable), "pool", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The local ActorSystem's configuration. The parameter server and the coordinator run on
    /// <see cref="InlineDispatcherConfigurator"/> (their messages are handled on the sender's thread), unless
    /// <see cref="DispatcherEnvironmentVariable"/> is <c>pool</c>.
    /// </summary>
    public static Config Configuration(string logLevel = "WARNING")
    {
        var deployment = InlineDispatch
            ? $$"""
              actor.deployment {
                "/{{TrainingTopology.ParameterServerName}}" { dispatcher = disttrain-inline-dispatcher }
                "/{{TrainingTopology.CoordinatorName}}" { dispatcher = disttrain-inline-dispatcher }
              }
              """
            : "";
        return ConfigurationFactory.ParseString($$"""
            akka {
              loglevel = {{logLevel}}
              stdout-loglevel = {{logLevel}}
              log-dead-letters = off
              log-dead-letters-during-shutdown = off
              actor.provider = local
              {{deployment}}
            }
            disttrain-inline-dispatcher {
              type = "{{typeof(InlineDispatcherConfigurator).FullName}}, {{typeof(InlineDispatcherConfigurator).Assembly.GetName().Name}}"
              throughput = 100
            }
            """);
    }

    /// <param name="parameterServerThreads">Threads of the parameter server's team; default min(workers, cores).</param>
    /// <param name="stepAssist">Whether waiting workers lend their threads to the step's pass (<see cref="StepAssist"/>); default <see cref="StepAssist.Wanted"/>.</param>
    public static async Task<TrainingCompleted> RunAsync(TrainingJob job, int workers, IJobDataLoader loader,
        Action<object>? onEvent = null, string? resumeFrom = null, string logLevel = "WARNING", CancellationToken cancel = default,
        int? parameterServerThreads = null, bool? stepAssist = null)
    {
        if (workers < 1) throw new ArgumentException($"workers must be >= 1 (got {workers})");
        job.Validate();
        // The workers wait while the parameter server averages and steps: it borrows their cores, and with the
        // inline dispatcher (the default) a worker that is waiting anyway lends its own thread (StepAssist).
        var threads = parameterServerThreads ?? Math.Min(workers, Environment.ProcessorCount);
        using var team = threads > 1 ? new Core.Kernels.WorkTeam(threads) : null;
        var assist = team is not null && InlineDispatch && (stepAssist ?? StepAssist.Wanted(workers)) ? new StepAssist(team, StepAssist.DefaultBudget) : null;
        var traceDirectory = StepTrace.PrepareDirectory(); // DISTTRAIN_STEP_TRACE
        using var system = ActorSystem.Create("disttrain-local", Configuration(logLevel));
        StepTrace.Attach(system, traceDirectory);
        try
        {
            var (_, coordinator) = TrainingTopology.StartServer(system, new CoordinatorSettings(MinimumWorkers: workers), team: team);
            TrainingTopology.StartWorkers(system, workers, loader, coordinator, assist: assist);
            var task = TrainingTopology.RunJob(system, coordinator, job, resumeFrom, onEvent);
            await using (cancel.Register(() => system.Terminate()))
            {
                var finished = await Task.WhenAny(task, system.WhenTerminated).ConfigureAwait(false);
                if (finished != task) throw new OperationCanceledException("local training was cancelled", cancel);
                return await task.ConfigureAwait(false);
            }
        }
        finally
        {
            await system.Terminate().ConfigureAwait(false);
        }
    }
}
