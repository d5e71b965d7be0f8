using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Modes;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Tests.Modes;

/// <summary>
/// The staleness compensations of async/ssp (<see cref="StalenessCompensation"/>): their arithmetic, the
/// parameter server with probes as workers, and local-mode runs where no gradient is ever stale.
/// </summary>
public class StalenessCompensationTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly OptimizerSpec Sgd = new(OptimizerKind.Sgd, 0.5f);
    private static readonly int ParameterCount = new Model(TestJobs.Mlp).ParameterCount;

    [Theory]
    [InlineData(0, 1f)]
    [InlineData(1, 0.5f)]
    [InlineData(3, 0.25f)]
    [InlineData(4, 0.2f)]
    public void Learning_rate_scale_is_one_over_one_plus_the_staleness(int staleness, float expected) =>
        Assert.Equal(expected, StaleGradients.LearningRateScale(staleness));

    [Fact]
    public void Learning_rate_scale_refuses_a_negative_staleness() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => StaleGradients.LearningRateScale(-1));

    [Fact]
    public void Extrapolate_moves_each_parameter_k_times_its_last_update()
    {
        // 19 values: the vector loop and the scalar tail. Parameter i moved from i to 2i (by i) in the last update.
        var current = new float[19];
        var previous = new float[19];
        for (var i = 0; i < 19; i++)
        {
            current[i] = 2 * i;
            previous[i] = i;
        }
        var into = new float[19];
        StaleGradients.Extrapolate(current, previous, 2, into);
        for (var i = 0; i < 19; i++) Assert.Equal(4f * i, into[i]);
        Assert.Equal(2f * 18, current[18]); // inputs untouched
    }

    [Fact]
    public void Extrapolate_by_zero_steps_copies_the_parameters_exactly()
    {
        // Even next to a previous value that would turn the formula into NaN (inf - inf) or round 0.1f + 0·x.
        float[] current = [0.1f, float.MaxValue, -3.3e-38f, 7f];
        float[] previous = [float.PositiveInfinity, float.NegativeInfinity, 1f, float.NaN];
        var into = new float[4];
        StaleGradients.Extrapolate(current, previous, 0, into);
        Assert.Equal(current, into);
    }

    [Fact]
    public void Extrapolate_names_the_mismatched_lengths()
    {
        var e = Assert.Throws<ArgumentException>(() => StaleGradients.Extrapolate(new float[3], new float[2], 1, new float[3]));
        Assert.Contains("previous 2", e.Message);
    }

    [Theory]
    [InlineData("none", StalenessCompensation.None)]
    [InlineData("LR", StalenessCompensation.LearningRate)]
    [InlineData("lookahead", StalenessCompensation.Lookahead)]
    public void Compensation_names_parse(string name, StalenessCompensation expected) =>
        Assert.Equal(expected, CommunicationSpec.ParseCompensation(name));

    [Fact]
    public void Lookahead_is_the_default_of_async_and_ssp_and_inactive_in_the_other_modes()
    {
        Assert.Equal(StalenessCompensation.Lookahead, new CommunicationSpec(TrainingMode.Async).ActiveCompensation);
        Assert.Equal(StalenessCompensation.Lookahead, new CommunicationSpec(TrainingMode.Ssp).ActiveCompensation);
        Assert.Equal(StalenessCompensation.None, new CommunicationSpec(TrainingMode.Sync).ActiveCompensation);
        Assert.Equal(StalenessCompensation.None, new CommunicationSpec(TrainingMode.LocalSgd).ActiveCompensation);
        Assert.Throws<ArgumentException>(() => new CommunicationSpec(TrainingMode.Async, Compensation: (StalenessCompensation)9).Validate());
    }

    private IActorRef StartPs(StalenessCompensation compensation, TrainingMode mode, out float[] initial) =>
        TestJobs.StartParameterServer(this,
            TestJobs.Blobs(optimizer: Sgd) with { Communication = new CommunicationSpec(mode, Compensation: compensation) }, out initial);

    // A gradient sum of value·samples per parameter: mean gradient `value`.
    private static GradientsComputed Answer(ComputeGradients c, float value, int samples) =>
        new("blobs", c.Version, c.Attempt, c.Step, c.ShardIndex, $"w{c.ShardIndex}", Enumerable.Repeat(value * samples, ParameterCount).ToArray(),
            samples, 0.5 * samples, samples);

    private float[] Master(IActorRef ps)
    {
        ps.Tell(new GetParameters("blobs"));
        return ExpectMsg<ParametersSnapshot>().Parameters;
    }

    [Fact]
    public void Lookahead_hands_a_worker_the_parameters_one_update_ahead_while_the_other_worker_computes()
    {
        var ps = StartPs(StalenessCompensation.Lookahead, TrainingMode.Async, out var p0);
        var w0 = CreateTestProbe();
        var w1 = CreateTestProbe();
        ps.Tell(new RunAsyncEpoch("blobs", 0, 1, 0, 0, [[0, 1], [2, 3], [4, 5], [6, 7]], [w0.Ref, w1.Ref], Bound: null));
        var a0 = w0.ExpectMsg<ComputeGradients>();
        var a1 = w1.ExpectMsg<ComputeGradients>();
        Assert.Equal(p0, a0.Parameters); // no update yet: nothing to extrapolate
        Assert.Equal(p0, a1.Parameters);

        // w0: mean gradient 1 at lr 0.5 moves every parameter by -0.5. w1 still computes, so w0's next
        // gradient will land one update later: it computes at p0 - 0.5 - 0.5.
        ps.Tell(Answer(a0, 1f, 2), w0.Ref);
        ExpectMsg<StepCompleted>(s => Assert.Equal(0, s.Staleness));
        var b0 = w0.ExpectMsg<ComputeGradients>();
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 1f, b0.Parameters[i], 5);
        var master1 = Master(ps);
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 0.5f, master1[i], 5); // the master is not moved ahead

        // w1 (staleness 1): mean gradient 2 -> -1; last update -1, so w1 computes at p0 - 1.5 - 1.
        ps.Tell(Answer(a1, 2f, 2), w1.Ref);
        ExpectMsg<StepCompleted>(s => Assert.Equal(1, s.Staleness));
        var b1 = w1.ExpectMsg<ComputeGradients>();
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 2.5f, b1.Parameters[i], 5);
    }

    [Fact]
    public void Learning_rate_compensation_halves_the_step_of_a_gradient_one_version_stale()
    {
        var ps = StartPs(StalenessCompensation.LearningRate, TrainingMode.Async, out var p0);
        var w0 = CreateTestProbe();
        var w1 = CreateTestProbe();
        ps.Tell(new RunAsyncEpoch("blobs", 0, 1, 0, 0, [[0, 1], [2, 3], [4, 5]], [w0.Ref, w1.Ref], Bound: null));
        var a0 = w0.ExpectMsg<ComputeGradients>();
        var a1 = w1.ExpectMsg<ComputeGradients>();
        ps.Tell(Answer(a0, 1f, 2), w0.Ref);
        ExpectMsg<StepCompleted>(s => Assert.Equal((0, 0.5f), (s.Staleness, s.LearningRate)));
        var b0 = w0.ExpectMsg<ComputeGradients>();
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 0.5f, b0.Parameters[i], 5); // full step at staleness 0, no look-ahead

        ps.Tell(Answer(a1, 2f, 2), w1.Ref);
        ExpectMsg<StepCompleted>(s => Assert.Equal((1, 0.25f), (s.Staleness, s.LearningRate)));
        var master = Master(ps);
        for (var i = 0; i < p0.Length; i++) Assert.Equal(p0[i] - 0.5f - 0.5f, master[i], 5); // 0.25 x 2, not 0.5 x 2
    }

    [Fact]
    public void Ssp_with_bound_zero_never_looks_ahead()
    {
        var ps = StartPs(StalenessCompensation.Lookahead, TrainingMode.Ssp, out _);
        var w0 = CreateTestProbe();
        var w1 = CreateTestProbe();
        ps.Tell(new RunAsyncEpoch("blobs", 0, 1, 0, 0, [[0], [1], [2], [3], [4], [5]], [w0.Ref, w1.Ref], Bound: 0));
        for (var round = 0; round < 2; round++)
        {
            var a0 = w0.ExpectMsg<ComputeGradients>();
            var a1 = w1.ExpectMsg<ComputeGradients>();
            if (round > 0)
            {
                Assert.Equal(Master(ps), a0.Parameters);
                Assert.Equal(Master(ps), a1.Parameters);
            }
            ps.Tell(Answer(a0, 1f, 1), w0.Ref);
            ps.Tell(Answer(a1, 3f, 1), w1.Ref);
            ExpectMsg<StepCompleted>(s => Assert.Equal((0, 2), (s.Staleness, s.Samples)));
        }
    }

    private static async Task<float[]> Train(TrainingJob job, int workers)
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-compensation-test-");
        try
        {
            var done = await LocalMode.RunAsync(job with { OutputDirectory = dir.FullName }, workers, new BlobLoader());
            return Core.Checkpoints.CheckpointFile.Read(done.CheckpointPath!).Parameters;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("async", 1, StalenessCompensation.Lookahead)]
    [InlineData("async", 1, StalenessCompensation.LearningRate)]
    [InlineData("ssp", 2, StalenessCompensation.Lookahead)]
    [InlineData("ssp", 2, StalenessCompensation.LearningRate)]
    public async Task Without_stale_gradients_a_compensation_leaves_training_unchanged_bit_for_bit(string mode, int workers, StalenessCompensation compensation)
    {
        // One async worker, or ssp with bound 0: every gradient is applied at staleness 0. Adam, so a
        // changed learning rate or extrapolated parameters would show in every value.
        var job = TestJobs.Blobs(epochs: 2, batch: 50);
        var plain = new CommunicationSpec(CommunicationSpec.ParseMode(mode), Staleness: 0, Compensation: StalenessCompensation.None);
        var expected = await Train(job with { Communication = plain }, workers);
        var actual = await Train(job with { Communication = plain with { Compensation = compensation } }, workers);
        Assert.Equal(expected, actual);
    }
}
