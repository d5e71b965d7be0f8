using DistTrain.Cluster.Protocol;

namespace DistTrain.Cluster.State;

/// <summary>
/// A standby's choice of replica (pure state): the newest version of the current job wins; a replica of
/// another job replaces it (one job runs at a time); a cleared job's late replicas are refused.
/// </summary>
public sealed class ReplicaStore
{
    private readonly HashSet<string> _cleared = [];

    public ReplicaSnapshot? Latest { get; private set; }

    /// <summary>Keeps <paramref name="r"/> if it is newer than what is held; returns true when kept.</summary>
    public bool Offer(ReplicaSnapshot r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (_cleared.Contains(r.JobId)) return false;
        if (Latest is { } held && held.JobId == r.JobId && held.Version >= r.Version) return false;
        Latest = r;
        return true;
    }

    /// <summary>The job ended: forget its replica and refuse any that arrive late.</summary>
    public void Clear(string jobId)
    {
        _cleared.Add(jobId);
        if (Latest?.JobId == jobId) Latest = null;
    }
}
