using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Compression;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Tests.Modes;

/// <summary>TestKit scenarios of the parameter server in the async, ssp and compressed modes, with probes as workers.</summary>
public class ModeActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly OptimizerSpec Sgd = new(OptimizerKind.Sgd, 0.5f);

    private IActorRef StartPs(TrainingJob job, out float[] initial)
    {
        var ps = Sys.ActorOf(ParameterServerActor.Props());
        ps.Tell(new StartParameterServer(job), TestActor);
        ExpectMsg<ParameterServerReady>(TimeSpan.FromSeconds(15));
        var model = new Model(job.Model);
        model.InitializeParameters(job.Seed);
        initial = model.Parameters;
        return ps;
    }

    private static GradientsComputed Answer(ComputeGradients c, float value, int samples) =>
        new("blobs", c.Version, c.Attempt, c.Step, c.ShardIndex, $"w{c.ShardIndex}", Enumerable.Repeat(value * samples, ParameterCount).ToArray(),
            samples, 0.5 * samples, samples);

    private static readonly int ParameterCount = new Model(TestJobs.Mlp).ParameterCount;

    [Fact]
    public void Ssp_parameter_server_applies_on_arrival_and_makes_a_fast_worker_wait_at_the_bound()
    {
        var ps = StartPs(TestJobs.Blobs(optimizer: Sgd), out var p0);
        var w0 = CreateTestProbe();
        var w1 = CreateTestProbe();
        int[][] batches = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]];
        ps.Tell(new RunAsyncEpoch("blobs", 0, 7, 0, 0, batches, [w0.Ref, w1.Ref], Bound: 1));
        var a0 = w0.ExpectMsg<ComputeGradients>();
        var a1 = w1.ExpectMsg<ComputeGradients>();
        Assert.Equal((0, 0, 7), (a0.Step, a0.Version, a0.Attempt));
        Assert.Equal([2, 3], a1.SampleIds);

        // w0 answers first: applied at once (mean gradient 1, lr 0.5), and w0 gets batch 2 at version 1.
        ps.Tell(Answer(a0, 1f, 2), w0.Ref);
        var s1 = ExpectMsg<StepCompleted>();
        Assert.Equal((1L, 0, 2, 0), (s1.Version, s1.Staleness, s1.Samples, s1.Step));
        Assert.Equal([0, 1], s1.AppliedSampleIds!);
        var b0 = w0.ExpectMsg<ComputeGradients>();
        Assert.Equal((2, 1L), (b0.Step, b0.Version));
        Assert.Equal(p0[0] - 0.5f, b0.Parameters[0], 6);
        Assert.NotEqual(p0[0], b0.Parameters[0]);

        // w0 again, before w1: applying it would push w1's gradient (version 0) to staleness 2. It waits.
        ps.Tell(Answer(b0, 1f, 2), w0.Ref);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        w0.ExpectNoMsg(TimeSpan.FromMilliseconds(50));

        // w1 arrives with staleness 1; then w0's held gradient goes, also with staleness 1.
        ps.Tell(Answer(a1, 2f, 2), w1.Ref);
        var s2 = ExpectMsg<StepCompleted>();
        var s3 = ExpectMsg<StepCompleted>();
        Assert.Equal((2L, 1, 1), (s2.Version, s2.Staleness, s2.Step));
        Assert.Equal((3L, 1, 2), (s3.Version, s3.Staleness, s3.Step));
        var c0 = w0.ExpectMsg<ComputeGradients>();
        var c1 = w1.ExpectMsg<ComputeGradients>();
        Assert.Equal(3, c0.Version);
        Assert.Equal(3, c1.Version);
        // 1 + 2 + 1 mean gradient applied with lr 0.5.
        Assert.Equal(p0[0] - 0.5f * 4, c0.Parameters[0], 5);
        // The two snapshots are separate copies of version 3.
        Assert.NotSame(c0.Parameters, c1.Parameters);
    }

    [Fact]
    public void Async_parameter_server_reports_the_staleness_and_drops_a_non_finite_gradient()
    {
        var ps = StartPs(TestJobs.Blobs(optimizer: Sgd), out _);
        var w0 = CreateTestProbe();
        var w1 = CreateTestProbe();
        ps.Tell(new RunAsyncEpoch("blobs", 0, 3, 0, 0, [[0], [1], [2]], [w0.Ref, w1.Ref], Bound: null));
        var a0 = w0.ExpectMsg<ComputeGradients>();
        var a1 = w1.ExpectMsg<ComputeGradients>();
        ps.Tell(Answer(a0, 1f, 1), w0.Ref);
        ExpectMsg<StepCompleted>(s => Assert.Equal(0, s.Staleness));
        var b0 = w0.ExpectMsg<ComputeGradients>();
        ps.Tell(Answer(b0, 1f, 1), w0.Ref); // unbounded: applied although w1 is behind
        ExpectMsg<StepCompleted>(s => Assert.Equal(2L, s.Version));
        ps.Tell(Answer(a1, float.NaN, 1), w1.Ref);
        var last = ExpectMsg<StepCompleted>();
        Assert.Equal((2, false, 1, 3L), (last.Staleness, last.Applied, last.DroppedShards, last.Version));
        Assert.Empty(last.AppliedSampleIds!);
    }

    [Fact]
    public void Parameter_server_decodes_a_half_precision_gradient_before_averaging()
    {
        var ps = StartPs(TestJobs.Blobs(optimizer: Sgd), out var p0);
        var w = CreateTestProbe();
        ps.Tell(new RunStep("blobs", 0, 1, 0, 0, [new ShardAssignment(0, w.Ref, [0, 1])]));
        var c = w.ExpectMsg<ComputeGradients>();
        // Gradient sum 3.0 per value over 2 samples: mean 1.5, lr 0.5 -> -0.75.
        var half = new ErrorFeedbackEncoder(GradientCompression.Fp16).Encode(Enumerable.Repeat(3f, p0.Length).ToArray());
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 0, "w", [], 2, 1.0, 2, half), w.Ref);
        ExpectMsg<StepCompleted>(s => Assert.True(s.Applied));
        ps.Tell(new GetParameters("blobs"));
        var snap = ExpectMsg<ParametersSnapshot>();
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 0.75f, snap.Parameters[i], 6);
    }

    [Fact]
    public void Local_sgd_parameter_server_subtracts_the_mean_pseudo_gradient_instead_of_an_optimizer_step()
    {
        var job = TestJobs.Blobs(optimizer: new OptimizerSpec(OptimizerKind.Adam, 0.5f)) with
        {
            Communication = new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 3),
        };
        var ps = StartPs(job, out var p0);
        var w0 = CreateTestProbe();
        var w1 = CreateTestProbe();
        ps.Tell(new RunStep("blobs", 0, 1, 0, 0, [new ShardAssignment(0, w0.Ref, [0, 1, 2], [1, 1, 1]), new ShardAssignment(1, w1.Ref, [3], [1, 0, 0])]));
        var c0 = w0.ExpectMsg<ComputeGradients>();
        Assert.Equal([1, 1, 1], c0.LocalSteps!);
        w1.ExpectMsg<ComputeGradients>();
        // Pseudo-gradient sums: 3 samples moved by 1 each -> 3; 1 sample moved by 5 -> 5; mean (3+5)/4 = 2.
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 0, "w0", Enumerable.Repeat(3f, p0.Length).ToArray(), 3, 1, 3));
        ps.Tell(new GradientsComputed("blobs", 0, 1, 0, 1, "w1", Enumerable.Repeat(5f, p0.Length).ToArray(), 1, 1, 1));
        var done = ExpectMsg<StepCompleted>();
        Assert.Equal(3, done.Steps);
        ps.Tell(new GetParameters("blobs"));
        var snap = ExpectMsg<ParametersSnapshot>();
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 2f, snap.Parameters[i], 6); // not Adam's ~lr-sized step
    }
}
