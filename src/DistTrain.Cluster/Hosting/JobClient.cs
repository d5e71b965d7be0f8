using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Akka.Configuration;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// Submits jobs to a running cluster from outside it (what <c>disttrain submit</c> runs): an ActorSystem with plain
/// remoting, not a cluster member, whose <see cref="Coordinator"/> relays every message through a
/// <see cref="ClusterClient"/> to the coordinator proxy every node registers with its receptionist
/// (<see cref="ClusterNode"/>). The client takes no part in gossip, heartbeats or the split-brain resolver's
/// decisions, and a client killed mid-job is only a watched actor gone, not an unreachable member to down.
/// <para>
/// The coordinator reaches the client's actors directly (the job's progress and result go to the actor named in
/// <see cref="StartTraining.ReplyTo"/>, which also subscribes, so a standby coordinator that takes over keeps
/// reporting to it), so the client's host must be reachable from the ps nodes, as a member's had to be.
/// </para>
/// </summary>
public sealed class JobClient : IAsyncDisposable
{
    /// <summary>The path every node registers its coordinator proxy under.</summary>
    public const string CoordinatorService = "/user/" + ClusterNode.CoordinatorProxyName;

    private JobClient(ActorSystem system, IActorRef coordinator)
    {
        System = system;
        Coordinator = coordinator;
    }

    public ActorSystem System { get; }

    /// <summary>Relays whatever it is told to the cluster's coordinator, keeping the sender (pass it to <see cref="TrainingTopology.RunJob"/>).</summary>
    public IActorRef Coordinator { get; }

    /// <summary>
    /// Starts the client's ActorSystem (<paramref name="settings"/>' host, port and seeds; its roles are ignored) with
    /// the seeds' receptionists as the initial contacts.
    /// </summary>
    public static JobClient Start(NodeSettings settings, Config baseConfig)
    {
        settings.Validate();
        if (settings.SeedList.Count == 0) throw new ArgumentException("a job client needs at least one seed address to contact the cluster");
        var config = ConfigurationFactory.ParseString("akka.actor.provider = remote")
            .WithFallback(ClusterNode.NodeConfig(settings, baseConfig))
            .WithFallback(ClusterClientReceptionist.DefaultConfig())
            // The client hands each message to the receptionist as a DistributedPubSubMediator.Send: its serializer
            // binding lives in the pub-sub defaults (without it the wrapper falls to the JSON default and is lost).
            .WithFallback(Akka.Cluster.Tools.PublishSubscribe.DistributedPubSub.DefaultConfig());
        var system = ActorSystem.Create(settings.SystemName, config);
        try
        {
            var contacts = settings.SeedList.Select(s => ActorPath.Parse($"{s.TrimEnd('/')}/system/receptionist")).ToImmutableHashSet();
            var client = system.ActorOf(ClusterClient.Props(ClusterClientSettings.Create(system).WithInitialContacts(contacts)), "cluster-client");
            return new JobClient(system, system.ActorOf(Props.Create(() => new Relay(client)), "coordinator"));
        }
        catch
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(5));
            throw;
        }
    }

    /// <summary>
    /// True once a node's coordinator proxy answered through the client (the cluster is reachable); false when
    /// nothing answered within <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> ReachAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        try
        {
            // Not an Identify told to the relay: the relay itself would answer that.
            var identity = await Coordinator.Ask<ActorIdentity>(Reach.Instance, timeout, cancel).ConfigureAwait(false);
            return identity.Subject is not null;
        }
        catch (AskTimeoutException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ActorSystemTerminateReason.Instance).ConfigureAwait(false);
        await System.WhenTerminated.ConfigureAwait(false);
    }

    private sealed class Reach
    {
        public static readonly Reach Instance = new();
    }

    private sealed class Relay : ReceiveActor
    {
        public Relay(IActorRef client)
        {
            Receive<Reach>(_ => client.Forward(new ClusterClient.Send(CoordinatorService, new Identify("reach"), localAffinity: true)));
            ReceiveAny(m => client.Forward(new ClusterClient.Send(CoordinatorService, m, localAffinity: true)));
        }
    }
}
