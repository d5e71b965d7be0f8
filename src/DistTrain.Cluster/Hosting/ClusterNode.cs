using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Transport;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// A cluster member. Role <c>ps</c> runs the parameter server and the coordinator as cluster singletons
/// (on the oldest ps node; a standby ps node takes over when it leaves); every node reaches them through
/// singleton proxies. Role <c>worker</c> runs worker actors that announce themselves to the coordinator.
/// The actors are the ones local mode uses, created through <see cref="TrainingTopology"/>.
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    public const string CoordinatorProxyName = "coordinator-proxy";
    public const string ParameterServerProxyName = "parameter-server-proxy";

    private ClusterNode(ActorSystem system, IActorRef coordinator, NodeSettings settings)
    {
        System = system;
        Coordinator = coordinator;
        Settings = settings;
    }

    public ActorSystem System { get; }

    /// <summary>Proxy to the coordinator singleton, wherever it runs.</summary>
    public IActorRef Coordinator { get; }

    public NodeSettings Settings { get; }

    public Address Address => Akka.Cluster.Cluster.Get(System).SelfAddress;

    /// <summary>
    /// Set to <c>pool</c> to run the parameter server, the coordinator and the parameter-server proxy of a ps
    /// node on the thread pool (for comparison) instead of <see cref="InlineDispatcherConfigurator"/>, and a
    /// worker node's workers on the default dispatcher instead of <see cref="InlineDispatcherConfigurator"/> with <c>inline-when = data-plane-thread</c>.
    /// </summary>
    public const string DispatcherEnvironmentVariable = "DISTTRAIN_NODE_DISPATCHER";

    /// <summary>The worker actors' dispatcher on a node (unless <see cref="DispatcherEnvironmentVariable"/> is <c>pool</c>).</summary>
    public const string WorkerDispatcherName = "disttrain-worker-dispatcher";

    /// <summary>
    /// The worker actors' dispatcher on a node with these settings. Only a node with one worker actor and without
    /// the ps role runs its worker on the data-plane threads. All shards for a node's workers arrive on the one
    /// connection from the ps node, so a second worker's shard would wait, unread, while the first worker computed
    /// on the receive thread. On a ps node the parameter server and coordinator run inline on those threads too,
    /// and the coordinator's <c>ComputeGradients</c> to a worker of its own node would then run that worker's
    /// whole gradient inside the send loop, before the next worker even got its shard.
    /// </summary>
    public static string? WorkerDispatcher(NodeSettings settings) =>
        InlineDispatch && !settings.Has("ps") && settings.Workers == 1 ? WorkerDispatcherName : null;

    private static bool InlineDispatch =>
        !string.Equals(Environment.GetEnvironmentVariable(DispatcherEnvironmentVariable), "pool", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Akka settings of this node layered over the base configuration. As in local mode
    /// (<see cref="LocalMode.Configuration"/>), the parameter server and coordinator singletons and the
    /// parameter-server proxy handle their messages on the sending thread: the last gradient's data-plane
    /// receive thread averages and steps, tells the coordinator, which plans the next step, and the proxy and
    /// the parameter server send its parameters out, without waking a pool thread at each of those hops.
    /// Workers run on <see cref="InlineDispatcherConfigurator"/> with <c>inline-when = data-plane-thread</c>: a step's shard that arrives on a
    /// data-plane thread is computed there; everything else (PrepareJob, which loads data) goes to the pool.
    /// </summary>
    public static Config NodeConfig(NodeSettings s, Config baseConfig)
    {
        var seeds = string.Join(", ", s.SeedList.Select(x => $"\"{x}\""));
        var roles = string.Join(", ", s.Roles.Select(x => $"\"{x}\""));
        var publicHost = s.PublicHost ?? s.Host;
        var deployment = InlineDispatch
            ? $$"""
              akka.actor.deployment {
                "/{{TrainingTopology.ParameterServerName}}/singleton" { dispatcher = disttrain-inline-dispatcher }
                "/{{TrainingTopology.CoordinatorName}}/singleton" { dispatcher = disttrain-inline-dispatcher }
                "/{{ParameterServerProxyName}}" { dispatcher = disttrain-inline-dispatcher }
              }
              disttrain-inline-dispatcher {
                type = "{{typeof(InlineDispatcherConfigurator).FullName}}, {{typeof(InlineDispatcherConfigurator).Assembly.GetName().Name}}"
                throughput = 100
              }
              {{WorkerDispatcherName}} {
                type = "{{typeof(InlineDispatcherConfigurator).FullName}}, {{typeof(InlineDispatcherConfigurator).Assembly.GetName().Name}}"
                inline-when = data-plane-thread
                throughput = 100
              }
              """
            : "";
        return ConfigurationFactory.ParseString($$"""
            {{deployment}}
            akka.remote.dot-netty.tcp.hostname = "{{s.Host}}"
            akka.remote.dot-netty.tcp.public-hostname = "{{publicHost}}"
            akka.remote.dot-netty.tcp.port = {{s.Port}}
            akka.cluster.roles = [{{roles}}]
            akka.cluster.seed-nodes = [{{seeds}}]
            """).WithFallback(baseConfig);
    }

    public static ClusterNode Start(NodeSettings settings, Config baseConfig, IJobDataLoader loader, CoordinatorSettings? coordinatorSettings = null)
    {
        settings.Validate();
        var traceDirectory = StepTrace.PrepareDirectory(); // DISTTRAIN_STEP_TRACE: refused before anything starts
        var system = ActorSystem.Create(settings.SystemName, NodeConfig(settings, baseConfig));
        ChunkingTransport.Start(system);
        DataPlane.Start(system);
        StepTrace.Attach(system, traceDirectory);
        var cluster = Akka.Cluster.Cluster.Get(system);
        // A seed with no seed list joins itself and forms the cluster.
        if (settings.SeedList.Count == 0) cluster.Join(cluster.SelfAddress);

        if (settings.Has("ps"))
        {
            // Holds the replicas that let this node take the singletons over (disttrain.replicate-every).
            system.ActorOf(StandbyActor.Props(), StandbyActor.Name);
            var managerSettings = ClusterSingletonManagerSettings.Create(system).WithRole("ps");
            // Synchronous workers wait while the parameter server averages and steps: it may use every core of its node.
            system.ActorOf(ClusterSingletonManager.Props(TrainingTopology.ParameterServerProps(Environment.ProcessorCount), PoisonPill.Instance, managerSettings),
                TrainingTopology.ParameterServerName);
            var psProxy = system.ActorOf(ClusterSingletonProxy.Props($"/user/{TrainingTopology.ParameterServerName}",
                ClusterSingletonProxySettings.Create(system).WithRole("ps")), ParameterServerProxyName);
            var cs = coordinatorSettings ?? new CoordinatorSettings(MinimumWorkers: settings.MinWorkers, PrepareTimeout: PrepareTimeout(baseConfig));
            system.ActorOf(ClusterSingletonManager.Props(TrainingTopology.CoordinatorProps(psProxy, cs), PoisonPill.Instance, managerSettings),
                TrainingTopology.CoordinatorName);
        }
        var coordinator = system.ActorOf(ClusterSingletonProxy.Props($"/user/{TrainingTopology.CoordinatorName}",
            ClusterSingletonProxySettings.Create(system).WithRole("ps")), CoordinatorProxyName);
        // Clients outside the cluster (disttrain submit, JobClient) reach the coordinator through any node's receptionist.
        Akka.Cluster.Tools.Client.ClusterClientReceptionist.Get(system).RegisterService(coordinator);

        if (settings.Has("worker") && settings.Workers > 0)
        {
            var idPrefix = $"{settings.PublicHost ?? settings.Host}:{cluster.SelfAddress.Port}/";
            TrainingTopology.StartWorkers(system, settings.Workers, loader, coordinator, idPrefix, announceEvery: AnnounceInterval(baseConfig),
                dispatcher: WorkerDispatcher(settings));
        }
        return new ClusterNode(system, coordinator, settings);
    }

    /// <summary><c>disttrain.worker.announce-interval</c> (cluster-config/worker.conf), 3 s when absent.</summary>
    public static TimeSpan AnnounceInterval(Config config) => Duration(config, "disttrain.worker.announce-interval", TimeSpan.FromSeconds(3));

    /// <summary><c>disttrain.coordinator.prepare-timeout</c> (cluster-config/ps.conf), 2 min when absent.</summary>
    public static TimeSpan PrepareTimeout(Config config) => Duration(config, "disttrain.coordinator.prepare-timeout", TimeSpan.FromMinutes(2));

    private static TimeSpan Duration(Config config, string key, TimeSpan fallback)
    {
        if (!config.HasPath(key)) return fallback;
        var value = config.GetTimeSpan(key, fallback, allowInfinite: false);
        if (value <= TimeSpan.Zero) throw new ArgumentException($"{key} must be a positive duration (got {value})");
        return value;
    }

    /// <summary>
    /// True once the cluster has downed or removed this node (or its ActorSystem stopped): such a member can
    /// never rejoin; a fresh process (a new incarnation) has to.
    /// </summary>
    public bool IsDownOrRemoved
    {
        get
        {
            if (System.WhenTerminated.IsCompleted) return true;
            var cluster = Akka.Cluster.Cluster.Get(System);
            if (cluster.IsTerminated) return true;
            // The cluster's read view reports this node as Removed until its first update, which can come after
            // RegisterOnMemberUp has fired (seen right after "node up" once start-up got faster): a Removed
            // status counts only once the view has shown this node as a member. (A node removed before that
            // still ends here: its cluster extension terminates.)
            var status = cluster.SelfMember.Status;
            if (status != MemberStatus.Removed) _seenAsMember = true;
            return status == MemberStatus.Down || (status == MemberStatus.Removed && _seenAsMember);
        }
    }

    private volatile bool _seenAsMember;

    /// <summary>Completes when this node is a member that is Up.</summary>
    public Task WhenUp(CancellationToken cancel = default)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Akka.Cluster.Cluster.Get(System).RegisterOnMemberUp(() => tcs.TrySetResult());
        cancel.Register(() => tcs.TrySetCanceled(cancel));
        return tcs.Task;
    }

    /// <summary>Leaves the cluster gracefully (hand-over of singletons) and stops the ActorSystem.</summary>
    public async ValueTask DisposeAsync()
    {
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClusterLeavingReason.Instance).ConfigureAwait(false);
        await System.WhenTerminated.ConfigureAwait(false);
    }
}
