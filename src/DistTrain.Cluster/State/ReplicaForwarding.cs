using DistTrain.Cluster.Protocol;

namespace DistTrain.Cluster.State;

/// <summary>
/// Flow control for the replicas a standby forwards to the standbys on the other ps nodes: at most one replica
/// in flight per peer. A replica offered while the peer has not acknowledged the last one waits, and a newer one
/// replaces it, so a peer always gets the newest replica as soon as it has taken the previous one. Without this a
/// fast job (a replica every k steps of a millisecond) queued replicas in Akka.Remote faster than they were
/// delivered: the standby fell further behind the longer the job ran (15 steps behind with k = 5 in one test run),
/// and the queue held memory for every replica in it.
/// <para>
/// A replica unacknowledged for <see cref="AckTimeout"/> counts as lost (a peer that does not acknowledge, or an
/// answer lost with a broken association): the next offer goes out at once. Acknowledgements name the replica's job
/// and version; one for a replica that is no longer in flight changes nothing.
/// </para>
/// </summary>
public sealed class ReplicaForwarding<TPeer>(TimeSpan ackTimeout) where TPeer : notnull
{
    private sealed class PeerState
    {
        public (string JobId, long Version)? InFlight;
        public long SentAtMs;
        public ReplicaSnapshot? Waiting;
    }

    private readonly Dictionary<TPeer, PeerState> _peers = [];

    public TimeSpan AckTimeout { get; } = ackTimeout;

    /// <summary>
    /// <paramref name="replica"/> is the newest for <paramref name="peer"/> at <paramref name="nowMs"/>: returns it when
    /// it should be sent now (it is then in flight), or null when it waits for the peer's acknowledgement.
    /// </summary>
    public ReplicaSnapshot? Offer(TPeer peer, ReplicaSnapshot replica, long nowMs)
    {
        var s = State(peer);
        if (s.InFlight is not null && nowMs - s.SentAtMs < (long)AckTimeout.TotalMilliseconds)
        {
            s.Waiting = replica;
            return null;
        }
        return Send(s, replica, nowMs);
    }

    /// <summary>
    /// <paramref name="peer"/> holds the replica of <paramref name="jobId"/> at <paramref name="version"/>: returns the
    /// replica waiting for it, to send now, or null.
    /// </summary>
    public ReplicaSnapshot? Acknowledged(TPeer peer, string jobId, long version, long nowMs)
    {
        if (!_peers.TryGetValue(peer, out var s) || s.InFlight != (jobId, version)) return null;
        s.InFlight = null;
        return s.Waiting is { } next ? Send(s, next, nowMs) : null;
    }

    /// <summary>The job ended: its waiting replicas are not sent (one sent after the job's ClearReplica would bring it back).</summary>
    public void DropWaiting(string jobId)
    {
        foreach (var s in _peers.Values)
            if (s.Waiting?.JobId == jobId) s.Waiting = null;
    }

    /// <summary>The peer left the cluster.</summary>
    public void Forget(TPeer peer) => _peers.Remove(peer);

    /// <summary>Whether <paramref name="peer"/> has a replica waiting (tests, logs).</summary>
    public bool HasWaiting(TPeer peer) => _peers.TryGetValue(peer, out var s) && s.Waiting is not null;

    private PeerState State(TPeer peer)
    {
        if (!_peers.TryGetValue(peer, out var s)) _peers[peer] = s = new PeerState();
        return s;
    }

    private static ReplicaSnapshot Send(PeerState s, ReplicaSnapshot replica, long nowMs)
    {
        s.InFlight = (replica.JobId, replica.Version);
        s.SentAtMs = nowMs;
        s.Waiting = null;
        return replica;
    }
}
