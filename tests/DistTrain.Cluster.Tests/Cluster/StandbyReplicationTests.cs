using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Tests.Serialization;

namespace DistTrain.Cluster.Tests.Cluster;

/// <summary>Two ps nodes over TCP: a replica handed to the active node's standby reaches the other node's standby.</summary>
public class StandbyReplicationTests
{
    [Fact]
    public async Task A_replica_given_to_the_local_standby_reaches_the_standby_on_the_other_ps_node_and_a_clear_removes_it()
    {
        var loader = new BlobLoader();
        await using var a = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0), ThreeNodeClusterTests.TestConfig(), loader);
        await using var b = ClusterNode.Start(new NodeSettings(["ps"], Port: 0, Seeds: [a.Address.ToString()]), ThreeNodeClusterTests.TestConfig(), loader);
        await Task.WhenAll(a.WhenUp(), b.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));

        var replica = new ReplicaSnapshot("job-42", 30, [1f, -2f, 3.5f], null, ProtocolSamples.Replica);
        var standbyB = b.System.ActorSelection("/user/" + StandbyActor.Name);
        object? answer = null;
        for (var i = 0; i < 100 && answer is not ReplicaSnapshot; i++)
        {
            // Re-sent until B's standby has been found by A's (it resolves peers every 2 s).
            a.System.ActorSelection("/user/" + StandbyActor.Name).Tell(replica, ActorRefs.NoSender);
            await Task.Delay(200);
            answer = await standbyB.Ask<object>(new GetReplica(), TimeSpan.FromSeconds(5));
        }
        var got = Assert.IsType<ReplicaSnapshot>(answer);
        Deep.Equal(replica, got);

        // A burst far faster than the replicas travel (one every few microseconds): B acknowledges each one it
        // holds, A keeps one in flight and the newest waiting, and B ends with the last one.
        for (var v = 31; v <= 400; v++)
            a.System.ActorSelection("/user/" + StandbyActor.Name).Tell(replica with { Version = v }, ActorRefs.NoSender);
        for (var i = 0; i < 100 && (answer as ReplicaSnapshot)?.Version != 400; i++)
        {
            await Task.Delay(100);
            answer = await standbyB.Ask<object>(new GetReplica(), TimeSpan.FromSeconds(5));
        }
        Assert.Equal(400, Assert.IsType<ReplicaSnapshot>(answer).Version);

        a.System.ActorSelection("/user/" + StandbyActor.Name).Tell(new ClearReplica("job-42"), ActorRefs.NoSender);
        for (var i = 0; i < 50 && answer is not NoReplica; i++)
        {
            await Task.Delay(100);
            answer = await standbyB.Ask<object>(new GetReplica(), TimeSpan.FromSeconds(5));
        }
        Assert.IsType<NoReplica>(answer);
    }
}
