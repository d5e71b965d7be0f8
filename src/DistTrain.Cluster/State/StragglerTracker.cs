namespace DistTrain.Cluster.State;

/// <summary>
/// The parameter server's straggler decisions for one step (pure state, no Akka). Each shard starts with
/// its assigned worker; a shard still unanswered <see cref="Deadline"/> after it was last issued is
/// re-issued to a worker of the same step that has answered and has nothing outstanding (the one with
/// the fewest re-issues first, then shard order). Whichever answer arrives first counts — the
/// <see cref="GradientAggregator"/> reports the other as <see cref="ContributionOutcome.Duplicate"/> — so a
/// re-issued shard is still averaged exactly once. A shard for which no worker is free is sent again to its
/// last holder once it has been unanswered for two deadlines: a message lost in a connection that broke
/// unnoticed (the holder is idle, waiting) then costs two deadlines instead of the whole job, also when
/// the step has one worker or every worker lost its shard.
/// </summary>
/// <typeparam name="TWorker">How the caller names a worker (an IActorRef in the actor, strings in tests).</typeparam>
public sealed class StragglerTracker<TWorker> where TWorker : notnull
{
    private readonly List<Shard> _shards = [];
    private readonly Dictionary<TWorker, WorkerState> _workers = [];

    public StragglerTracker(TimeSpan deadline)
    {
        if (deadline <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(deadline), deadline, "the step deadline must be positive");
        Deadline = deadline;
    }

    public TimeSpan Deadline { get; }

    /// <summary>Re-issues decided since <see cref="Begin"/>.</summary>
    public int Reissued { get; private set; }

    /// <summary>Shards that have not been answered yet.</summary>
    public int Pending
    {
        get
        {
            var n = 0;
            foreach (var s in _shards) if (!s.Answered) n++;
            return n;
        }
    }

    private sealed class Shard(TWorker owner, TimeSpan issuedAt)
    {
        public List<TWorker> Holders { get; } = [owner];
        public TimeSpan IssuedAt { get; set; } = issuedAt;
        public bool Answered { get; set; }
    }

    private sealed class WorkerState
    {
        public int Outstanding;
        public int Reissues;
    }

    /// <summary>Starts tracking a step whose shard i went to <paramref name="owners"/>[i] at <paramref name="now"/>.</summary>
    public void Begin(IReadOnlyList<TWorker> owners, TimeSpan now)
    {
        _shards.Clear();
        _workers.Clear();
        Reissued = 0;
        foreach (var w in owners)
        {
            _shards.Add(new Shard(w, now));
            State(w).Outstanding++;
        }
    }

    private WorkerState State(TWorker w)
    {
        if (!_workers.TryGetValue(w, out var s)) _workers[w] = s = new WorkerState();
        return s;
    }

    /// <summary>
    /// Shard <paramref name="shardIndex"/> was answered by <paramref name="from"/> (an accepted or a
    /// dropped gradient; a duplicate answer frees its worker too). Returns true for the first answer.
    /// </summary>
    public bool Answered(int shardIndex, TWorker from)
    {
        if ((uint)shardIndex >= (uint)_shards.Count) return false;
        var shard = _shards[shardIndex];
        if (_workers.TryGetValue(from, out var w) && shard.Holders.Contains(from) && w.Outstanding > 0) w.Outstanding--;
        if (shard.Answered) return false;
        shard.Answered = true;
        return true;
    }

    /// <summary>
    /// The re-issues due at <paramref name="now"/>: every unanswered shard issued at least
    /// <see cref="Deadline"/> ago goes to a free worker (answered, nothing outstanding) that does not hold it
    /// yet. A shard for which no worker is free waits, and after two deadlines goes again to the worker that
    /// holds it last (a resend: that worker still owes the one answer). Each decision restarts the shard's
    /// clock; a re-issue makes its target busy until it answers.
    /// </summary>
    public IReadOnlyList<(int ShardIndex, TWorker Target)> Due(TimeSpan now)
    {
        List<(int, TWorker)>? result = null;
        for (var i = 0; i < _shards.Count; i++)
        {
            var shard = _shards[i];
            if (shard.Answered || now - shard.IssuedAt < Deadline) continue;
            TWorker target;
            if (FreeWorker(shard) is { } free)
            {
                target = free.Key;
                shard.Holders.Add(target);
                free.Value.Outstanding++;
                free.Value.Reissues++;
            }
            else if (now - shard.IssuedAt >= 2 * Deadline)
            {
                target = shard.Holders[^1];
                _workers[target].Reissues++;
            }
            else continue;
            shard.IssuedAt = now;
            Reissued++;
            (result ??= []).Add((i, target));
        }
        return result ?? (IReadOnlyList<(int, TWorker)>)[];
    }

    private KeyValuePair<TWorker, WorkerState>? FreeWorker(Shard shard)
    {
        KeyValuePair<TWorker, WorkerState>? best = null;
        // Shard order (the order of Begin's owners), so the choice does not depend on dictionary order.
        foreach (var s in _shards)
        {
            var candidate = s.Holders[0];
            var w = _workers[candidate];
            if (w.Outstanding > 0 || shard.Holders.Contains(candidate)) continue;
            if (best is null || w.Reissues < best.Value.Value.Reissues) best = new(candidate, w);
        }
        return best;
    }

    /// <summary>
    /// When <see cref="Due"/> may next have work, seen at <paramref name="now"/>, or null when every shard has
    /// answered: a shard's deadline, or for a shard already past it (which waits for a free worker) its resend
    /// time. A worker that answers meanwhile can take a waiting shard at once: see <see cref="Overdue"/>.
    /// </summary>
    public TimeSpan? NextCheck(TimeSpan now)
    {
        TimeSpan? next = null;
        foreach (var s in _shards)
        {
            if (s.Answered) continue;
            var at = s.IssuedAt + Deadline;
            if (at <= now) at += Deadline;
            if (next is null || at < next) next = at;
        }
        return next;
    }

    /// <summary>Whether some unanswered shard is past its deadline at <paramref name="now"/> (an answer may free a worker for it).</summary>
    public bool Overdue(TimeSpan now)
    {
        foreach (var s in _shards)
            if (!s.Answered && now - s.IssuedAt >= Deadline) return true;
        return false;
    }
}
