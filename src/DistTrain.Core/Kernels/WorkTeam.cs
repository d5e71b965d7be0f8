namespace DistTrain.Core.Kernels;

/// <summary>
/// Helper threads that split element-wise passes over a flat buffer with the calling thread: the
/// parameter server's averaging and optimizer passes at the end of a step, while the workers wait.
/// Ranges start on 64-byte boundaries (no shared cache line) and are at least <see cref="MinimumRange"/>
/// long. A pass can have two phases with a barrier between them (<see cref="Run(int, Func{int, int, bool}, Action{int, int})"/>):
/// averaging and its finite check on every range, then the optimizer on every range only if all were finite,
/// so one hand-off covers both. Element-wise work gives bit-identical results for any team size.
/// One caller at a time (an actor's handler); not reentrant.
/// <para>
/// Another thread that would otherwise sit idle until the next pass can lend itself to it with
/// <see cref="Assist"/>: in local mode a worker that sent its gradient spins there while the last worker
/// computes, and takes a range of the step's pass as soon as it starts, with no parked thread to wake
/// (its own next message is then already in its mailbox). Ranges are claimed by whichever of the caller, the
/// guest and the helpers gets there first, so any mix gives the same bits, and a helper the scheduler runs late
/// (on a machine whose cores the workers also use) costs its share of the pass rather than a wait for it.
/// </para>
/// </summary>
/// <remarks>
/// Measured (docs/benchmarks.md): waking a parked helper per pass costs less than the pass halves save;
/// keeping helpers spinning "warm" between steps on this 2-core machine took cores from the workers and
/// lost ~40% of local-mode throughput, so helpers park as soon as their range is done.
/// </remarks>
public sealed class WorkTeam : IDisposable
{
    /// <summary>Elements below which a range is not worth a thread.</summary>
    public const int MinimumRange = 32 * 1024;

    /// <summary>Ranges per thread a long pass is cut into (see <see cref="RangeCount"/>).</summary>
    public const int RangesPerThread = 4;

    private const int Alignment = 16; // floats per 64-byte cache line

    private const int GuestEmpty = 0, GuestWaiting = 1, GuestCalled = 2, GuestReleased = 3;

    private readonly Thread[] _helpers;
    private readonly ManualResetEventSlim[] _wake;
    private Func<int, int, bool>? _first;
    private Action<int, int>? _second;
    private int _length;
    private int _chunk;
    private int _parts;
    private long _generation;
    private long _runs;
    private long _guestRanges;
    private int _firstDone; // first-phase ranges through
    private int _done;      // claims through (both phases)
    // Which claims of which pass are still free: pass number (32 bits) | claims (16) | next claim (16); one word,
    // so a claim can only be for the pass it read.
    private long _claims;
    private int _guest; // GuestEmpty, GuestWaiting (spinning in Assist), GuestCalled (a pass wants it), GuestReleased (a pass ran without it)
    private int _allPassed;
    private Exception? _error;
    private volatile bool _disposed;

    /// <param name="size">Threads in all, the caller included; 1 = no helper (every pass runs on the caller).</param>
    public WorkTeam(int size)
    {
        Size = Math.Max(1, size);
        _helpers = new Thread[Size - 1];
        _wake = new ManualResetEventSlim[Size - 1];
        for (var i = 0; i < _helpers.Length; i++)
        {
            _wake[i] = new ManualResetEventSlim(false, spinCount: 0);
            var index = i;
            _helpers[i] = new Thread(() => HelperLoop(index)) { IsBackground = true, Name = $"disttrain-team-{i + 1}" };
            _helpers[i].Start();
        }
    }

    /// <summary>A team whose pass counter starts at <paramref name="passesBefore"/> (tests: the claim word's 32-bit wrap).</summary>
    internal WorkTeam(int size, long passesBefore) : this(size) => _generation = passesBefore;

    /// <summary>Threads in all, the caller included.</summary>
    public int Size { get; }

    /// <summary>
    /// Passes started so far (serial ones included): what <see cref="Assist"/> is told it may wait for after.
    /// </summary>
    public long Runs => Volatile.Read(ref _runs);

    /// <summary>Whether a guest is spinning in <see cref="Assist"/> for the next pass.</summary>
    public bool HasWaitingGuest => Volatile.Read(ref _guest) == GuestWaiting;

    /// <summary>First-phase ranges that a guest (<see cref="Assist"/>) ran so far.</summary>
    public long GuestRanges => Interlocked.Read(ref _guestRanges);

    /// <summary>
    /// How many ranges a pass over <paramref name="length"/> elements uses on <paramref name="threads"/> threads:
    /// the same number per thread, up to <see cref="RangesPerThread"/> (a pass too short for one range per thread
    /// gets fewer), each at least <see cref="MinimumRange"/> long. Several per thread let a thread that starts
    /// late (a parked helper the scheduler has not run yet) leave its share to the others instead of making them
    /// wait for it; the same number per thread keeps the split even when all start together.
    /// </summary>
    public static int RangeCount(int length, int threads)
    {
        if (threads <= 1) return 1;
        var ranges = length / MinimumRange;
        if (ranges < threads) return Math.Max(1, ranges);
        return threads * Math.Min(RangesPerThread, ranges / threads);
    }

    /// <summary>Calls <paramref name="body"/>(start, length) for each range; returns when all have run (rethrows the first failure).</summary>
    public void Run(int length, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        Run(length, (start, count) =>
        {
            body(start, count);
            return true;
        }, null);
    }

    /// <summary>
    /// Runs <paramref name="first"/> on every range; then, once every range is through it and only if every
    /// call returned true, <paramref name="second"/> on every range. Returns whether the second phase ran.
    /// Ranges of either phase go to whichever thread claims them first (the caller, woken helpers, a guest), so
    /// a thread that is slow to start only means the others take more. A null team
    /// (<see cref="Run(WorkTeam?, int, Func{int, int, bool}, Action{int, int}?)"/>) runs both on the caller.
    /// </summary>
    public bool Run(int length, Func<int, int, bool> first, Action<int, int>? second)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentNullException.ThrowIfNull(first);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Interlocked.Increment(ref _runs);
        var parts = RangeCount(length, Size);
        if (parts == 1)
        {
            // A guest waiting for this pass has nothing to do in it: let it go now rather than at its deadline.
            Interlocked.CompareExchange(ref _guest, GuestReleased, GuestWaiting);
            return Serial(length, first, second);
        }
        var chunk = (length + parts - 1) / parts;
        chunk = (chunk + Alignment - 1) / Alignment * Alignment;
        var claimable = second is null ? parts : 2 * parts;
        _first = first;
        _second = second;
        _length = length;
        _chunk = chunk;
        _parts = parts;
        _error = null;
        _allPassed = 1;
        Volatile.Write(ref _firstDone, 0);
        Volatile.Write(ref _done, 0);
        var generation = _generation + 1;
        Volatile.Write(ref _claims, ((generation & 0xFFFF_FFFF) << 32) | ((long)claimable << 16));
        Interlocked.Exchange(ref _generation, generation); // publishes the fields above (full fence)
        // A spinning guest joins without a wake-up; parked helpers are woken, one per range beyond the caller's.
        var wake = Math.Min(_helpers.Length, parts - 1);
        if (Interlocked.CompareExchange(ref _guest, GuestCalled, GuestWaiting) == GuestWaiting) wake--;
        for (var i = 0; i < wake; i++) _wake[i].Set();
        try
        {
            RunClaims(generation);
        }
        finally
        {
            // Ranges other threads claimed and are still running.
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) < claimable) spin.SpinOnce(sleep1Threshold: -1);
            _first = null;
            _second = null;
        }
        if (_error is { } e) throw new AggregateException("a work-team range failed", e);
        return Volatile.Read(ref _allPassed) == 1;
    }

    /// <summary><see cref="Run(int, Func{int, int, bool}, Action{int, int}?)"/> on <paramref name="team"/>, or on the caller alone when it is null.</summary>
    public static bool Run(WorkTeam? team, int length, Func<int, int, bool> first, Action<int, int>? second) =>
        team is null ? Serial(length, first, second) : team.Run(length, first, second);

    private static bool Serial(int length, Func<int, int, bool> first, Action<int, int>? second)
    {
        if (!first(0, length)) return false;
        second?.Invoke(0, length);
        return true;
    }

    // Claims and runs ranges of pass <generation> until none is left; returns how many first-phase ranges it ran.
    // Claim k < parts is range k's first phase, claim parts + k its second: every first-phase claim is handed out
    // before any second-phase one, so a thread waiting at the barrier with a second-phase claim waits only for
    // first-phase ranges that other threads hold and are running; it never waits for one nobody has claimed.
    private int RunClaims(long generation)
    {
        var ran = 0;
        while (true)
        {
            var claims = Volatile.Read(ref _claims);
            if ((claims >>> 32) != (generation & 0xFFFF_FFFF)) return ran; // that pass is over (unsigned: the pass number fills 32 bits)
            var claim = (int)(claims & 0xFFFF);
            if (claim >= (int)((claims >> 16) & 0xFFFF)) return ran;
            if (Interlocked.CompareExchange(ref _claims, claims + 1, claims) != claims) continue;
            // The pass cannot end before this claim is through, and the next cannot start before it ends, so the
            // fields read now are the claimed pass's (written before its claim word).
            if (claim < _parts)
            {
                RunFirst(claim);
                ran++;
            }
            else RunSecond(claim - _parts);
            Interlocked.Increment(ref _done);
        }
    }

    private (int Start, int Count) RangeOf(int part)
    {
        var start = part * _chunk;
        return (start, Math.Max(0, Math.Min(_length, start + _chunk) - start));
    }

    private void RunFirst(int part)
    {
        var (start, count) = RangeOf(part);
        var passed = true;
        try
        {
            passed = count == 0 || _first!(start, count);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
            passed = false;
        }
        if (!passed) Volatile.Write(ref _allPassed, 0);
        Interlocked.Increment(ref _firstDone);
    }

    private void RunSecond(int part)
    {
        // The barrier: the second phase may only start when every range passed the first.
        var spin = new SpinWait();
        while (Volatile.Read(ref _firstDone) < _parts) spin.SpinOnce(sleep1Threshold: -1);
        var (start, count) = RangeOf(part);
        if (Volatile.Read(ref _allPassed) == 0 || count == 0) return;
        try
        {
            _second!(start, count);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
        }
    }

    /// <summary>
    /// Lends the calling thread to the pass after <paramref name="runsSeen"/> (a <see cref="Runs"/> value the
    /// caller read before handing in its input) for at most <paramref name="budget"/>: spins until that pass starts
    /// on another thread, takes ranges of it while any are left, and returns true once those are through. Returns
    /// false without working when a pass started since <paramref name="runsSeen"/> (the caller's input is already
    /// in it, or it ran on the caller's own thread), when the budget runs out, when the pass is too short to
    /// share, when another guest is already waiting, or when the team has no helpers (size 1). Spinning costs a
    /// core for up to the budget: call it only from a thread that has nothing else to run and a core of its own.
    /// </summary>
    public bool Assist(TimeSpan budget, long runsSeen)
    {
        if (_helpers.Length == 0 || _disposed || Runs != runsSeen) return false;
        if (Interlocked.CompareExchange(ref _guest, GuestWaiting, GuestEmpty) != GuestEmpty) return false;
        // A pass counts itself (Runs) before it looks for a guest; one that looked before this guest arrived
        // has counted itself by now, so this read sees it and the guest leaves instead of waiting for a pass
        // that needs its caller's next input.
        if (Runs != runsSeen && Interlocked.CompareExchange(ref _guest, GuestEmpty, GuestWaiting) == GuestWaiting) return false;
        var deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(budget.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        var spin = new SpinWait();
        int state;
        while ((state = Volatile.Read(ref _guest)) == GuestWaiting)
        {
            if (_disposed || System.Diagnostics.Stopwatch.GetTimestamp() >= deadline)
            {
                if (Interlocked.CompareExchange(ref _guest, GuestEmpty, GuestWaiting) == GuestWaiting) return false;
                state = Volatile.Read(ref _guest); // a pass called it at the last moment
                break;
            }
            spin.SpinOnce(sleep1Threshold: -1);
        }
        if (state == GuestReleased)
        {
            Volatile.Write(ref _guest, GuestEmpty);
            return false;
        }
        // Called: the caller counted on this thread (it woke one helper fewer). The slot is free again before
        // the ranges run, so the next pass (which cannot start before they are through) may have a guest of its own.
        Volatile.Write(ref _guest, GuestEmpty);
        var ran = RunClaims(Volatile.Read(ref _generation));
        if (ran == 0) return false;
        Interlocked.Add(ref _guestRanges, ran);
        return true;
    }

    private void HelperLoop(int index)
    {
        long seen = 0;
        while (!_disposed)
        {
            // Reset, then look: a Run that published before the Reset is seen here; one after it sets the event again.
            _wake[index].Reset();
            var generation = Volatile.Read(ref _generation);
            if (generation == seen)
            {
                if (!_disposed) _wake[index].Wait();
                continue;
            }
            seen = generation;
            // Woken or not, a helper that sees a new pass takes what is left of it (the claim word holds the pass).
            RunClaims(generation);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var w in _wake) w.Set();
        foreach (var t in _helpers) t.Join();
        foreach (var w in _wake) w.Dispose();
    }
}
