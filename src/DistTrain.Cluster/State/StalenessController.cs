namespace DistTrain.Cluster.State;

/// <summary>
/// The decisions of asynchronous and stale-synchronous (SSP) training, as pure state: which worker slot
/// computes which batch (unit) at which parameter version, and which arrived gradients are applied when.
/// <para>
/// Staleness of a gradient = the version it is applied at − the version it was computed at. With a
/// bound s, the controller keeps the invariant "every gradient not yet applied (in flight or arrived and
/// held) has V − v ≤ s", so none is ever applied above s:
/// an arrived gradient is applied on its own only if that leaves every other unapplied gradient within
/// the bound (V + 1 − v ≤ s); otherwise it is held and its worker waits (gets no new batch). When every
/// unapplied gradient has arrived and none can go alone, all held gradients are applied together as one
/// update (each with staleness V − v ≤ s); with s = 0 that is bulk-synchronous averaging. Without a bound
/// (async) every gradient is applied on arrival and the staleness is only recorded.
/// </para>
/// <para>
/// Every unit is handed out until its gradient arrives; a lost worker's unit goes back to the front of the
/// queue, so each unit is applied exactly once (or counted as dropped by the caller). No Akka here.
/// </para>
/// </summary>
public sealed class StalenessController
{
    /// <summary>Slot <see cref="Slot"/> computes unit <see cref="Unit"/> from the parameters at <see cref="Version"/>.</summary>
    public readonly record struct Assignment(int Slot, int Unit, long Version);

    /// <summary>One arrived gradient applied in an update, with the staleness it was applied at.</summary>
    public readonly record struct Contribution(int Slot, int Unit, int Staleness);

    /// <summary>What to do after an event: these updates (in order, each one version), then these assignments at the final version.</summary>
    public sealed record Decision(IReadOnlyList<IReadOnlyList<Contribution>> Updates, IReadOnlyList<Assignment> Assignments)
    {
        public static readonly Decision None = new([], []);
    }

    private readonly int[] _unit;       // unit held by each slot (in flight or arrived), -1 = idle
    private readonly long[] _computedAt;
    private readonly bool[] _arrived;
    private readonly bool[] _alive;
    private readonly List<int> _held = [];  // arrived, not yet applied, in arrival order
    private readonly LinkedList<int> _queue = new();
    private readonly int _units;
    private int _done;
    private long _stalenessSum;

    /// <param name="workers">Worker slots 0..workers-1.</param>
    /// <param name="units">Batches to run: 0..units-1, handed out in order.</param>
    /// <param name="version">The parameter version at the start.</param>
    /// <param name="bound">The largest staleness ever applied; null = unbounded (async).</param>
    public StalenessController(int workers, int units, long version, int? bound)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "need at least one worker");
        if (units < 0) throw new ArgumentOutOfRangeException(nameof(units), units, "unit count must be >= 0");
        if (bound is < 0) throw new ArgumentOutOfRangeException(nameof(bound), bound, "the staleness bound must be >= 0");
        _unit = new int[workers];
        Array.Fill(_unit, -1);
        _computedAt = new long[workers];
        _arrived = new bool[workers];
        _alive = new bool[workers];
        Array.Fill(_alive, true);
        _units = units;
        for (var u = 0; u < units; u++) _queue.AddLast(u);
        Version = version;
        Bound = bound;
    }

    public int? Bound { get; }

    /// <summary>The parameter version: one more per update.</summary>
    public long Version { get; private set; }

    /// <summary>True when every unit's gradient has been applied.</summary>
    public bool Finished => _done == _units;

    public int Updates { get; private set; }

    /// <summary>Gradients applied so far (an update may apply several).</summary>
    public int Applied => _done;

    public int MaxStaleness { get; private set; }

    public double MeanStaleness => _done == 0 ? 0 : (double)_stalenessSum / _done;

    /// <summary>How many arrived gradients had to wait (were not applied on arrival).</summary>
    public int Waits { get; private set; }

    /// <summary>True when slot's gradient is computing (handed out, not arrived).</summary>
    public bool InFlight(int slot) => _unit[slot] >= 0 && !_arrived[slot];

    /// <summary>The unit slot is working on or waiting with, or -1.</summary>
    public int UnitOf(int slot) => _unit[slot];

    /// <summary>The first assignments: one unit to every slot.</summary>
    public Decision Start() => new([], Assign());

    /// <summary>
    /// Slot's gradient arrived. Returns nothing when the slot had no unit in flight (a late answer from a
    /// lost worker, a duplicate): the caller ignores that message.
    /// </summary>
    public Decision Arrive(int slot)
    {
        if ((uint)slot >= (uint)_unit.Length || !InFlight(slot) || !_alive[slot]) return Decision.None;
        _arrived[slot] = true;
        _held.Add(slot);
        var updates = Resolve();
        if (_arrived[slot] && _unit[slot] >= 0) Waits++;
        return new(updates, Assign());
    }

    /// <summary>Slot's worker left: its unit in flight goes back to the front of the queue; an arrived gradient is still applied.</summary>
    public Decision Lose(int slot)
    {
        if ((uint)slot >= (uint)_unit.Length || !_alive[slot]) return Decision.None;
        _alive[slot] = false;
        if (InFlight(slot))
        {
            _queue.AddFirst(_unit[slot]);
            _unit[slot] = -1;
        }
        return new(Resolve(), Assign());
    }

    /// <summary>True when at least one slot is alive.</summary>
    public bool AnyAlive => Array.IndexOf(_alive, true) >= 0;

    private List<IReadOnlyList<Contribution>> Resolve()
    {
        var updates = new List<IReadOnlyList<Contribution>>();
        while (_held.Count > 0)
        {
            var alone = -1;
            foreach (var h in _held)
            {
                if (CanApplyAlone(h)) { alone = h; break; }
            }
            if (alone >= 0)
            {
                updates.Add(Apply([alone]));
            }
            else if (!AnyInFlight())
            {
                updates.Add(Apply([.. _held]));
            }
            else
            {
                break;
            }
        }
        return updates;
    }

    private bool CanApplyAlone(int slot)
    {
        if (Bound is not { } s) return true;
        for (var i = 0; i < _unit.Length; i++)
        {
            if (i == slot || _unit[i] < 0) continue;
            if (Version + 1 - _computedAt[i] > s) return false;
        }
        return true;
    }

    private bool AnyInFlight()
    {
        for (var i = 0; i < _unit.Length; i++) if (InFlight(i)) return true;
        return false;
    }

    private Contribution[] Apply(List<int> slots)
    {
        var update = new Contribution[slots.Count];
        for (var k = 0; k < slots.Count; k++)
        {
            var slot = slots[k];
            var staleness = checked((int)(Version - _computedAt[slot]));
            if (Bound is { } s && staleness > s)
                throw new InvalidOperationException($"internal error: slot {slot} would be applied with staleness {staleness} > bound {s}");
            update[k] = new Contribution(slot, _unit[slot], staleness);
            MaxStaleness = Math.Max(MaxStaleness, staleness);
            _stalenessSum += staleness;
            _unit[slot] = -1;
            _arrived[slot] = false;
            _held.Remove(slot);
            _done++;
        }
        Version++;
        Updates++;
        return update;
    }

    private List<Assignment> Assign()
    {
        var list = new List<Assignment>();
        for (var i = 0; i < _unit.Length && _queue.Count > 0; i++)
        {
            if (!_alive[i] || _unit[i] >= 0) continue;
            var u = _queue.First!.Value;
            _queue.RemoveFirst();
            _unit[i] = u;
            _computedAt[i] = Version;
            _arrived[i] = false;
            list.Add(new Assignment(i, u, Version));
        }
        return list;
    }
}
