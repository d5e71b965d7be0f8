using System.Globalization;
using System.Text;
using DistTrain.Core.Training;

// Not DistTrain.Cli.Console: a namespace named Console would hide System.Console from every other
// DistTrain.Cli.* namespace (CS0118 on each Console.WriteLine).
namespace DistTrain.Cli.Terminal;

/// <summary>
/// Live training progress on the console. Interactive (a terminal): one progress bar per epoch redrawn
/// in place with '\r' at most every <see cref="RedrawInterval"/>, replaced at epoch end by the epoch's
/// permanent line. Plain (pipes, CI, docker logs): exactly one line per epoch and nothing per step.
/// Thread-safe: step and epoch events may arrive from actor threads.
/// </summary>
public sealed class ProgressRenderer
{
    /// <summary>Minimum time between two redraws of the bar (about 10 per second).</summary>
    public static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private readonly TextWriter _out;
    private readonly TimeProvider _time;
    private readonly int _lineWidth;
    private readonly object _gate = new();
    private readonly StringBuilder _line = new(160);
    private long _lastDraw;
    private int _drawnEpoch = -1;
    private int _drawnLength;
    private string _lastBar = "";

    /// <param name="writer">Where progress goes (normally Console.Out).</param>
    /// <param name="isInteractive">True for a terminal: draw a bar in place; false: one plain line per epoch.</param>
    /// <param name="totalEpochs">Epochs the run will train, for "epoch 3/10".</param>
    /// <param name="lineWidth">Terminal width; the bar shrinks so a line never wraps (a wrapped line breaks '\r').</param>
    /// <param name="time">Clock for redraw throttling; the system clock when null.</param>
    public ProgressRenderer(TextWriter writer, bool isInteractive, int totalEpochs, int lineWidth = 100, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (totalEpochs < 1) throw new ArgumentOutOfRangeException(nameof(totalEpochs), totalEpochs, "total epochs must be >= 1.");
        if (lineWidth < 20) throw new ArgumentOutOfRangeException(nameof(lineWidth), lineWidth, "line width must be >= 20 columns.");
        _out = writer;
        IsInteractive = isInteractive;
        TotalEpochs = totalEpochs;
        _lineWidth = lineWidth;
        _time = time ?? TimeProvider.System;
    }

    public bool IsInteractive { get; }

    public int TotalEpochs { get; }

    /// <summary>A renderer for the real console: interactive only when stdout is a terminal and TERM is not "dumb".</summary>
    public static ProgressRenderer ForConsole(int totalEpochs)
    {
        var interactive = IsInteractiveConsole();
        var width = 100;
        if (interactive)
        {
            try
            {
                if (System.Console.WindowWidth >= 20) width = System.Console.WindowWidth;
            }
            catch (IOException)
            {
                // No usable terminal size; keep the default.
            }
        }
        return new ProgressRenderer(System.Console.Out, interactive, totalEpochs, width);
    }

    /// <summary>True when stdout is a terminal that understands '\r' redraws.</summary>
    public static bool IsInteractiveConsole() =>
        !System.Console.IsOutputRedirected
        && !string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);

    /// <summary>Progress within an epoch; redraws the bar (interactive) or does nothing (plain).</summary>
    public void OnStep(StepProgress p)
    {
        if (!IsInteractive) return;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var newEpoch = p.Epoch != _drawnEpoch;
            if (!newEpoch && _time.GetElapsedTime(_lastDraw, now) < RedrawInterval) return;
            _lastDraw = now;
            _drawnEpoch = p.Epoch;
            _lastBar = Bar(p);
            Redraw(_lastBar);
            _out.Flush();
        }
    }

    /// <summary>End of an epoch: its permanent line (replacing the bar when interactive).</summary>
    public void OnEpoch(EpochMetrics m)
    {
        ArgumentNullException.ThrowIfNull(m);
        lock (_gate)
        {
            var line = EpochLine(m);
            if (IsInteractive) Clear();
            _out.Write(line);
            _out.Write('\n');
            _drawnEpoch = -1;
            _lastBar = "";
            _out.Flush();
        }
    }

    /// <summary>A message on its own line; an interactive bar is cleared first and drawn again after it.</summary>
    public void OnMessage(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            if (IsInteractive) Clear();
            _out.Write(message);
            _out.Write('\n');
            if (IsInteractive && _lastBar.Length > 0) Redraw(_lastBar);
            _out.Flush();
        }
    }

    /// <summary>The permanent line for an epoch, e.g. "epoch 3/10 train_loss=0.4123 train_acc=0.8812 val_loss=0.3901 val_acc=0.9011 samples/s=12345 time=1.23s".</summary>
    public string EpochLine(EpochMetrics m)
    {
        var sb = new StringBuilder(128);
        sb.Append(Inv, $"epoch {m.Epoch}/{TotalEpochs} train_loss={m.TrainLoss:F4} train_acc={m.TrainAccuracy:F4}");
        if (m.ValidationLoss is { } vl) sb.Append(Inv, $" val_loss={vl:F4}");
        if (m.ValidationAccuracy is { } va) sb.Append(Inv, $" val_acc={va:F4}");
        sb.Append(Inv, $" samples/s={m.SamplesPerSecond:F0} time={m.Seconds:F2}s");
        return sb.ToString();
    }

    /// <summary>The in-place bar, e.g. "epoch 3/10 [#########.....] 45% loss 0.4123 acc 0.8812 12,345 samples/s".</summary>
    internal string Bar(StepProgress p)
    {
        var steps = Math.Max(1, p.StepsPerEpoch);
        var fraction = Math.Clamp((double)p.Step / steps, 0, 1);
        var head = string.Create(Inv, $"epoch {p.Epoch + 1}/{TotalEpochs} ");
        var tail = string.Create(Inv, $" {fraction * 100,3:F0}% loss {p.RunningLoss:F4} acc {p.RunningAccuracy:F4} {p.SamplesPerSecond:N0} samples/s");
        // Leave the last column free: writing into it makes some terminals wrap before the '\r'.
        var width = Math.Clamp(_lineWidth - 1 - head.Length - tail.Length - 2, 5, 40);
        var filled = (int)Math.Round(fraction * width);
        _line.Clear();
        _line.Append(head).Append('[').Append('#', filled).Append('.', width - filled).Append(']').Append(tail);
        if (_line.Length > _lineWidth - 1) _line.Length = _lineWidth - 1;
        return _line.ToString();
    }

    private void Redraw(string bar)
    {
        _out.Write('\r');
        _out.Write(bar);
        // Blank out what is left of a longer previous bar.
        if (_drawnLength > bar.Length) _out.Write(new string(' ', _drawnLength - bar.Length));
        _drawnLength = bar.Length;
    }

    private void Clear()
    {
        if (_drawnLength == 0) return;
        _out.Write('\r');
        _out.Write(new string(' ', _drawnLength));
        _out.Write('\r');
        _drawnLength = 0;
    }
}
