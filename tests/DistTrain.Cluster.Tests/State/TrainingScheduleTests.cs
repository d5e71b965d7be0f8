using DistTrain.Cluster.State;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests.State;

public class TrainingScheduleTests
{
    [Theory]
    [InlineData(100, 32, 1)]
    [InlineData(100, 32, 3)]
    [InlineData(7, 4, 5)]
    public void Every_sample_is_planned_exactly_once_per_epoch_whatever_the_worker_count(int count, int batch, int workers)
    {
        var s = new TrainingSchedule(count, batch, epochs: 2, seed: 11, patience: 0);
        for (var epoch = 0; epoch < 2; epoch++)
        {
            var visits = new int[count];
            while (!s.EpochDone)
            {
                var shards = s.PlanStep(workers);
                Assert.True(shards.Count <= workers);
                var n = 0;
                foreach (var shard in shards) foreach (var id in shard) { visits[id]++; n++; }
                s.CompleteStep(new BatchResult(n, 0, 0));
            }
            Assert.All(visits, v => Assert.Equal(1, v));
            s.CompleteEpoch(null);
        }
        Assert.True(s.Finished);
    }

    [Fact]
    public void Visit_accounting_counts_applied_samples_per_epoch_and_starts_again_each_epoch()
    {
        var s = new TrainingSchedule(6, 3, epochs: 2, seed: 1, patience: 0);
        s.CompleteStep(new BatchResult(3, 0, 0), [0, 1, 2]);
        s.CompleteStep(new BatchResult(4, 0, 0), [3, 4, 5, 5]);
        Assert.Equal([1, 1, 1, 1, 1, 2], s.Visits.ToArray());
        Assert.Equal((1, 2), s.VisitRange());
        s.CompleteEpoch(null);
        Assert.Equal((0, 0), s.VisitRange());
        Assert.Throws<ArgumentOutOfRangeException>(() => s.CompleteStep(new BatchResult(1, 0, 0), [6]));
    }

    [Fact]
    public void Batches_match_the_single_replica_epoch_schedule()
    {
        var s = new TrainingSchedule(50, 8, 1, seed: 3, patience: 0);
        var order = EpochSchedule.Permutation(50, 3, 0);
        var step = 0;
        while (!s.EpochDone)
        {
            var planned = s.PlanStep(3).SelectMany(x => x).ToArray();
            var (start, len) = EpochSchedule.Batch(50, 8, step++);
            Assert.Equal(order.AsSpan(start, len).ToArray(), planned);
            s.CompleteStep(new BatchResult(planned.Length, 0, 0));
        }
    }

    [Fact]
    public void Stops_early_after_patience_epochs_without_validation_improvement()
    {
        var s = new TrainingSchedule(10, 10, epochs: 20, seed: 1, patience: 2);
        double[] losses = [1.0, 0.8, 0.9, 0.85];
        var finished = false;
        foreach (var l in losses)
        {
            s.PlanStep(1);
            s.CompleteStep(new BatchResult(10, 1, 1));
            finished = s.CompleteEpoch(l);
            if (finished) break;
        }
        Assert.True(finished);
        Assert.True(s.StoppedEarly);
        Assert.Equal(4, s.Epoch);
    }

    [Fact]
    public void Runs_all_configured_epochs_without_validation()
    {
        var s = new TrainingSchedule(10, 4, epochs: 3, seed: 1, patience: 1);
        var epochs = 0;
        while (!s.Finished)
        {
            while (!s.EpochDone) s.CompleteStep(new BatchResult(s.PlanStep(2).Sum(x => x.Length), 0, 0));
            s.CompleteEpoch(null);
            epochs++;
        }
        Assert.Equal(3, epochs);
        Assert.False(s.StoppedEarly);
    }

    [Fact]
    public void Resuming_starts_at_the_given_epoch_with_that_epochs_permutation()
    {
        var fresh = new TrainingSchedule(30, 30, 3, seed: 9, patience: 0);
        fresh.CompleteStep(new BatchResult(30, 0, 0));
        fresh.CompleteEpoch(null);
        var expected = fresh.PlanStep(1)[0];
        var resumed = new TrainingSchedule(30, 30, 3, seed: 9, patience: 0, startEpoch: 1);
        Assert.Equal(1, resumed.Epoch);
        Assert.Equal(expected, resumed.PlanStep(1)[0]);
    }
}
