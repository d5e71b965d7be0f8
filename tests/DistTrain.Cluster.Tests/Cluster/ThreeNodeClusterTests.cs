using Akka.Actor;
using Akka.Configuration;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Transport;

namespace DistTrain.Cluster.Tests.Cluster;

/// <summary>
/// Three ActorSystems in one process, joined into a cluster over real TCP on 127.0.0.1 (port 0), with
/// every message forced through its serializer: the same actors as local mode, now across a wire.
/// </summary>
public class ThreeNodeClusterTests
{
    internal static Config TestConfig() => ConfigurationFactory.ParseString("""
        akka.actor.serialize-messages = on
        akka.cluster.split-brain-resolver.stable-after = 3s
        akka.loglevel = WARNING
        """).WithFallback(ClusterConfig.Load());

    [Fact]
    public async Task Three_node_cluster_trains_the_penguins_to_at_least_95_percent()
    {
        var loader = new PresetDataLoader();
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 2), TestConfig(), loader);
        var seed = ps.Address.ToString();
        await using var w1 = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [seed], Workers: 1), TestConfig(), loader);
        await using var w2 = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [seed], Workers: 1), TestConfig(), loader);
        await Task.WhenAll(ps.WhenUp(), w1.WhenUp(), w2.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));

        var job = Presets.Get("penguins", seed: 42) with { Epochs = 40 };
        var events = new List<object>();
        var done = await TrainingTopology.RunJob(ps.System, ps.Coordinator, job, onEvent: e => { lock (events) events.Add(e); })
            .WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(2, done.Workers);
        Assert.True(done.TestAccuracy >= 0.95, $"test accuracy {done.TestAccuracy:0.000}");
        lock (events) Assert.Equal(40, events.OfType<EpochCompleted>().Count());
    }

    [Fact]
    public async Task Cluster_training_gives_the_same_parameters_as_local_mode_with_the_same_workers_and_seed()
    {
        var loader = new BlobLoader();
        var job = TestJobs.Blobs(epochs: 2, batch: 40);
        var local = await LocalMode.RunAsync(job, 2, loader);

        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 2), TestConfig(), loader);
        var seed = ps.Address.ToString();
        await using var w = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [seed], Workers: 2), TestConfig(), loader);
        await Task.WhenAll(ps.WhenUp(), w.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));
        // The data plane is on by default; connect it both ways first so that every step's tensors take it
        // (the two worker actors share the worker node's one connection to the ps node).
        var psPlane = DataPlane.Find(ps.System)!;
        var workerPlane = DataPlane.Find(w.System)!;
        Assert.True(await psPlane.ConnectAsync(w.Address) && await workerPlane.ConnectAsync(ps.Address));
        var remote = await TrainingTopology.RunJob(ps.System, ps.Coordinator, job).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(local.ParametersSha256, remote.ParametersSha256);
        Assert.Equal(local.TestPredictions, remote.TestPredictions);
        Assert.True(psPlane.Stats.FramesSent > 0 && workerPlane.Stats.FramesSent > 0, $"ps {psPlane.Stats}, worker {workerPlane.Stats}");
        Assert.Equal(0, psPlane.Stats.FallbackSends + workerPlane.Stats.FallbackSends);
    }

    [Fact]
    public async Task The_nodes_connect_their_data_planes_before_the_first_step_so_no_tensor_goes_through_Akka()
    {
        // Nobody calls ConnectAsync here: the coordinator connects when the worker registers, the worker when it
        // prepares the job (and waits for it briefly), so the very first parameters and gradients take the data plane.
        var loader = new BlobLoader();
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 1), TestConfig(), loader);
        await using var w = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [ps.Address.ToString()], Workers: 1), TestConfig(), loader);
        await Task.WhenAll(ps.WhenUp(), w.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));
        var done = await TrainingTopology.RunJob(ps.System, ps.Coordinator, TestJobs.Blobs(epochs: 1, batch: 40)).WaitAsync(TimeSpan.FromSeconds(60));
        var psPlane = DataPlane.Find(ps.System)!;
        var workerPlane = DataPlane.Find(w.System)!;
        Assert.True(done.Steps > 0);
        Assert.True(psPlane.Stats.FramesSent > 0 && workerPlane.Stats.FramesSent > 0, $"ps {psPlane.Stats}, worker {workerPlane.Stats}");
        Assert.Equal(0, psPlane.Stats.FallbackSends + workerPlane.Stats.FallbackSends);
    }
}

public class OversizePayloadClusterTests
{
    [Fact]
    public async Task Gradients_larger_than_the_frame_limit_are_delivered_in_chunks_and_training_matches_local_mode()
    {
        // 4 -> 4096 -> 3: 32,771 parameters = 131 KB per gradient, over twice a 64,000-byte frame.
        var wide = new DistTrain.Core.Models.ModelSpec([4],
        [
            new DistTrain.Core.Models.DenseSpec(4096), new DistTrain.Core.Models.ActivationSpec(DistTrain.Core.Models.ActivationKind.ReLU),
            new DistTrain.Core.Models.DenseSpec(3),
        ]);
        var job = TestJobs.Blobs(epochs: 1, batch: 60) with { Model = wide };
        var loader = new BlobLoader();
        var local = await LocalMode.RunAsync(job, 2, loader);

        var config = ConfigurationFactory.ParseString("""
            akka.remote.dot-netty.tcp.maximum-frame-size = 64000b
            akka.remote.dot-netty.tcp.send-buffer-size = 256000b
            akka.remote.dot-netty.tcp.receive-buffer-size = 256000b
            # Chunking is what this test is about: keep the tensors on Akka.Remote instead of the data plane.
            disttrain.data-plane.enabled = off
            """).WithFallback(ThreeNodeClusterTests.TestConfig());
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 2), config, loader);
        await using var w = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [ps.Address.ToString()], Workers: 2), config, loader);
        await Task.WhenAll(ps.WhenUp(), w.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));
        var remote = await TrainingTopology.RunJob(ps.System, ps.Coordinator, job).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(local.ParametersSha256, remote.ParametersSha256);
        var stats = await ps.System.ActorSelection("/user/" + DistTrain.Cluster.Serialization.ChunkingTransport.ReceiverName)
            .Ask<DistTrain.Cluster.Serialization.ChunkingStats>(DistTrain.Cluster.Serialization.GetChunkingStats.Instance, TimeSpan.FromSeconds(5));
        Assert.True(stats.Completed >= 8, $"expected the gradients to arrive in chunks; {stats}");
    }
}

public class RoleConfigTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    [Fact]
    public void Role_files_layer_over_the_base_and_under_the_environment()
    {
        var ps = ClusterConfig.Load(environment: NoEnvironment, roles: ["ps"]);
        Assert.Equal(TimeSpan.FromSeconds(120), ClusterNode.PrepareTimeout(ps));
        Assert.Equal(TimeSpan.FromSeconds(1), ps.GetTimeSpan("akka.cluster.singleton.hand-over-retry-interval"));
        var worker = ClusterConfig.Load(environment: NoEnvironment, roles: ["worker"]);
        Assert.Equal(TimeSpan.FromSeconds(3), ClusterNode.AnnounceInterval(worker));
        Assert.False(worker.HasPath("disttrain.coordinator.prepare-timeout"));
        var seed = ClusterConfig.Load(environment: NoEnvironment, roles: ["seed"]);
        Assert.Equal(TimeSpan.FromSeconds(5), seed.GetTimeSpan("akka.cluster.seed-node-timeout"));
        // Overrides win over role files; every role keeps base.conf's frame limit.
        var overridden = ClusterConfig.Load("disttrain.worker.announce-interval = 7s", NoEnvironment, ["worker"]);
        Assert.Equal(TimeSpan.FromSeconds(7), ClusterNode.AnnounceInterval(overridden));
        Assert.Equal(16L * 1024 * 1024, worker.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
    }

    [Fact]
    public void A_non_positive_duration_in_a_role_setting_is_refused_with_its_key()
    {
        var bad = ClusterConfig.Load("disttrain.worker.announce-interval = 0s", NoEnvironment, ["worker"]);
        var e = Assert.Throws<ArgumentException>(() => ClusterNode.AnnounceInterval(bad));
        Assert.Contains("disttrain.worker.announce-interval", e.Message);
    }
}
