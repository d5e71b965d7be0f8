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
        Assert.InRange(threads.Count, 1, expected);
        if (expected > 1) Assert.True(threads.Count > 1, "the helpers took part");
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

    [Fact]
    public void The_second_phase_runs_only_when_every_range_passed_the_first()
    {
        using var team = new WorkTeam(2);
        const int n = 4 * WorkTeam.MinimumRange;
        var second = 0;
        var firstCalls = 0;
        // The range holding element n - 1 fails: no range may start the second phase.
        Assert.False(team.Run(n, (start, count) => { Interlocked.Increment(ref firstCalls); return start + count < n; }, (_, _) => Interlocked.Increment(ref second)));
        Assert.Equal(2, firstCalls);
        Assert.Equal(0, second);
        Assert.True(team.Run(n, (_, _) => true, (_, _) => Interlocked.Increment(ref second)));
        Assert.Equal(2, second);
    }

    [Fact]
    public void The_second_phase_waits_for_every_first_phase()
    {
        using var team = new WorkTeam(2);
        const int n = 4 * WorkTeam.MinimumRange;
        var done = 0;
        var sawAllDone = true;
        team.Run(n, (start, _) =>
        {
            if (start > 0) Thread.Sleep(50); // the helper's range is slow
            Interlocked.Increment(ref done);
            return true;
        }, (_, _) =>
        {
            if (Volatile.Read(ref done) != 2) sawAllDone = false;
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
