using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;

namespace DistTrain.Cluster.Actors;

/// <summary>
/// Runs on every ps node (<c>/user/disttrain-standby</c>). The parameter server on the active node hands it
/// each <see cref="ReplicaSnapshot"/>; it keeps the newest and forwards it to the standbys on the other ps
/// nodes, which keep it too. A coordinator that starts on this node (the singletons moved here after the
/// active ps node died) asks for it with <see cref="GetReplica"/> and continues the job from there.
/// Which replica to keep is <see cref="ReplicaStore"/>'s decision.
/// </summary>
public sealed class StandbyActor : ReceiveActor, IWithTimers
{
    public const string Name = "disttrain-standby";
    private const string Role = "ps";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ReplicaStore _store = new();
    private readonly Dictionary<Address, IActorRef?> _peers = [];
    // At most one replica in flight per peer, the newest waiting: a fast job offers replicas faster than Akka.Remote delivers them.
    private readonly ReplicaForwarding<Address> _forwarding = new(AckTimeout);

    /// <summary>How long a forwarded replica may go unacknowledged before the next one is sent anyway.</summary>
    public static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(10);

    public StandbyActor()
    {
        Receive<ReplicaSnapshot>(OnSnapshot);
        Receive<ClearReplica>(c =>
        {
            _store.Clear(c.JobId);
            _forwarding.DropWaiting(c.JobId);
            if (IsLocal(Sender)) Forward(c);
        });
        Receive<ReplicaReceived>(a =>
        {
            var from = Sender.Path.Address;
            if (_forwarding.Acknowledged(from, a.JobId, a.Version, Environment.TickCount64) is { } next && _peers.GetValueOrDefault(from) is { } peer)
                Wire.Send(Context, peer, next);
        });
        Receive<GetReplica>(_ =>
        {
            if (_store.Latest is { } r) Sender.Tell(r);
            else Sender.Tell(new NoReplica());
        });
        Receive<ClusterEvent.MemberUp>(m => Track(m.Member));
        Receive<ClusterEvent.CurrentClusterState>(s => { foreach (var m in s.Members) if (m.Status == MemberStatus.Up) Track(m); });
        Receive<ClusterEvent.MemberRemoved>(m =>
        {
            _peers.Remove(m.Member.Address);
            _forwarding.Forget(m.Member.Address);
        });
        Receive<ActorIdentity>(id =>
        {
            if (id.MessageId is string s && Address.TryParse(s, out var a) && id.Subject is { } peer && _peers.ContainsKey(a))
            {
                _peers[a] = peer;
                _log.Info("Standby on {0} found", a);
            }
        });
        Receive<Resolve>(_ => { foreach (var (a, peer) in _peers) if (peer is null) Identify(a); });
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new StandbyActor());

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed class Resolve
    {
        public static readonly Resolve Instance = new();
    }

    protected override void PreStart()
    {
        if (Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal))
        {
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
                typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved));
            Timers.StartPeriodicTimer("resolve", Resolve.Instance, TimeSpan.FromSeconds(2));
        }
    }

    protected override void PostStop()
    {
        if (Context.System.Settings.ProviderClass.Contains("Cluster", StringComparison.Ordinal))
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    private bool IsLocal(IActorRef sender) => sender.Path.Address.HasLocalScope || sender.Path.Address == Akka.Cluster.Cluster.Get(Context.System).SelfAddress;

    private void Track(Member m)
    {
        if (!m.HasRole(Role) || m.Address == Akka.Cluster.Cluster.Get(Context.System).SelfAddress || _peers.ContainsKey(m.Address)) return;
        _peers[m.Address] = null;
        Identify(m.Address);
    }

    // The address travels as a string: the id of an Identify is serialized like any message.
    private void Identify(Address a) => Context.ActorSelection(new RootActorPath(a) / "user" / Name).Tell(new Identify(a.ToString()));

    private void OnSnapshot(ReplicaSnapshot r)
    {
        var local = IsLocal(Sender);
        var first = _store.Latest?.JobId != r.JobId;
        if (_store.Offer(r))
        {
            // The first replica of a job is worth a warning-level line: from now on this node can take the job over.
            if (first && !local) _log.Warning("Standby holds a replica of job {0} (version {1}) from {2}; this node can take it over", r.JobId, r.Version, Sender.Path.Address);
            else _log.Info("Standby holds job {0} at version {1} ({2})", r.JobId, r.Version, local ? "local" : "from " + Sender.Path.Address);
        }
        if (local) Forward(r);
        else Sender.Tell(new ReplicaReceived(r.JobId, r.Version)); // the forwarder may send the next one
    }

    private void Forward(ReplicaSnapshot r)
    {
        var now = Environment.TickCount64;
        foreach (var (address, peer) in _peers)
            if (peer is not null && _forwarding.Offer(address, r, now) is { } send) Wire.Send(Context, peer, send);
    }

    private void Forward(ClearReplica c)
    {
        foreach (var (_, peer) in _peers)
            if (peer is not null) Wire.Send(Context, peer, c);
    }
}
