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
    public static Config Configuration(string logLevel = "WARNING") => ConfigurationFactory.ParseString($$"""
        akka {
          loglevel = {{logLevel}}
          stdout-loglevel = {{logLevel}}
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
          actor.provider = local
        }
        """);

    public static async Task<TrainingCompleted> RunAsync(TrainingJob job, int workers, IJobDataLoader loader,
        Action<object>? onEvent = null, string? resumeFrom = null, string logLevel = "WARNING", CancellationToken cancel = default)
    {
        if (workers < 1) throw new ArgumentException($"workers must be >= 1 (got {workers})");
        job.Validate();
        using var system = ActorSystem.Create("disttrain-local", Configuration(logLevel));
        try
        {
            var (_, coordinator) = TrainingTopology.StartServer(system, new CoordinatorSettings(MinimumWorkers: workers));
            TrainingTopology.StartWorkers(system, workers, loader, coordinator);
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
