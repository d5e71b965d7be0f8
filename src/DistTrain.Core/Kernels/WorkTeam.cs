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
/// (its own next message is then already in its mailbox). Ranges are claimed, one per thread per pass,
/// by whichever of the guest and the helpers gets there first, so any mix gives the same bits.
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
    private int _pending;
    // Which ranges of which pass are still free: pass number (32 bits) | ranges (16) | next range (16). Ranges 1..
    // go to the helpers and a guest, one per thread; one word, so a claim can only be for the pass it read.
    private long _claims;
    private int _guest; // GuestEmpty, GuestWaiting (spinning in Assist), GuestCalled (a pass wants it), GuestReleased (a pass ran without it)
    private int _atBarrier;
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

    /// <summary>Threads in all, the caller included.</summary>
    public int Size { get; }

    /// <summary>
    /// Passes started so far (serial ones included): what <see cref="Assist"/> is told it may wait for after.
    /// </summary>
    public long Runs => Volatile.Read(ref _runs);

    /// <summary>Whether a guest is spinning in <see cref="Assist"/> for the next pass.</summary>
    public bool HasWaitingGuest => Volatile.Read(ref _guest) == GuestWaiting;

    /// <summary>Ranges that a guest (<see cref="Assist"/>) ran so far.</summary>
    public long GuestRanges => Interlocked.Read(ref _guestRanges);

    /// <summary>How many ranges a pass over <paramref name="length"/> elements uses on <paramref name="threads"/> threads.</summary>
    public static int RangeCount(int length, int threads) =>
        Math.Max(1, Math.Min(Math.Max(1, threads), length / MinimumRange));

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
    /// call returned true, <paramref name="second"/> on every range (each thread on the same range it had).
    /// Returns whether the second phase ran. A null team (<see cref="Run(WorkTeam?, int, Func{int, int, bool}, Action{int, int}?)"/>) runs both on the caller.
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
        _first = first;
        _second = second;
        _length = length;
        _chunk = chunk;
        _parts = parts;
        _error = null;
        _allPassed = 1;
        Volatile.Write(ref _atBarrier, parts);
        Volatile.Write(ref _pending, parts - 1);
        var generation = _generation + 1;
        Volatile.Write(ref _claims, ((generation & 0xFFFF_FFFF) << 32) | ((long)parts << 16) | 1);
        Interlocked.Exchange(ref _generation, generation); // publishes the fields above (full fence)
        // A spinning guest takes a range without a wake-up; parked helpers are woken for the rest.
        var wake = parts - 1;
        if (Interlocked.CompareExchange(ref _guest, GuestCalled, GuestWaiting) == GuestWaiting) wake--;
        for (var i = 0; i < wake; i++) _wake[i].Set();
        try
        {
            Part(0);
        }
        finally
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
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

    private void Part(int part)
    {
        var start = part * _chunk;
        var count = Math.Max(0, Math.Min(_length, start + _chunk) - start);
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
        // The barrier: the second phase may only start when every range passed the first.
        Interlocked.Decrement(ref _atBarrier);
        var spin = new SpinWait();
        while (Volatile.Read(ref _atBarrier) > 0) spin.SpinOnce(sleep1Threshold: -1);
        if (Volatile.Read(ref _allPassed) == 0 || _second is null || count == 0) return;
        try
        {
            _second(start, count);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
        }
    }

    /// <summary>
    /// Lends the calling thread to the pass after <paramref name="runsSeen"/> (a <see cref="Runs"/> value the
    /// caller read before handing in its input) for at most <paramref name="budget"/>: spins until that pass starts
    /// on another thread, takes a range of it, and returns true once the range is through both phases. Returns
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
        // Called: the caller counted on this thread for one range (it woke one helper fewer). The slot is free
        // again before the range runs, so the next pass (which cannot start before this range is through) may
        // have a guest of its own.
        Volatile.Write(ref _guest, GuestEmpty);
        if (!TryClaimAndRun()) return false;
        Interlocked.Increment(ref _guestRanges);
        return true;
    }

    // Takes the next unclaimed range of the current pass and runs it; false when every range was taken. A thread
    // never holds two ranges of one pass at once: a range returns only after the barrier, which every range of
    // its pass must have reached, so a later claim in the same pass finds none left.
    private bool TryClaimAndRun()
    {
        int part;
        while (true)
        {
            var claims = Volatile.Read(ref _claims);
            part = (int)(claims & 0xFFFF);
            if (part >= (int)((claims >> 16) & 0xFFFF)) return false;
            if (Interlocked.CompareExchange(ref _claims, claims + 1, claims) == claims) break;
        }
        // The pass cannot end before this range is through, and the next cannot start before it ends, so the
        // fields read now are the claimed pass's (written before its claim word).
        Part(part);
        Interlocked.Decrement(ref _pending);
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
            // Woken or not, a helper that sees a new pass tries for a range; the claim word keeps it to one
            // range of whichever pass is current.
            TryClaimAndRun();
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
