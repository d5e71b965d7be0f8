using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Tests.Actors;

public class ParameterServerActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly OptimizerSpec Sgd = new(OptimizerKind.Sgd, 0.5f);

    private IActorRef StartPs(out float[] initial)
    {
        var job = TestJobs.Blobs(optimizer: Sgd);
        var ps = Sys.ActorOf(ParameterServerActor.Props());
        ps.Tell(new StartParameterServer(job), TestActor);
        var ready = ExpectMsg<ParameterServerReady>(TimeSpan.FromSeconds(15));
        Assert.Equal(0, ready.Version);
        var model = new Model(job.Model);
        model.InitializeParameters(job.Seed);
        initial = model.Parameters;
        Assert.Equal(initial.Length, ready.ParameterCount);
        return ps;
    }

    [Fact]
    public void Parameter_server_applies_the_sample_weighted_average_when_every_shard_reported()
    {
        var ps = StartPs(out var p0);
        var n = p0.Length;
        var w1 = CreateTestProbe();
        var w2 = CreateTestProbe();
        ps.Tell(new RunStep("blobs", 0, 1, 0, 0, [new ShardAssignment(0, w1.Ref, [0, 1, 2]), new ShardAssignment(1, w2.Ref, [3])]));
        var c1 = w1.ExpectMsg<ComputeGradients>();
        var c2 = w2.ExpectMsg<ComputeGradients>();
        Assert.Equal(p0, c1.Parameters);
        Assert.Equal([3], c2.SampleIds);

        // Gradient sums: shard 0 (3 samples) 9 each, shard 1 (1 sample) 1 each -> mean (9+1)/4 = 2.5.
        var g1 = Enumerable.Repeat(9f, n).ToArray();
        var g2 = Enumerable.Repeat(1f, n).ToArray();
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 0, "w1", g1, 3, 3.0, 2), w1.Ref);
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 1, "w2", g2, 1, 1.0, 1), w2.Ref);
        var done = ExpectMsg<StepCompleted>();
        Assert.Equal(1, done.Version);
        Assert.Equal(4, done.Samples);
        Assert.Equal(4.0, done.LossSum, 12);
        Assert.Equal(3, done.Correct);

        ps.Tell(new GetParameters("blobs"));
        var snap = ExpectMsg<ParametersSnapshot>();
        Assert.Equal(1, snap.Version);
        for (var i = 0; i < n; i++) Assert.Equal(p0[i] - 0.5f * 2.5f, snap.Parameters[i], 6);
    }

    [Fact]
    public void Parameter_server_ignores_a_reply_for_a_stale_version()
    {
        var ps = StartPs(out var p0);
        var w = CreateTestProbe();
        ps.Tell(new RunStep("blobs", 0, 1, 0, 0, [new ShardAssignment(0, w.Ref, [0])]));
        w.ExpectMsg<ComputeGradients>();
        var g = Enumerable.Repeat(1f, p0.Length).ToArray();
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 0, "w", g, 1, 0.1, 1));
        ExpectMsg<StepCompleted>(s => Assert.Equal(1, s.Version));

        // A late duplicate of version 0, and an answer from an older attempt of the next step, change nothing.
        ps.Tell(new RunStep("blobs", 1, 2, 0, 1, [new ShardAssignment(0, w.Ref, [1])]));
        w.ExpectMsg<ComputeGradients>(c => Assert.Equal(1, c.Version));
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 0, "w", g, 1, 0.1, 1));
        ps.Tell(new GradientsComputed("blobs", 1, 1, 1, 0, "w", g, 1, 0.1, 1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        ps.Tell(new GetParameters("blobs"));
        var snap = ExpectMsg<ParametersSnapshot>();
        Assert.Equal(1, snap.Version);
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 0.5f, snap.Parameters[i], 6);
    }

    [Fact]
    public void Parameter_server_drops_a_non_finite_gradient_and_leaves_the_parameters_unchanged()
    {
        var ps = StartPs(out var p0);
        var w = CreateTestProbe();
        ps.Tell(new RunStep("blobs", 0, 1, 0, 0, [new ShardAssignment(0, w.Ref, [0])]));
        w.ExpectMsg<ComputeGradients>();
        var bad = new float[p0.Length];
        bad[3] = float.NaN;
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 0, "w", bad, 1, 0.1, 1));
        var done = ExpectMsg<StepCompleted>();
        Assert.Equal(1, done.DroppedShards);
        Assert.False(done.Applied);
        Assert.Equal(0, done.Samples);
        ps.Tell(new GetParameters("blobs"));
        Assert.Equal(p0, ExpectMsg<ParametersSnapshot>().Parameters);
    }
}
