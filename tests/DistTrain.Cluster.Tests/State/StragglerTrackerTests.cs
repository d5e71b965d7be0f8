using DistTrain.Cluster.State;

namespace DistTrain.Cluster.Tests.State;

public class StragglerTrackerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void Nothing_is_reissued_before_the_deadline()
    {
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a", "b"], At(0));
        t.Answered(0, "a");
        Assert.Empty(t.Due(At(0.99)));
        Assert.Equal(At(1), t.NextCheck(At(0.99)));
    }

    [Fact]
    public void A_late_shard_goes_to_a_worker_of_the_step_that_has_answered()
    {
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a", "b", "c"], At(0));
        t.Answered(1, "b");
        var due = t.Due(At(1.5));
        // Shards 0 and 2 are late; only b is free, so only one of them moves now (shard order).
        Assert.Equal([(0, "b")], due);
        Assert.Equal(1, t.Reissued);
        Assert.Equal(2, t.Pending);
    }

    [Fact]
    public void A_late_shard_waits_when_no_worker_is_free_and_moves_once_one_answers()
    {
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a", "b"], At(0));
        Assert.Empty(t.Due(At(1.5)));
        t.Answered(0, "a");
        Assert.Equal([(1, "a")], t.Due(At(1.6)));
    }

    [Fact]
    public void A_single_workers_lost_shard_is_sent_to_it_again_after_two_deadlines_and_again_after_two_more()
    {
        // Nobody else can take it: the worker may be idle because the shard or its answer was lost.
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a"], At(0));
        Assert.Empty(t.Due(At(1.5)));
        Assert.Equal([(0, "a")], t.Due(At(2)));
        Assert.Equal(1, t.Reissued);
        Assert.Empty(t.Due(At(3.5)));
        Assert.Equal(At(4), t.NextCheck(At(3.5))); // past its deadline (3) with nobody free: its resend time
        Assert.True(t.Overdue(At(3.5)));
        Assert.Equal([(0, "a")], t.Due(At(4)));
        Assert.True(t.Answered(0, "a"));
        Assert.Empty(t.Due(At(10)));
        Assert.Equal(0, t.Pending);
    }

    [Fact]
    public void When_every_worker_lost_its_shard_each_shard_goes_back_to_its_own_worker()
    {
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a", "b"], At(0));
        Assert.Equal([(0, "a"), (1, "b")], t.Due(At(2)));
        // b answers its shard: it is free for a's shard the next time round, which goes to b rather than back to a.
        Assert.True(t.Answered(1, "b"));
        Assert.Equal([(0, "b")], t.Due(At(3)));
    }

    [Fact]
    public void The_first_answer_wins_and_the_second_is_reported_as_not_first()
    {
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a", "b"], At(0));
        Assert.True(t.Answered(0, "a"));
        Assert.Equal([(1, "a")], t.Due(At(1)));
        Assert.True(t.Answered(1, "a"));
        Assert.False(t.Answered(1, "b"));
        Assert.Equal(0, t.Pending);
        Assert.Null(t.NextCheck(At(1)));
        Assert.Empty(t.Due(At(10)));
    }

    [Fact]
    public void A_reissued_shard_gets_a_new_deadline_and_a_different_worker_next_time()
    {
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a", "b", "c"], At(0));
        t.Answered(0, "a");
        t.Answered(1, "b");
        Assert.Equal([(2, "a")], t.Due(At(1)));
        Assert.Empty(t.Due(At(1.5)));
        Assert.Equal(At(2), t.NextCheck(At(1.5)));
        // a is busy with it; b is free and has had fewer re-issues.
        Assert.Equal([(2, "b")], t.Due(At(2)));
    }

    [Fact]
    public void Begin_forgets_the_previous_step()
    {
        var t = new StragglerTracker<string>(Deadline);
        t.Begin(["a", "b"], At(0));
        t.Answered(0, "a");
        t.Due(At(1));
        t.Begin(["a", "b"], At(5));
        Assert.Equal(0, t.Reissued);
        Assert.Equal(2, t.Pending);
        Assert.Empty(t.Due(At(6)));
    }

    [Fact]
    public void A_non_positive_deadline_is_refused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new StragglerTracker<string>(TimeSpan.Zero));
        Assert.Contains("deadline", e.Message);
    }
}
