namespace DistTrain.Core.Kernels;

/// <summary>
/// Helper threads that split element-wise passes over a flat buffer with the calling thread: the
/// parameter server's averaging and optimizer passes at the end of a step, while the workers wait.
/// Ranges start on 64-byte boundaries (no shared cache line) and are at least <see cref="MinimumRange"/>
/// long. A pass can have two phases with a barrier between them (<see cref="Run(int, Func{int, int, bool}, Action{int, int})"/>):
/// averaging and its finite check on every range, then the optimizer on every range only if all were finite,
/// so one hand-off covers both. Element-wise work gives bit-identical results for any team size.
/// One caller at a time (an actor's handler); not reentrant.
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

    private readonly Thread[] _helpers;
    private readonly ManualResetEventSlim[] _wake;
    private Func<int, int, bool>? _first;
    private Action<int, int>? _second;
    private int _length;
    private int _chunk;
    private int _parts;
    private long _generation;
    private int _pending;
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
        var parts = RangeCount(length, Size);
        if (parts == 1) return Serial(length, first, second);
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
        Interlocked.Increment(ref _generation); // publishes the fields above (full fence)
        for (var i = 0; i < parts - 1; i++) _wake[i].Set();
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

    private void HelperLoop(int index)
    {
        long seen = 0;
        var part = index + 1;
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
            var parts = Volatile.Read(ref _parts);
            // A newer run may have started while this helper read: look again (a helper that takes part in
            // a run is waited for, so a participant never sees a later run's fields here).
            if (Volatile.Read(ref _generation) != generation) continue;
            seen = generation;
            if (part >= parts) continue;
            Part(part);
            Interlocked.Decrement(ref _pending);
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
