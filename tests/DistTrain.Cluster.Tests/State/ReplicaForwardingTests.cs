using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Cluster.Tests.Serialization;

namespace DistTrain.Cluster.Tests.State;

public class ReplicaForwardingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static ReplicaSnapshot At(long version, string job = "job-42") => new(job, version, [version], null, ProtocolSamples.Replica);

    [Fact]
    public void One_replica_is_in_flight_per_peer_and_the_newest_waiting_one_goes_when_it_is_acknowledged()
    {
        var f = new ReplicaForwarding<string>(Timeout);
        Assert.Equal(10, f.Offer("b", At(10), 0)?.Version);
        Assert.Null(f.Offer("b", At(15), 1));  // waits for b's answer
        Assert.Null(f.Offer("b", At(20), 2));  // replaces the waiting one
        Assert.True(f.HasWaiting("b"));
        Assert.Equal(10, f.Offer("c", At(10), 2)?.Version); // another peer is not held up by b
        Assert.Equal(20, f.Acknowledged("b", "job-42", 10, 3)?.Version); // the newest, never 15
        Assert.False(f.HasWaiting("b"));
        Assert.Null(f.Acknowledged("b", "job-42", 20, 4)); // nothing waits
        Assert.Equal(25, f.Offer("b", At(25), 5)?.Version); // nothing in flight: straight out
    }

    [Fact]
    public void An_acknowledgement_for_another_replica_does_not_release_the_one_in_flight()
    {
        var f = new ReplicaForwarding<string>(Timeout);
        f.Offer("b", At(10), 0);
        f.Offer("b", At(15), 1);
        Assert.Null(f.Acknowledged("b", "job-42", 5, 2));
        Assert.Null(f.Acknowledged("b", "other-job", 10, 2));
        Assert.Null(f.Acknowledged("x", "job-42", 10, 2)); // a peer never offered anything
        Assert.True(f.HasWaiting("b"));
        Assert.Equal(15, f.Acknowledged("b", "job-42", 10, 3)?.Version);
    }

    [Fact]
    public void A_replica_unacknowledged_for_the_timeout_counts_as_lost_and_the_next_one_goes_at_once()
    {
        var f = new ReplicaForwarding<string>(Timeout);
        f.Offer("b", At(10), 0);
        Assert.Null(f.Offer("b", At(15), 9_999));
        Assert.Equal(20, f.Offer("b", At(20), 10_000)?.Version);
        Assert.Null(f.Acknowledged("b", "job-42", 10, 10_001)); // the late answer for the lost one changes nothing
        Assert.Null(f.Offer("b", At(25), 10_002));                // 20 is still in flight
        Assert.Equal(25, f.Acknowledged("b", "job-42", 20, 10_003)?.Version);
    }

    [Fact]
    public void A_finished_job_s_waiting_replica_is_dropped_and_a_forgotten_peer_starts_afresh()
    {
        var f = new ReplicaForwarding<string>(Timeout);
        f.Offer("b", At(10), 0);
        f.Offer("b", At(15), 1);
        f.DropWaiting("job-42");
        Assert.Null(f.Acknowledged("b", "job-42", 10, 2)); // nothing sent after the job's ClearReplica
        f.Offer("b", At(30), 3);
        f.Offer("b", At(35), 4);
        f.Forget("b");
        Assert.False(f.HasWaiting("b"));
        Assert.Equal(40, f.Offer("b", At(40), 5)?.Version);
    }
}
