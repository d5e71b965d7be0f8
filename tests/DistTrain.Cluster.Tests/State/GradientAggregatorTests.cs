using DistTrain.Cluster.State;

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
        float[] Run(int[] order)
        {
            var agg = new GradientAggregator(257);
            agg.Begin(0, 1, 0, 0, 4);
            foreach (var i in order) agg.Add(0, 1, i, shards[i], 10, 1, 1);
            var m = new float[257];
            agg.CompleteInto(m);
            return m;
        }
        var a = Run([0, 1, 2, 3]);
        var b = Run([3, 1, 0, 2]);
        Assert.Equal(a, b); // bit-identical, not merely close
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

    [Theory]
    [InlineData(float.NaN, 0.5)]
    [InlineData(float.PositiveInfinity, 0.5)]
    [InlineData(1f, double.NaN)]
    public void A_non_finite_shard_is_dropped_and_the_step_averages_the_others(float bad, double badLoss)
    {
        var agg = new GradientAggregator(2);
        agg.Begin(0, 1, 0, 0, shardCount: 3);
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(0, 1, 0, [3f, 6f], 3, 1.0, 2));
        Assert.Equal(ContributionOutcome.NonFinite, agg.Add(0, 1, 1, [bad, 1f], 5, badLoss, 5));
        Assert.Equal(ContributionOutcome.Duplicate, agg.Add(0, 1, 1, [1f, 1f], 5, 0.1, 5));
        Assert.False(agg.IsComplete);
        Assert.Equal(ContributionOutcome.Accepted, agg.Add(0, 1, 2, [1f, 2f], 1, 0.5, 1));
        Assert.True(agg.IsComplete);
        Assert.Equal(1, agg.DroppedShards);
        var mean = new float[2];
        Assert.True(agg.CompleteInto(mean));
        Assert.Equal([1f, 2f], mean); // (3+1)/4, (6+2)/4: the dropped shard's 5 samples are not counted
        Assert.Equal(4, agg.Totals.Samples);
    }

    [Fact]
    public void A_step_whose_every_shard_was_dropped_applies_nothing()
    {
        var agg = new GradientAggregator(2);
        agg.Begin(0, 1, 0, 0, shardCount: 2);
        agg.Add(0, 1, 0, [float.NaN, 0f], 1, 0.1, 0);
        agg.Add(0, 1, 1, [0f, float.NegativeInfinity], 1, 0.1, 0);
        Assert.True(agg.IsComplete);
        var mean = new float[] { 7f, 7f };
        Assert.False(agg.CompleteInto(mean));
        Assert.Equal([7f, 7f], mean);
        Assert.False(agg.InProgress);
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
