using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests.State;

public class ReplicaStateTests
{
    private static TrainingSchedule Schedule() => new(50, 8, epochs: 4, seed: 3, patience: 2);

    private static void RunSteps(TrainingSchedule s, int steps, int workers = 2)
    {
        for (var i = 0; i < steps; i++)
        {
            if (s.EpochDone) s.CompleteEpoch(10.0 - s.Epoch);
            var shards = s.PlanStep(workers);
            var ids = shards.SelectMany(x => x).ToArray();
            s.CompleteStep(new BatchResult(ids.Length, ids.Length * 0.5, ids.Length / 2), ids);
        }
    }

    [Fact]
    public void A_restored_schedule_plans_the_same_next_steps_and_keeps_the_visit_counts()
    {
        var original = Schedule();
        RunSteps(original, 11); // epoch 1 (0-based), mid-epoch
        var state = original.Capture();

        var copy = Schedule();
        copy.Restore(state);
        Assert.Equal((original.Epoch, original.Step), (copy.Epoch, copy.Step));
        Assert.Equal(original.Visits.ToArray(), copy.Visits.ToArray());
        Assert.Equal(original.EpochTotals, copy.EpochTotals);
        for (var i = 0; i < 12; i++)
        {
            if (original.EpochDone)
            {
                Assert.True(copy.EpochDone);
                Assert.Equal(original.VisitRange(), copy.VisitRange());
                Assert.Equal(original.CompleteEpoch(5.0 + i), copy.CompleteEpoch(5.0 + i));
                if (original.Finished) break;
            }
            Assert.Equal(original.PlanStep(3), copy.PlanStep(3));
            var ids = original.PlanStep(3).SelectMany(x => x).ToArray();
            original.CompleteStep(new BatchResult(ids.Length, 0, 0), ids);
            copy.CompleteStep(new BatchResult(ids.Length, 0, 0), ids);
        }
    }

    [Fact]
    public void A_restored_schedule_keeps_the_early_stopping_state()
    {
        // Validation losses 1, 2, 3: two epochs without improvement with patience 2 stops after epoch 3.
        var original = new TrainingSchedule(16, 8, epochs: 10, seed: 1, patience: 2);
        var copy = new TrainingSchedule(16, 8, epochs: 10, seed: 1, patience: 2);
        for (var e = 0; e < 2; e++)
        {
            while (!original.EpochDone) original.CompleteStep(new BatchResult(8, 0, 0));
            original.CompleteEpoch(1.0 + e);
        }
        copy.Restore(original.Capture());
        while (!copy.EpochDone) copy.CompleteStep(new BatchResult(8, 0, 0));
        Assert.True(copy.CompleteEpoch(3.0));
        Assert.True(copy.StoppedEarly);
    }

    [Fact]
    public void Restoring_a_replica_of_another_training_split_is_refused()
    {
        var state = Schedule().Capture();
        var other = new TrainingSchedule(40, 8, epochs: 4, seed: 3, patience: 2);
        var e = Assert.Throws<ArgumentException>(() => other.Restore(state));
        Assert.Contains("50", e.Message);
    }

    private static ReplicaSnapshot Snapshot(string job, long version)
    {
        var schedule = Schedule().Capture();
        var reference = new JobPrepared(job, "w", "h", 50, 0, 0, "fp", ["a"], null);
        var c = new CoordinatorReplica(TestJobs.Blobs(id: job), schedule, reference, [], null, "", 0, 0, 0, []);
        return new ReplicaSnapshot(job, version, [version], null, c);
    }

    [Fact]
    public void The_standby_keeps_the_newest_replica_of_a_job()
    {
        var store = new ReplicaStore();
        Assert.True(store.Offer(Snapshot("j", 10)));
        Assert.False(store.Offer(Snapshot("j", 5)));
        Assert.Equal(10, store.Latest!.Version);
        Assert.True(store.Offer(Snapshot("j", 20)));
        Assert.Equal(20, store.Latest!.Version);
        // Another job replaces it whatever its version.
        Assert.True(store.Offer(Snapshot("k", 1)));
        Assert.Equal("k", store.Latest!.JobId);
    }

    [Fact]
    public void A_cleared_job_is_forgotten_and_its_late_replicas_refused()
    {
        var store = new ReplicaStore();
        store.Offer(Snapshot("j", 10));
        store.Clear("j");
        Assert.Null(store.Latest);
        Assert.False(store.Offer(Snapshot("j", 30)));
        Assert.Null(store.Latest);
    }
}
