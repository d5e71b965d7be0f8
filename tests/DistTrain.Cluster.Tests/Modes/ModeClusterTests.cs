using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Tests.Cluster;

namespace DistTrain.Cluster.Tests.Modes;

/// <summary>The communication modes across a real wire: two ActorSystems over TCP, every message serialized.</summary>
public class ModeClusterTests
{
    private static async Task<(TrainingCompleted Done, List<object> Events)> RunInCluster(TrainingJob job, IJobDataLoader loader)
    {
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 2), ThreeNodeClusterTests.TestConfig(), loader);
        await using var w = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [ps.Address.ToString()], Workers: 2),
            ThreeNodeClusterTests.TestConfig(), loader);
        await Task.WhenAll(ps.WhenUp(), w.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));
        var events = new List<object>();
        var done = await TrainingTopology.RunJob(ps.System, ps.Coordinator, job, onEvent: e => { lock (events) events.Add(e); })
            .WaitAsync(TimeSpan.FromSeconds(60));
        return (done, events);
    }

    [Fact]
    public async Task Local_sgd_with_fp16_gradients_gives_the_same_parameters_in_a_cluster_as_in_local_mode()
    {
        // The 16-bit payload (GH) and the local step sizes (CL) cross the wire exactly, so the result is bit-identical.
        var job = TestJobs.Blobs(epochs: 2, batch: 40) with
        {
            Communication = new CommunicationSpec(TrainingMode.LocalSgd, Compression: GradientCompression.Fp16, LocalSteps: 3),
        };
        var loader = new BlobLoader();
        var local = await LocalMode.RunAsync(job, 2, loader);
        var (remote, _) = await RunInCluster(job, loader);
        Assert.Equal(local.ParametersSha256, remote.ParametersSha256);
        Assert.Equal(local.Steps, remote.Steps);
    }

    [Fact]
    public async Task Ssp_with_bf16_gradients_trains_in_a_cluster_within_the_bound_and_visits_every_sample_once()
    {
        var job = TestJobs.Blobs(epochs: 3, batch: 16) with
        {
            Communication = new CommunicationSpec(TrainingMode.Ssp, Staleness: 1, Compression: GradientCompression.Bf16),
        };
        var (done, events) = await RunInCluster(job, new BlobLoader());
        lock (events)
        {
            Assert.All(events.OfType<EpochCompleted>(), e => Assert.Equal((1, 1), (e.VisitsMin, e.VisitsMax)));
            Assert.Equal(3, events.OfType<StalenessReport>().Count());
            Assert.All(events.OfType<StalenessReport>(), r => Assert.InRange(r.MaxStaleness, 0, 1));
        }
        Assert.True(done.TestAccuracy >= 0.9, $"test accuracy {done.TestAccuracy}");
    }
}
