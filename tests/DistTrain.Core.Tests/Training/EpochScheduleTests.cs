using DistTrain.Core.Training;

namespace DistTrain.Core.Tests.Training;

public sealed class EpochScheduleTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(17)]
    [InlineData(1000)]
    public void Permutation_holds_every_index_exactly_once(int count)
    {
        for (var epoch = 0; epoch < 3; epoch++)
        {
            var order = EpochSchedule.Permutation(count, seed: 99, epoch);
            Assert.Equal(count, order.Length);
            Assert.Equal(Enumerable.Range(0, count), order.Order());
        }
    }

    [Fact]
    public void Permutation_is_a_function_of_seed_and_epoch()
    {
        Assert.Equal(EpochSchedule.Permutation(300, 7, 4), EpochSchedule.Permutation(300, 7, 4));
        Assert.NotEqual(EpochSchedule.Permutation(300, 7, 4), EpochSchedule.Permutation(300, 8, 4));
    }

    [Fact]
    public void Permutation_differs_across_epochs()
    {
        var seen = new HashSet<string>();
        for (var epoch = 0; epoch < 20; epoch++)
            Assert.True(seen.Add(string.Join(",", EpochSchedule.Permutation(100, 7, epoch))), $"epoch {epoch} repeats an earlier order");
    }

    [Fact]
    public void Permutation_actually_shuffles()
    {
        var order = EpochSchedule.Permutation(1000, 7, 0);
        var fixedPoints = 0;
        for (var i = 0; i < order.Length; i++) if (order[i] == i) fixedPoints++;
        Assert.InRange(fixedPoints, 0, 10); // about 1 expected for a uniform shuffle
    }

    [Fact]
    public void Without_shuffle_the_order_is_the_identity()
        => Assert.Equal(Enumerable.Range(0, 50), EpochSchedule.Permutation(50, 7, 3, shuffle: false));

    [Fact]
    public void Batches_cover_an_epoch_exactly_once_in_order()
    {
        for (var count = 1; count <= 40; count++)
        {
            for (var batch = 1; batch <= 12; batch++)
            {
                var steps = EpochSchedule.StepsPerEpoch(count, batch);
                var next = 0;
                for (var s = 0; s < steps; s++)
                {
                    var (start, length) = EpochSchedule.Batch(count, batch, s);
                    Assert.Equal(next, start);
                    Assert.InRange(length, 1, batch);
                    if (s < steps - 1) Assert.Equal(batch, length);
                    next = start + length;
                }
                Assert.Equal(count, next);
                Assert.Throws<ArgumentOutOfRangeException>(() => EpochSchedule.Batch(count, batch, steps));
            }
        }
    }

    [Fact]
    public void Shards_cover_a_batch_exactly_once_with_sizes_within_one()
    {
        for (var length = 0; length <= 70; length++)
        {
            for (var shards = 1; shards <= 13; shards++)
            {
                var next = 0;
                int min = int.MaxValue, max = int.MinValue;
                for (var k = 0; k < shards; k++)
                {
                    var (start, size) = EpochSchedule.Shard(length, shards, k);
                    Assert.True(start == next, $"length {length}, {shards} shards: shard {k} starts at {start}, expected {next}");
                    Assert.True(size >= 0);
                    next = start + size;
                    min = Math.Min(min, size);
                    max = Math.Max(max, size);
                }
                Assert.True(next == length, $"length {length}, {shards} shards cover {next}");
                Assert.True(max - min <= 1, $"length {length}, {shards} shards: sizes from {min} to {max}");
            }
        }
    }

    [Fact]
    public void Shard_rejects_bad_arguments_naming_the_range()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => EpochSchedule.Shard(10, 3, 3));
        Assert.Contains("0..2", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => EpochSchedule.Shard(10, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => EpochSchedule.Shard(10, 3, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => EpochSchedule.StepsPerEpoch(10, 0));
    }
}
