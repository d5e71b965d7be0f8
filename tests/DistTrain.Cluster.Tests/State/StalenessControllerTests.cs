using DistTrain.Cluster.State;

namespace DistTrain.Cluster.Tests.State;

public class StalenessControllerTests
{
    [Fact]
    public void Async_applies_every_gradient_on_arrival_and_records_its_staleness()
    {
        var c = new StalenessController(workers: 2, units: 4, version: 10, bound: null);
        var start = c.Start();
        Assert.Equal([new(0, 0, 10), new(1, 1, 10)], start.Assignments);

        var d = c.Arrive(0);
        var update = Assert.Single(d.Updates);
        Assert.Equal([new StalenessController.Contribution(0, 0, 0)], update);
        Assert.Equal([new StalenessController.Assignment(0, 2, 11)], d.Assignments);

        d = c.Arrive(1); // computed at 10, applied at 11
        Assert.Equal(1, Assert.Single(Assert.Single(d.Updates)).Staleness);
        Assert.Equal([new StalenessController.Assignment(1, 3, 12)], d.Assignments);
        c.Arrive(1);
        c.Arrive(0);
        Assert.True(c.Finished);
        Assert.Equal(14, c.Version);
        Assert.Equal(4, c.Updates);
        Assert.Equal(2, c.MaxStaleness); // slot 0's unit 2: computed at 11, applied at 13
    }

    [Fact]
    public void Ssp_holds_a_fast_workers_gradient_until_the_slow_one_is_applied()
    {
        var c = new StalenessController(workers: 2, units: 10, version: 0, bound: 1);
        c.Start();
        c.Arrive(0); // applied at 0; slot 0 recomputes at 1
        var d = c.Arrive(0); // applying it would leave slot 1 (computed at 0) at staleness 2 when it arrives
        Assert.Empty(d.Updates);
        Assert.Empty(d.Assignments); // the fast worker waits
        Assert.Equal(1, c.Waits);

        d = c.Arrive(1);
        Assert.Equal(2, d.Updates.Count);
        Assert.Equal(new StalenessController.Contribution(1, 1, 1), Assert.Single(d.Updates[0]));
        Assert.Equal(new StalenessController.Contribution(0, 2, 1), Assert.Single(d.Updates[1]));
        Assert.Equal([new StalenessController.Assignment(0, 3, 3), new StalenessController.Assignment(1, 4, 3)], d.Assignments);
        Assert.Equal(1, c.MaxStaleness);
    }

    [Fact]
    public void Ssp_with_bound_zero_applies_gradients_of_the_same_version_together()
    {
        var c = new StalenessController(workers: 3, units: 3, version: 0, bound: 0);
        c.Start();
        Assert.Empty(c.Arrive(2).Updates);
        Assert.Empty(c.Arrive(0).Updates);
        var d = c.Arrive(1);
        var update = Assert.Single(d.Updates);
        Assert.Equal(3, update.Count);
        Assert.All(update, x => Assert.Equal(0, x.Staleness));
        Assert.True(c.Finished);
        Assert.Equal(1, c.Version);
    }

    [Fact]
    public void A_lost_workers_batch_goes_to_the_next_free_worker_and_late_answers_are_ignored()
    {
        var c = new StalenessController(workers: 2, units: 3, version: 0, bound: 1);
        c.Start(); // slot 0: unit 0, slot 1: unit 1
        var lost = c.Lose(1);
        Assert.Empty(lost.Assignments); // slot 0 is busy; unit 1 waits at the front of the queue
        var d = c.Arrive(0);
        Assert.Single(d.Updates);
        Assert.Equal([new StalenessController.Assignment(0, 1, 1)], d.Assignments);
        Assert.Same(StalenessController.Decision.None, c.Arrive(1)); // the lost worker's late answer
        c.Arrive(0);
        c.Arrive(0);
        Assert.True(c.Finished);
        Assert.Equal(3, c.Applied);
    }

    [Fact]
    public void A_lost_in_flight_gradient_no_longer_blocks_a_held_one()
    {
        var c = new StalenessController(workers: 2, units: 2, version: 0, bound: 0);
        c.Start();
        Assert.Empty(c.Arrive(0).Updates); // held: slot 1 computes at the same version
        var d = c.Lose(1);
        Assert.Single(d.Updates); // slot 0's gradient goes alone
        Assert.Equal([new StalenessController.Assignment(0, 1, 1)], d.Assignments); // and slot 0 takes unit 1
    }

    public static IEnumerable<object?[]> Bounds() => [[null], [0], [1], [2], [3]];

    [Theory]
    [MemberData(nameof(Bounds))]
    public void No_gradient_is_applied_above_the_bound_and_every_unit_exactly_once_under_random_arrivals(int? bound)
    {
        for (var seed = 1; seed <= 150; seed++)
        {
            var rng = new Random(seed * 31 + (bound ?? 99));
            var workers = rng.Next(1, 5);
            var units = rng.Next(0, 40);
            var c = new StalenessController(workers, units, version: 5, bound);
            var inFlight = new Dictionary<int, (int Unit, long Version)>();
            var applied = new int[units];
            var alive = Enumerable.Range(0, workers).ToHashSet();
            var maxSeen = 0;
            long version = 5;

            void Take(StalenessController.Decision d)
            {
                foreach (var update in d.Updates)
                {
                    Assert.NotEmpty(update);
                    foreach (var x in update)
                    {
                        Assert.True(bound is null || x.Staleness <= bound, $"seed {seed}: staleness {x.Staleness} > bound {bound}");
                        Assert.True(x.Staleness >= 0);
                        applied[x.Unit]++;
                        Assert.Equal(x.Unit, inFlight[x.Slot].Unit);
                        Assert.Equal(x.Staleness, version - inFlight[x.Slot].Version);
                        inFlight.Remove(x.Slot);
                        maxSeen = Math.Max(maxSeen, x.Staleness);
                    }
                    version++;
                }
                Assert.Equal(version, c.Version);
                foreach (var a in d.Assignments)
                {
                    Assert.Contains(a.Slot, alive);
                    Assert.False(inFlight.ContainsKey(a.Slot), $"seed {seed}: slot {a.Slot} given a second batch");
                    Assert.Equal(version, a.Version);
                    inFlight[a.Slot] = (a.Unit, a.Version);
                }
            }

            Take(c.Start());
            var events = 0;
            while (!c.Finished)
            {
                Assert.True(++events < 10_000, $"seed {seed}: no progress");
                // Held gradients are not in flight: only slots still computing can answer.
                var computing = inFlight.Keys.Where(c.InFlight).OrderBy(s => s).ToList();
                Assert.True(computing.Count > 0, $"seed {seed}: deadlock with {units - applied.Sum()} units left");
                var slot = computing[rng.Next(computing.Count)];
                if (alive.Count > 1 && rng.NextDouble() < 0.03)
                {
                    alive.Remove(slot);
                    inFlight.Remove(slot);
                    Take(c.Lose(slot));
                    continue;
                }
                Take(c.Arrive(slot));
            }
            Assert.All(applied, n => Assert.Equal(1, n));
            Assert.Equal(maxSeen, c.MaxStaleness);
        }
    }
}
