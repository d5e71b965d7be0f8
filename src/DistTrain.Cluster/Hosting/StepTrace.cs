using System.Diagnostics;
using System.Globalization;
using Akka.Actor;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// A wall-clock timeline of synchronous steps in one process, for finding where a step's time goes across
/// processes (<c>scripts/step_timeline.py</c> lines up the files of all nodes). Off unless
/// <c>DISTTRAIN_STEP_TRACE</c> names a directory: then every node (and local mode) records a few points per
/// step and writes <c>steps-PID.csv</c> there when its actor system terminates.
/// <para>
/// A point is (monotonic nanoseconds, point, parameter version, shard index); the clock is
/// <see cref="Stopwatch.GetTimestamp"/>, which on Linux is CLOCK_MONOTONIC and so comparable between
/// processes of one machine. Recording writes one preallocated slot (no allocation, no lock); points beyond
/// the capacity are counted and dropped.
/// </para>
/// </summary>
public sealed class StepTrace : IExtension
{
    /// <summary>The environment variable that turns tracing on and names the directory for the files.</summary>
    public const string EnvironmentVariable = "DISTTRAIN_STEP_TRACE";

    public const int DefaultCapacity = 1 << 20;

    /// <summary>Where in a step a point was taken; the names go into the file.</summary>
    public enum Point : byte
    {
        /// <summary>Parameter server: a RunStep arrived (version = the parameters sent with it).</summary>
        PsStepStart,
        /// <summary>Parameter server: about to send shard i's ComputeGradients.</summary>
        PsSendStart,
        /// <summary>Parameter server: shard i's ComputeGradients handed to the transport.</summary>
        PsSendEnd,
        /// <summary>Parameter server: shard i's gradient delivered to the actor.</summary>
        PsGradient,
        /// <summary>Parameter server: the last gradient is in; averaging and the optimizer start.</summary>
        PsPassStart,
        /// <summary>Parameter server: averaging and the optimizer are done (version V+1 exists).</summary>
        PsPassEnd,
        /// <summary>Worker: shard i's ComputeGradients delivered to the actor.</summary>
        WorkerArrived,
        /// <summary>Worker: the gradient of shard i is computed.</summary>
        WorkerComputed,
        /// <summary>Worker: the gradient of shard i is handed to the transport.</summary>
        WorkerSent,
    }

    private readonly long[] _ticks;
    private readonly long[] _versions;
    private readonly int[] _shards;
    private readonly Point[] _points;
    private int _next;

    public StepTrace(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ticks = new long[capacity];
        _versions = new long[capacity];
        _shards = new int[capacity];
        _points = new Point[capacity];
    }

    /// <summary>Points recorded (including the dropped ones).</summary>
    public int Count => Volatile.Read(ref _next);

    /// <summary>Points that did not fit.</summary>
    public int Dropped => Math.Max(0, Count - _ticks.Length);

    /// <summary>Records <paramref name="point"/> now. Safe from any thread.</summary>
    public void Mark(Point point, long version, int shard)
    {
        var now = Stopwatch.GetTimestamp();
        var i = Interlocked.Increment(ref _next) - 1;
        if ((uint)i >= (uint)_ticks.Length) return;
        _ticks[i] = now;
        _versions[i] = version;
        _shards[i] = shard;
        _points[i] = point;
    }

    /// <summary>
    /// Writes the recorded points as CSV (<c>ns,point,version,shard,pid</c>, a header first) in the order
    /// they were recorded. Call once recording has stopped.
    /// </summary>
    public void Write(TextWriter output)
    {
        output.WriteLine("ns,point,version,shard,pid");
        var pid = Environment.ProcessId;
        var n = Math.Min(Count, _ticks.Length);
        var toNs = 1e9 / Stopwatch.Frequency;
        for (var i = 0; i < n; i++)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(long)(_ticks[i] * toNs)},{_points[i]},{_versions[i]},{_shards[i]},{pid}"));
        if (Dropped > 0) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {Dropped} points dropped (capacity {_ticks.Length})"));
    }

    /// <summary>The trace of <paramref name="system"/>, or null when tracing is off there.</summary>
    public static StepTrace? Of(ActorSystem system) => system.HasExtension<StepTrace>() ? system.GetExtension<StepTrace>() : null;

    /// <summary>
    /// The directory tracing writes to: <paramref name="directory"/>, or <see cref="EnvironmentVariable"/> when that
    /// is null; null when tracing is off (neither names one). Creates it, so a directory that cannot be made fails
    /// here, before a node starts: <see cref="ArgumentException"/> naming the variable and the fix.
    /// </summary>
    public static string? PrepareDirectory(string? directory = null)
    {
        directory ??= Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(directory)) return null;
        try
        {
            return Directory.CreateDirectory(directory).FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ArgumentException($"{EnvironmentVariable}={directory}: cannot create the step-trace directory ({e.Message}); name a writable directory or unset {EnvironmentVariable}", e);
        }
    }

    /// <summary>
    /// Turns tracing on for <paramref name="system"/> when <paramref name="directory"/> (from
    /// <see cref="PrepareDirectory"/>) is not null: the file <c>steps-PID.csv</c> there is written when the system
    /// terminates. Returns the trace, or null when tracing stays off.
    /// </summary>
    public static StepTrace? Attach(ActorSystem system, string? directory, int capacity = DefaultCapacity)
    {
        if (string.IsNullOrWhiteSpace(directory)) return null;
        var path = Path.Combine(PrepareDirectory(directory)!, $"steps-{Environment.ProcessId}.csv");
        var trace = (StepTrace)system.RegisterExtension(new Id(capacity));
        system.RegisterOnTermination(() =>
        {
            using var f = new StreamWriter(path, append: false);
            trace.Write(f);
        });
        return trace;
    }

    private sealed class Id(int capacity) : ExtensionIdProvider<StepTrace>
    {
        public override StepTrace CreateExtension(ExtendedActorSystem system) => new(capacity);
    }
}
