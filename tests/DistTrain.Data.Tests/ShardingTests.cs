using DistTrain.Core.Training;

namespace DistTrain.Data.Tests;

public sealed class ShardingTests
{
    [Fact]
    public void Split_gives_contiguous_ranges_whose_sizes_differ_by_at_most_one()
    {
        Assert.Equal([(0, 4), (4, 3), (7, 3)], Sharding.Split(10, 3));
        Assert.Equal([(0, 1), (1, 1), (2, 0), (2, 0)], Sharding.Split(2, 4));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(128, 5)]
    [InlineData(3, 8)]
    public void Shards_of_a_shuffled_index_list_cover_every_index_exactly_once(int count, int shards)
    {
        var order = EpochSchedule.Permutation(count, seed: 9, epoch: 2);

        var parts = Sharding.Shards(order, shards);

        Assert.Equal(shards, parts.Length);
        Assert.Equal(order, parts.SelectMany(p => p).ToArray()); // concatenation in order = the list
        for (var s = 0; s < shards; s++) Assert.Equal(parts[s], Sharding.Shard(order, shards, s).ToArray());
    }

    [Fact]
    public void An_epoch_of_shuffled_batches_cut_into_shards_visits_every_sample_exactly_once()
    {
        const int count = 103, batch = 16, workers = 3;
        var visits = new int[count];
        var order = EpochSchedule.Permutation(count, seed: 4, epoch: 0);

        for (var step = 0; step < EpochSchedule.StepsPerEpoch(count, batch); step++)
        {
            var (start, length) = EpochSchedule.Batch(count, batch, step);
            for (var w = 0; w < workers; w++)
                foreach (var i in Sharding.Shard(order.AsSpan(start, length), workers, w)) visits[i]++;
        }

        Assert.All(visits, v => Assert.Equal(1, v));
        Assert.NotEqual(Enumerable.Range(0, count), order); // it was shuffled
    }

    [Fact]
    public void Zero_shards_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Sharding.Split(10, 0));
    }
}
