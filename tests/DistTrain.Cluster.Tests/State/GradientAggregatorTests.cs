using DistTrain.Cluster.State;
using DistTrain.Core.Kernels;

namespace DistTrain.Cluster.Tests.State;

public class GradientAggregatorTests
{
    [Fact]
    public void Average_is_sample_weighted_over_the_sum_of_shard_gradient_sums()
    {
        var agg = new GradientAggregator(3);
        agg.Begin(version: 5, attempt: 1, epoch: 0, step: 2, shardCount: 2);
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(5, 1, 0, [3f, 6f, -3f], samples: 3, lossSum: 1.5, correct: 2));
        Assert.False(agg.IsComplete);
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(5, 1, 1, [1f, -2f, 7f], samples: 1, lossSum: 0.5, correct: 1));
        Assert.True(agg.IsComplete);
        var mean = new float[3];
        agg.CompleteInto(mean);
        Assert.Equal([1f, 1f, 1f], mean);
        Assert.Equal(4, agg.Totals.Samples);
        Assert.Equal(2.0, agg.Totals.LossSum, 12);
        Assert.Equal(3, agg.Totals.Correct);
        Assert.False(agg.InProgress);
    }

    [Fact]
    public void Result_does_not_depend_on_arrival_order()
    {
        var rng = new Random(3);
        var shards = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 257).Select(_ => (float)rng.NextDouble() * 1e3f - 500f).ToArray()).ToArray();
        double[] losses = [0.1, 1e16, -1e16, 0.3]; // summed in another order, these give other bits
        (float[] Mean, double Loss) Run(int[] order)
        {
            var agg = new GradientAggregator(257);
            agg.Begin(0, 1, 0, 0, 4);
            foreach (var i in order) agg.Add(0, 1, i, shards[i], 10, losses[i], 1);
            var m = new float[257];
            agg.CompleteInto(m);
            return (m, agg.Totals.LossSum);
        }
        var a = Run([0, 1, 2, 3]);
        var b = Run([3, 1, 0, 2]);
        Assert.Equal(a.Mean, b.Mean); // bit-identical, not merely close
        Assert.Equal(BitConverter.DoubleToInt64Bits(a.Loss), BitConverter.DoubleToInt64Bits(b.Loss));
    }

    [Fact]
    public void Stale_duplicate_unknown_and_wrong_size_contributions_are_not_counted()
    {
        var agg = new GradientAggregator(2);
        Assert.Equal(ContributionOutcome.NoStep, agg.Add(0, 1, 0, [1f, 1f], 1, 0, 0));
        agg.Begin(version: 3, attempt: 2, epoch: 0, step: 0, shardCount: 2);
        Assert.Equal(ContributionOutcome.Stale, agg.Add(2, 2, 0, [1f, 1f], 1, 0, 0));
        Assert.Equal(ContributionOutcome.Stale, agg.Add(3, 1, 0, [1f, 1f], 1, 0, 0));
        Assert.Equal(ContributionOutcome.UnknownShard, agg.Add(3, 2, 2, [1f, 1f], 1, 0, 0));
        Assert.Equal(ContributionOutcome.WrongSize, agg.Add(3, 2, 0, [1f, 1f, 1f], 1, 0, 0));
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(3, 2, 0, [2f, 2f], 2, 0, 0));
        Assert.Equal(ContributionOutcome.Duplicate, agg.Add(3, 2, 0, [100f, 100f], 2, 0, 0));
        Assert.False(agg.IsComplete);
        Assert.Equal(2, agg.Totals.Samples);
    }

    [Fact]
    public void A_non_finite_loss_is_refused_on_arrival_and_the_step_averages_the_others()
    {
        var agg = new GradientAggregator(2);
        agg.Begin(0, 1, 0, 0, shardCount: 3);
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(0, 1, 0, [3f, 6f], 3, 1.0, 2));
        Assert.Equal(ContributionOutcome.NonFinite, agg.Add(0, 1, 1, [1f, 1f], 5, double.NaN, 5));
        Assert.Equal(ContributionOutcome.Duplicate, agg.Add(0, 1, 1, [1f, 1f], 5, 0.1, 5));
        Assert.False(agg.IsComplete);
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(0, 1, 2, [1f, 2f], 1, 0.5, 1));
        Assert.True(agg.IsComplete);
        Assert.Equal(1, agg.DroppedShards);
        var mean = new float[2];
        Assert.True(agg.CompleteInto(mean));
        Assert.Equal([1f, 2f], mean); // (3+1)/4, (6+2)/4: the dropped shard's 5 samples are not counted
        Assert.Equal(4, agg.Totals.Samples);
        Assert.Empty(agg.DroppedAtCompletion);
    }

    [Theory]
    [InlineData(float.NaN, 1)]
    [InlineData(float.PositiveInfinity, 1)]
    [InlineData(float.NegativeInfinity, 1)]
    [InlineData(float.NaN, 2)]
    [InlineData(float.PositiveInfinity, 2)]
    public void A_non_finite_gradient_is_dropped_at_completion_and_the_step_averages_the_others(float bad, int threads)
    {
        // Long enough for a two-thread team to split it; the bad value sits in the second range.
        const int n = 3 * WorkTeam.MinimumRange;
        var agg = new GradientAggregator(n);
        agg.Begin(0, 1, 0, 0, shardCount: 3);
        var a = Enumerable.Repeat(3f, n).ToArray();
        var b = Enumerable.Repeat(1f, n).ToArray();
        b[n - 5] = bad;
        var c = Enumerable.Repeat(1f, n).ToArray();
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(0, 1, 0, a, 3, 1.0, 2));
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(0, 1, 1, b, 5, 0.5, 5)); // checked when the step completes
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(0, 1, 2, c, 1, 0.5, 1));
        Assert.True(agg.IsComplete);
        using var team = new WorkTeam(threads);
        var applied = new int[n];
        var mean = new float[n];
        Assert.True(agg.CompleteInto(mean, team, (start, length) => { for (var i = start; i < start + length; i++) applied[i]++; }));
        Assert.All(mean, m => Assert.Equal(1f, m)); // (3 + 1) / 4: shard 1's 5 samples are not counted
        Assert.All(applied, x => Assert.Equal(1, x)); // applied once everywhere, after the bad shard was taken out
        Assert.Equal(1, agg.DroppedShards);
        Assert.Equal([1], agg.DroppedAtCompletion);
        Assert.Equal(4, agg.Totals.Samples);
        Assert.Equal(1.5, agg.Totals.LossSum, 12);
        Assert.False(agg.IsAccepted(1));
        Assert.True(agg.IsAccepted(0));
    }

    [Fact]
    public void A_step_whose_every_shard_was_dropped_applies_nothing()
    {
        var agg = new GradientAggregator(2);
        agg.Begin(0, 1, 0, 0, shardCount: 2);
        agg.Add(0, 1, 0, [float.NaN, 0f], 1, 0.1, 0);
        agg.Add(0, 1, 1, [0f, float.NegativeInfinity], 1, 0.1, 0);
        Assert.True(agg.IsComplete);
        var calls = 0;
        Assert.False(agg.CompleteInto(new float[2], apply: (_, _) => calls++));
        Assert.Equal(0, calls);
        Assert.Equal(2, agg.DroppedShards);
        Assert.Equal([0, 1], agg.DroppedAtCompletion);
        Assert.False(agg.InProgress);
    }

    [Fact]
    public void A_sum_that_overflows_applies_nothing()
    {
        var agg = new GradientAggregator(1);
        agg.Begin(0, 1, 0, 0, shardCount: 2);
        agg.Add(0, 1, 0, [float.MaxValue], 1, 0.1, 0);
        agg.Add(0, 1, 1, [float.MaxValue], 1, 0.1, 0);
        var calls = 0;
        Assert.False(agg.CompleteInto(new float[1], apply: (_, _) => calls++));
        Assert.Equal(0, calls);
        Assert.Equal(2, agg.DroppedShards);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_team_averages_to_the_same_bits_as_one_thread(int threads)
    {
        var rng = new Random(11);
        const int n = 100_003;
        var shards = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() * 2f - 1f).ToArray()).ToArray();
        float[] Run(WorkTeam? team)
        {
            var agg = new GradientAggregator(n);
            agg.Begin(0, 1, 0, 0, 3);
            for (var i = 0; i < 3; i++) agg.Add(0, 1, i, shards[i], 7 + i, 1, 1);
            var m = new float[n];
            Assert.True(agg.CompleteInto(m, team));
            return m;
        }
        using var t = new WorkTeam(threads);
        Assert.Equal(Run(null), Run(t));
    }

    [Fact]
    public void Completing_an_incomplete_step_throws()
    {
        var agg = new GradientAggregator(1);
        agg.Begin(0, 1, 0, 0, 2);
        agg.Add(0, 1, 0, [1f], 1, 0, 0);
        Assert.Throws<InvalidOperationException>(() => agg.CompleteInto(new float[1]));
    }
}
