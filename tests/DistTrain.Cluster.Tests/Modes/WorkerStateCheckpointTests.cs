using Akka.Actor;
using Akka.Configuration;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Tests.Cluster;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Tests.Modes;

/// <summary>
/// Local SGD's worker optimizers and the error-feedback residuals of 16-bit gradients live on the workers; checkpoints
/// collect them and a resumed job hands them back, so resuming changes nothing: the parameters end bit for bit where
/// the uninterrupted run's do.
/// </summary>
public sealed class WorkerStateCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("disttrain-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CommunicationSpec Mode(string name) => name switch
    {
        "local-sgd" => new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 3),
        "fp16" => new CommunicationSpec(TrainingMode.Sync, Compression: GradientCompression.Fp16),
        "local-sgd+bf16" => new CommunicationSpec(TrainingMode.LocalSgd, Compression: GradientCompression.Bf16, LocalSteps: 2),
        _ => throw new ArgumentException(name),
    };

    private TrainingJob Job(string mode, int epochs, string folder) =>
        TestJobs.Blobs(epochs: epochs, batch: 40) with { Communication = Mode(mode), OutputDirectory = Path.Combine(_dir, folder) };

    [Theory]
    [InlineData("local-sgd")]
    [InlineData("fp16")]
    [InlineData("local-sgd+bf16")]
    public async Task A_job_resumed_from_its_checkpoint_ends_with_the_parameters_of_the_uninterrupted_run(string mode)
    {
        var loader = new BlobLoader();
        var full = await LocalMode.RunAsync(Job(mode, 4, "full"), 2, loader);
        var half = await LocalMode.RunAsync(Job(mode, 2, "half"), 2, loader);

        var checkpoint = CheckpointFile.Read(half.CheckpointPath!);
        var states = checkpoint.WorkerStates!;
        Assert.Equal([0, 1], states.Select(s => s.Slot));
        foreach (var s in states)
        {
            if (mode.StartsWith("local-sgd", StringComparison.Ordinal))
            {
                Assert.Equal(OptimizerKind.Adam, s.Optimizer!.Kind);
                Assert.True(s.Optimizer.Step > 0);
            }
            else Assert.Null(s.Optimizer);
            if (mode.Contains("16", StringComparison.Ordinal)) Assert.Equal(checkpoint.Parameters.Length, s.Residual!.Length);
            else Assert.Null(s.Residual);
        }

        var resumed = await LocalMode.RunAsync(Job(mode, 4, "resumed"), 2, loader, resumeFrom: half.CheckpointPath);
        Assert.Equal(full.ParametersSha256, resumed.ParametersSha256);
    }

    [Fact]
    public async Task Synchronous_uncompressed_checkpoints_stay_in_format_version_1_without_worker_states()
    {
        var done = await LocalMode.RunAsync(TestJobs.Blobs(epochs: 1, batch: 40) with { OutputDirectory = Path.Combine(_dir, "sync") }, 2, new BlobLoader());
        Assert.Null(CheckpointFile.Read(done.CheckpointPath!).WorkerStates);
        Assert.Equal(CheckpointFile.FormatVersion, BitConverter.ToUInt32(File.ReadAllBytes(done.CheckpointPath!), 8));
    }

    [Fact]
    public async Task A_local_sgd_job_checkpointed_and_resumed_in_a_cluster_ends_where_local_mode_does()
    {
        // The requests, reports and restores cross the wire (data plane) beside the rounds they must not overtake.
        var loader = new BlobLoader();
        var full = await LocalMode.RunAsync(Job("local-sgd+bf16", 4, "local"), 2, loader);
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 2), ThreeNodeClusterTests.TestConfig(), loader);
        await using var w = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [ps.Address.ToString()], Workers: 2),
            ThreeNodeClusterTests.TestConfig(), loader);
        await Task.WhenAll(ps.WhenUp(), w.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));
        var half = await TrainingTopology.RunJob(ps.System, ps.Coordinator, Job("local-sgd+bf16", 2, "cluster-half")).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, CheckpointFile.Read(half.CheckpointPath!).WorkerStates!.Count);
        var resumed = await TrainingTopology.RunJob(ps.System, ps.Coordinator, Job("local-sgd+bf16", 4, "cluster-resumed"), half.CheckpointPath)
            .WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(full.ParametersSha256, resumed.ParametersSha256);
    }
}

/// <summary>The parameter server's side of collecting worker states for a checkpoint, with workers played by probes.</summary>
public sealed class WorkerStateCollectionTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly string _dir = Directory.CreateTempSubdirectory("disttrain-test-").FullName;

    // Long enough for a loaded CI machine to answer in the tests that expect answers (a 500 ms one ran out there),
    // short enough for the test that waits it out.
    public WorkerStateCollectionTests() : base(ConfigurationFactory.ParseString($"{ParameterServerActor.WorkerStateTimeoutKey} = 3s"))
    {
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A local-SGD job's parameter server after one round of two shards; returns it and the two workers.</summary>
    private int _n;

    private (IActorRef Ps, Akka.TestKit.TestProbe W0, Akka.TestKit.TestProbe W1, string Path) AfterOneRound()
    {
        var job = TestJobs.Blobs() with { Communication = new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 2), OutputDirectory = _dir };
        var ps = TestJobs.StartParameterServer(this, job, out var p0);
        var w0 = CreateTestProbe();
        var w1 = CreateTestProbe();
        ps.Tell(new RunStep("blobs", 0, 1, 0, 0, [new ShardAssignment(0, w0.Ref, [0, 1], [1, 1]), new ShardAssignment(1, w1.Ref, [2, 3], [1, 1])]));
        w0.ExpectMsg<ComputeGradients>();
        w1.ExpectMsg<ComputeGradients>();
        _n = p0.Length;
        var zero = new float[p0.Length];
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 0, "w0", zero, 2, 1.0, 1), w0.Ref);
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 1, "w1", (float[])zero.Clone(), 2, 1.0, 1), w1.Ref);
        ExpectMsg<StepCompleted>(s => Assert.Equal(1, s.Version));
        return (ps, w0, w1, Path.Combine(_dir, "checkpoint.dtck"));
    }

    /// <summary>After one round, the coordinator asks for a checkpoint: each worker of the round is asked for its state.</summary>
    private (IActorRef Ps, Akka.TestKit.TestProbe W0, Akka.TestKit.TestProbe W1, string Path) CheckpointAsked()
    {
        var (ps, w0, w1, path) = AfterOneRound();
        ps.Tell(new SaveCheckpoint("blobs", path, ProtocolSamplesMetadata()));
        w0.ExpectMsg<WorkerLocalState>(m => Assert.Equal((WorkerStateRole.Request, 0), (m.Role, m.ShardIndex)));
        w1.ExpectMsg<WorkerLocalState>(m => Assert.Equal((WorkerStateRole.Request, 1), (m.Role, m.ShardIndex)));
        return (ps, w0, w1, path);
    }

    private static OptimizerState Adam(int n, float v) => new(OptimizerKind.Adam, 2, [Enumerable.Repeat(v, n).ToArray(), Enumerable.Repeat(v * v, n).ToArray()]);

    [Fact]
    public void The_checkpoint_waits_for_every_worker_of_the_last_round_and_keeps_their_states_by_shard()
    {
        var (ps, w0, w1, path) = CheckpointAsked();
        ps.Tell(new WorkerLocalState("blobs", WorkerStateRole.Report, 1, 0, Adam(_n, 0.5f)), w1.Ref);
        ExpectNoMsg(TimeSpan.FromMilliseconds(150)); // still waiting for shard 0
        ps.Tell(new WorkerLocalState("blobs", WorkerStateRole.Report, 0, 0, Adam(_n, 0.25f), [1f, 2f]), w0.Ref);
        var saved = ExpectMsg<CheckpointSaved>();
        Assert.Equal(1, saved.Version);
        var states = CheckpointFile.Read(path).WorkerStates!;
        Assert.Equal([0, 1], states.Select(s => s.Slot));
        Assert.Equal(0.25f, states[0].Optimizer!.Buffers[0][0]);
        Assert.Equal([1f, 2f], states[0].Residual!);
        Assert.Equal(0.5f, states[1].Optimizer!.Buffers[0][0]);
    }

    [Fact]
    public void A_state_from_another_round_and_a_worker_that_never_answers_are_left_out_with_a_warning()
    {
        var (ps, w0, w1, path) = CheckpointAsked();
        EventFilter.Warning(contains: "shard 0 (its state follows version 3, not 0), shard 1 (did not answer within 3 s)").ExpectOne(() =>
        {
            ps.Tell(new WorkerLocalState("blobs", WorkerStateRole.Report, 0, 3, Adam(_n, 0.25f)), w0.Ref);
            ExpectMsg<CheckpointSaved>(TimeSpan.FromSeconds(10)); // after the 3 s timeout for shard 1
        });
        Assert.Null(CheckpointFile.Read(path).WorkerStates);
    }

    [Fact]
    public void A_resumed_job_sends_each_saved_state_to_its_shard_s_worker_before_the_first_round_only()
    {
        var (ps, w0, w1, path) = CheckpointAsked();
        ps.Tell(new WorkerLocalState("blobs", WorkerStateRole.Report, 0, 0, Adam(_n, 0.25f)), w0.Ref);
        ps.Tell(new WorkerLocalState("blobs", WorkerStateRole.Report, 1, 0, null, [3f]), w1.Ref);
        ExpectMsg<CheckpointSaved>();

        var job = TestJobs.Blobs() with { Communication = new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 2), OutputDirectory = _dir };
        var resumed = Sys.ActorOf(ParameterServerActor.Props());
        resumed.Tell(new StartParameterServer(job, path), TestActor);
        ExpectMsg<ParameterServerReady>(r => Assert.Equal(1, r.Version));
        // The workers come back in the other order: the states follow the shards, not the workers.
        resumed.Tell(new RunStep("blobs", 1, 1, 0, 1, [new ShardAssignment(0, w1.Ref, [0, 1], [1, 1]), new ShardAssignment(1, w0.Ref, [2, 3], [1, 1])]));
        var toW1 = w1.ExpectMsg<WorkerLocalState>();
        Assert.Equal((WorkerStateRole.Restore, 0, 0.25f), (toW1.Role, toW1.ShardIndex, toW1.Optimizer!.Buffers[0][0]));
        w1.ExpectMsg<ComputeGradients>(c => Assert.Equal(0, c.ShardIndex));
        var toW0 = w0.ExpectMsg<WorkerLocalState>();
        Assert.Equal((WorkerStateRole.Restore, 1), (toW0.Role, toW0.ShardIndex));
        Assert.Equal([3f], toW0.Residual!);
        w0.ExpectMsg<ComputeGradients>();

        // The next round carries no state.
        var n = _n;
        resumed.Tell(new GradientsComputed("blobs", 1, 1, 1, 0, "w1", new float[n], 2, 1.0, 1), w1.Ref);
        resumed.Tell(new GradientsComputed("blobs", 1, 1, 1, 1, "w0", new float[n], 2, 1.0, 1), w0.Ref);
        ExpectMsg<StepCompleted>();
        resumed.Tell(new RunStep("blobs", 2, 1, 0, 2, [new ShardAssignment(0, w1.Ref, [4, 5], [1, 1]), new ShardAssignment(1, w0.Ref, [6, 7], [1, 1])]));
        w1.ExpectMsg<ComputeGradients>();
        w0.ExpectMsg<ComputeGradients>();
    }

    private static CheckpointMetadata ProtocolSamplesMetadata() => new(1, 1, 7, ["a", "b", "c"], Core.Losses.LossKind.SoftmaxCrossEntropy);
}
