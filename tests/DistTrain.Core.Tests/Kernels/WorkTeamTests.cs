using DistTrain.Core.Kernels;
using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Tests.Kernels;

public class WorkTeamTests
{
    [Theory]
    [InlineData(1, 100_000)]
    [InlineData(2, 100_000)]
    [InlineData(3, 100_000)]
    [InlineData(2, 40_000)] // too short for two ranges: runs on the caller alone
    [InlineData(4, 235_146)]
    public void Every_element_is_covered_exactly_once_in_aligned_ranges(int size, int length)
    {
        using var team = new WorkTeam(size);
        var hits = new int[length];
        var ranges = new List<(int Start, int Length)>();
        var threads = new HashSet<int>();
        for (var round = 0; round < 3; round++)
        {
            team.Run(length, (start, count) =>
            {
                lock (ranges)
                {
                    ranges.Add((start, count));
                    threads.Add(Environment.CurrentManagedThreadId);
                }
                for (var i = start; i < start + count; i++) Interlocked.Increment(ref hits[i]);
            });
        }
        Assert.All(hits, h => Assert.Equal(3, h));
        var expected = WorkTeam.RangeCount(length, size);
        Assert.Equal(3 * expected, ranges.Count);
        Assert.All(ranges, r => Assert.Equal(0, r.Start % 16)); // 64-byte boundaries
        Assert.InRange(threads.Count, 1, size);
    }

    [Theory]
    [InlineData(235_146, 1, 1)]          // no helper: one range
    [InlineData(40_000, 2, 1)]           // shorter than two ranges: the caller alone
    [InlineData(68_611, 3, 2)]           // long enough for two ranges, not three
    [InlineData(235_146, 2, 6)]          // the MLP: three per thread (7 would split 4:3)
    [InlineData(20 * 32 * 1024, 2, 8)]   // capped at RangesPerThread per thread
    [InlineData(100_000, 3, 3)]
    public void A_pass_has_the_same_number_of_ranges_per_thread(int length, int threads, int expected)
    {
        Assert.Equal(expected, WorkTeam.RangeCount(length, threads));
    }

    [Fact]
    public void Woken_helpers_take_part_in_a_pass()
    {
        // The caller's first range waits until another thread has entered one: only a helper can release it.
        using var team = new WorkTeam(2);
        var caller = Environment.CurrentManagedThreadId;
        using var helperIn = new ManualResetEventSlim();
        var released = true;
        team.Run(4 * WorkTeam.MinimumRange, (_, _) =>
        {
            if (Environment.CurrentManagedThreadId != caller) helperIn.Set();
            else if (!helperIn.IsSet) released = helperIn.Wait(TimeSpan.FromSeconds(30));
        });
        Assert.True(released, "no helper took a range within 30 s");
    }

    [Fact]
    public void A_helper_that_is_slow_to_start_leaves_the_rest_of_the_pass_to_the_caller()
    {
        // A helper that the scheduler runs late (here: whose first range blocks) must not hold the caller up for
        // the ranges it has not claimed: the caller takes them, and then waits only for the one the helper holds.
        using var team = new WorkTeam(2);
        var caller = Environment.CurrentManagedThreadId;
        const int n = 4 * WorkTeam.MinimumRange;
        var parts = WorkTeam.RangeCount(n, 2);
        Assert.True(parts >= 3, "the pass has ranges to spare");
        var callerFirst = 0;
        var helperWaited = true;
        using var callerDone = new ManualResetEventSlim();
        var hits = new int[n];
        var second = new int[n];
        Assert.True(team.Run(n, (start, count) =>
        {
            for (var i = start; i < start + count; i++) hits[i]++;
            if (Environment.CurrentManagedThreadId == caller)
            {
                if (Interlocked.Increment(ref callerFirst) == parts - 1) callerDone.Set();
            }
            else if (!callerDone.IsSet) helperWaited = callerDone.Wait(TimeSpan.FromSeconds(30));
            return true;
        }, (start, count) => { for (var i = start; i < start + count; i++) second[i]++; }));
        Assert.True(helperWaited, "the caller did not take the ranges the helper left (the helper waited 30 s)");
        Assert.InRange(callerFirst, parts - 1, parts);
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.All(second, h => Assert.Equal(1, h));
    }

    [Fact]
    public void Runs_of_different_lengths_in_a_row_each_cover_every_element_once()
    {
        // The number of ranges changes from run to run, so a helper that sits one run out must not take
        // part in the next one twice.
        using var team = new WorkTeam(4);
        var rng = new Random(3);
        for (var round = 0; round < 300; round++)
        {
            var length = rng.Next(0, 5 * WorkTeam.MinimumRange);
            var hits = new int[length];
            team.Run(length, (start, count) =>
            {
                for (var i = start; i < start + count; i++) hits[i]++;
            });
            Assert.True(hits.All(h => h == 1), $"round {round}, length {length}: some element was not covered exactly once");
        }
    }

    [Theory]
    [InlineData((1L << 31) - 3)] // the claim word's pass number gets its top bit
    [InlineData((1L << 32) - 3)] // and wraps to 0
    public async Task Passes_keep_covering_every_element_once_across_the_pass_counter_wrap(long passesBefore)
    {
        using var team = new WorkTeam(2, passesBefore);
        const int n = 4 * WorkTeam.MinimumRange;
        for (var round = 0; round < 6; round++)
        {
            var hits = new int[n];
            var second = new int[n];
            var run = Task.Run(() => team.Run(n, (start, count) =>
            {
                for (var i = start; i < start + count; i++) Interlocked.Increment(ref hits[i]);
                return true;
            }, (start, count) => { for (var i = start; i < start + count; i++) Interlocked.Increment(ref second[i]); }));
            Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) == run, $"pass {passesBefore + round + 1} did not finish");
            Assert.True(hits.All(h => h == 1) && second.All(h => h == 1), $"pass {passesBefore + round + 1}: some element was not covered exactly once");
        }
    }

    [Fact]
    public void The_second_phase_runs_only_when_every_range_passed_the_first()
    {
        using var team = new WorkTeam(2);
        const int n = 4 * WorkTeam.MinimumRange;
        var second = 0;
        var firstCalls = 0;
        // The range holding element n - 1 fails: no range may start the second phase.
        var parts = WorkTeam.RangeCount(n, 2);
        Assert.False(team.Run(n, (start, count) => { Interlocked.Increment(ref firstCalls); return start + count < n; }, (_, _) => Interlocked.Increment(ref second)));
        Assert.Equal(parts, firstCalls);
        Assert.Equal(0, second);
        Assert.True(team.Run(n, (_, _) => true, (_, _) => Interlocked.Increment(ref second)));
        Assert.Equal(parts, second);
    }

    [Fact]
    public void The_second_phase_waits_for_every_first_phase()
    {
        using var team = new WorkTeam(2);
        const int n = 4 * WorkTeam.MinimumRange;
        var done = 0;
        var sawAllDone = true;
        var parts = WorkTeam.RangeCount(n, 2);
        team.Run(n, (start, _) =>
        {
            if (start > 0) Thread.Sleep(50); // every range but the first is slow
            Interlocked.Increment(ref done);
            return true;
        }, (_, _) =>
        {
            if (Volatile.Read(ref done) != parts) sawAllDone = false;
        });
        Assert.True(sawAllDone);
    }

    [Fact]
    public void A_failing_range_is_rethrown_and_the_team_still_works()
    {
        using var team = new WorkTeam(2);
        const int n = 4 * WorkTeam.MinimumRange;
        var e = Assert.Throws<AggregateException>(() => team.Run(n, (start, _) =>
        {
            if (start > 0) throw new InvalidOperationException("boom");
        }));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        var sum = 0L;
        team.Run(n, (start, count) => Interlocked.Add(ref sum, count));
        Assert.Equal(n, sum);
    }

    [Fact]
    public void A_disposed_team_refuses_work_and_its_threads_end()
    {
        var team = new WorkTeam(3);
        team.Dispose();
        team.Dispose();
        Assert.Throws<ObjectDisposedException>(() => team.Run(10, (_, _) => { }));
    }

    [Theory]
    [InlineData(OptimizerKind.Adam, 0f)]
    [InlineData(OptimizerKind.Adam, 0.01f)]
    [InlineData(OptimizerKind.Sgd, 0.9f)]
    [InlineData(OptimizerKind.Sgd, 0f)]
    [InlineData(OptimizerKind.Adadelta, 0f)]
    public void An_optimizer_step_on_a_team_is_bit_identical_to_the_single_threaded_step(OptimizerKind kind, float momentumOrDecay)
    {
        const int n = 3 * WorkTeam.MinimumRange + 13; // ranges of unequal length, a ragged end
        var spec = kind == OptimizerKind.Sgd
            ? new OptimizerSpec(kind, 0.05f, Momentum: momentumOrDecay)
            : new OptimizerSpec(kind, kind == OptimizerKind.Adadelta ? 1f : 1e-3f, WeightDecay: momentumOrDecay);
        var rng = new Random(5);
        var start = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var grads = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray()).ToArray();
        var serial = (float[])start.Clone();
        var parallel = (float[])start.Clone();
        var a = Optimizer.Create(spec, n);
        var b = Optimizer.Create(spec, n);
        using var team = new WorkTeam(3);
        foreach (var g in grads)
        {
            a.Step(serial.AsSpan(), g);
            // What the parameter server does: every range on the team, then one step count.
            team.Run(n, (start, length) => b.ApplyRange(parallel, g, start, length));
            b.CompleteStep();
        }
        Assert.Equal(serial, parallel);
        Assert.Equal(a.StepCount, b.StepCount);
        var sa = a.SaveState();
        var sb = b.SaveState();
        for (var i = 0; i < sa.Buffers.Count; i++) Assert.Equal(sa.Buffers[i], sb.Buffers[i]);
    }

    [Fact]
    public void ApplyRange_refuses_a_range_outside_the_buffer()
    {
        var opt = Optimizer.Create(new OptimizerSpec(OptimizerKind.Sgd, 0.1f), 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => opt.ApplyRange(new float[10], new float[10], 8, 3));
        Assert.Throws<ArgumentException>(() => opt.ApplyRange(new float[9], new float[10], 0, 3));
    }
}

public class WorkTeamAssistTests
{
    private const int Wide = 4 * WorkTeam.MinimumRange;

    // Starts a guest on its own thread and returns once it is spinning in Assist.
    private static Task<(bool Ran, int Thread)> StartGuest(WorkTeam team, TimeSpan budget)
    {
        var runs = team.Runs;
        var task = Task.Factory.StartNew(() => (team.Assist(budget, runs), Environment.CurrentManagedThreadId), TaskCreationOptions.LongRunning);
        var spin = new SpinWait();
        while (!team.HasWaitingGuest && !task.IsCompleted) spin.SpinOnce();
        Assert.False(task.IsCompleted, "the guest returned before any pass");
        return task;
    }

    [Fact]
    public async Task A_waiting_guest_takes_a_range_of_the_next_pass_and_every_element_is_covered_once()
    {
        using var team = new WorkTeam(2);
        var guest = StartGuest(team, TimeSpan.FromSeconds(30));
        var hits = new int[Wide];
        var threads = new System.Collections.Concurrent.ConcurrentBag<int>();
        var caller = Environment.CurrentManagedThreadId;
        using var guestIn = new ManualResetEventSlim();
        // The caller's ranges wait until another thread has entered one. With a guest waiting the caller wakes no
        // helper, so only the guest can release it: the guest must have joined the pass.
        Assert.True(team.Run(Wide, (start, count) =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            if (Environment.CurrentManagedThreadId != caller) guestIn.Set();
            else guestIn.Wait(TimeSpan.FromSeconds(30));
            for (var i = start; i < start + count; i++) hits[i]++;
            return true;
        }, (start, count) => { for (var i = start; i < start + count; i++) hits[i] += 10; }));
        var (ran, guestThread) = await guest.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(ran, "the guest ran a range");
        Assert.Contains(guestThread, threads);
        Assert.Equal(threads.Count(t => t == guestThread), team.GuestRanges);
        Assert.All(hits, h => Assert.Equal(11, h));
    }

    [Fact]
    public void A_guest_does_not_wait_when_a_pass_started_since_it_last_looked()
    {
        // The worker whose gradient completed the step ran the pass on its own thread: the next pass needs its
        // next gradient, so waiting for it would only burn the budget.
        using var team = new WorkTeam(2);
        var seen = team.Runs;
        team.Run(Wide, (_, _) => { });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(team.Assist(TimeSpan.FromMinutes(5), seen));
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), "it returned without spending its budget");
        Assert.False(team.HasWaitingGuest);
    }

    [Fact]
    public void A_guest_whose_budget_runs_out_returns_false_and_the_team_still_covers_every_element()
    {
        using var team = new WorkTeam(2);
        Assert.False(team.Assist(TimeSpan.FromMilliseconds(5), team.Runs));
        var hits = new int[Wide];
        team.Run(Wide, (start, count) => { for (var i = start; i < start + count; i++) hits[i]++; });
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.Equal(0, team.GuestRanges);
    }

    [Fact]
    public async Task A_pass_too_short_to_share_releases_a_waiting_guest_at_once()
    {
        using var team = new WorkTeam(2);
        var guest = StartGuest(team, TimeSpan.FromMinutes(5)); // only a release can end it within the test's time
        var calls = 0;
        team.Run(100, (_, _) => { calls++; });
        var (ran, _) = await guest.WaitAsync(TimeSpan.FromSeconds(30)); // throws TimeoutException if not released
        Assert.False(ran);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Only_one_guest_waits_at_a_time_and_a_team_of_one_takes_none()
    {
        using var team = new WorkTeam(2);
        var guest = StartGuest(team, TimeSpan.FromSeconds(30));
        Assert.False(team.Assist(TimeSpan.FromSeconds(30), team.Runs)); // refused at once: the slot is taken
        team.Run(Wide, (_, _) => { });
        await guest.WaitAsync(TimeSpan.FromSeconds(30)); // the pass called it (its ranges may all have gone to the caller by then)
        Assert.False(team.HasWaitingGuest);
        using var alone = new WorkTeam(1);
        Assert.False(alone.Assist(TimeSpan.FromSeconds(30), alone.Runs));
    }

    [Fact]
    public async Task Runs_raced_by_guests_of_every_timing_cover_every_element_once()
    {
        // Guests arrive early, late and not at all, on passes of varying range counts: a range may be run
        // by the caller, a helper or the guest, but exactly once, and a guest never runs a range of a pass
        // other than the one it claimed.
        using var team = new WorkTeam(3);
        var rng = new Random(11);
        using var stop = new CancellationTokenSource();
        var guest = Task.Factory.StartNew(() =>
        {
            var ran = 0;
            while (!stop.IsCancellationRequested) if (team.Assist(TimeSpan.FromTicks(rng.Next(1, 20_000)), team.Runs)) ran++;
            return ran;
        }, TaskCreationOptions.LongRunning);
        var lengthRng = new Random(12);
        for (var round = 0; round < 400; round++)
        {
            var length = lengthRng.Next(0, 4 * WorkTeam.MinimumRange);
            var hits = new int[length];
            var second = new int[length];
            team.Run(length, (start, count) =>
            {
                for (var i = start; i < start + count; i++) hits[i]++;
                return true;
            }, (start, count) => { for (var i = start; i < start + count; i++) second[i]++; });
            Assert.True(hits.All(h => h == 1) && second.All(h => h == 1), $"round {round}, length {length}: some element was not covered exactly once");
        }
        stop.Cancel();
        var ran = await guest.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(team.GuestRanges >= ran, $"{ran} passes the guest took part in, but only {team.GuestRanges} guest ranges counted");
        Assert.True(ran > 0, "the guest took part in some passes");
    }
}
