using Akka.Actor;
using Akka.Configuration;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Cluster;

/// <summary>Replicas are for a standby on another ps node: a cluster with one ps node captures none.</summary>
public class SinglePsReplicaTests
{
    [Fact]
    public async Task With_no_other_ps_node_the_parameter_server_captures_no_replica_while_it_trains()
    {
        var loader = new BlobLoader();
        // A replica every step: before, each one copied the parameters and Adam's state for this node's standby alone.
        var config = ConfigurationFactory.ParseString("disttrain.replicate-every = 1").WithFallback(ThreeNodeClusterTests.TestConfig());
        await using var node = ClusterNode.Start(new NodeSettings(["seed", "ps", "worker"], Port: 0, MinWorkers: 1, Workers: 1), config, loader);
        await node.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
        var standby = node.System.ActorSelection("/user/" + StandbyActor.Name);
        var job = TestJobs.Blobs(epochs: 40, batch: 16);
        var training = TrainingTopology.RunJob(node.System, node.Coordinator, job);
        var polls = 0;
        while (!training.IsCompleted)
        {
            var answer = await standby.Ask<object>(new GetReplica(), TimeSpan.FromSeconds(5));
            Assert.IsType<NoReplica>(answer);
            polls++;
            await Task.Delay(20);
        }
        var done = await training.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(40, done.Epochs);
        Assert.True(polls >= 3, $"the standby was asked only {polls} times while the job ran");
    }
}
