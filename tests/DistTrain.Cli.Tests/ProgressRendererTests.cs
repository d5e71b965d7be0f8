using System.Text.RegularExpressions;
using DistTrain.Cli.Terminal;
using DistTrain.Core.Training;

namespace DistTrain.Cli.Tests;

public class ProgressRendererTests
{
    private const int Steps = 20;

    private static EpochMetrics Epoch(int epoch, bool validation = true) =>
        new(epoch, 0.4123, 0.8812, validation ? 0.3901 : null, validation ? 0.9011 : null, 12345.4, 1.234, 100L * epoch, 0.001f);

    private static StepProgress Step(int epoch0, int step) =>
        new(epoch0, step, Steps, 0.4123, 0.8812, 12345.4);

    private static void RunEpochs(ProgressRenderer r, int epochs, ManualClock? clock = null)
    {
        for (var e = 0; e < epochs; e++)
        {
            for (var s = 1; s <= Steps; s++)
            {
                r.OnStep(Step(e, s));
                clock?.Advance(TimeSpan.FromMilliseconds(30));
            }
            r.OnEpoch(Epoch(e + 1));
        }
    }

    [Fact]
    public void Plain_mode_prints_exactly_one_line_per_epoch_and_nothing_per_step()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: false, totalEpochs: 3);

        RunEpochs(r, 3);

        var text = w.ToString();
        Assert.DoesNotContain('\r', text);
        var lines = text.Split('\n');
        Assert.Equal(4, lines.Length); // three lines, each ended by '\n'
        Assert.Equal("", lines[3]);
        for (var i = 0; i < 3; i++) Assert.StartsWith($"epoch {i + 1}/3 ", lines[i]);
    }

    [Fact]
    public void Plain_line_carries_every_figure_in_key_value_form()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: false, totalEpochs: 10);

        r.OnEpoch(new EpochMetrics(3, 0.41234, 0.88119, 0.39006, 0.90114, 12345.4, 1.2345, 300, 0.001f));

        Assert.Equal("epoch 3/10 train_loss=0.4123 train_acc=0.8812 val_loss=0.3901 val_acc=0.9011 samples/s=12345 time=1.23s\n", w.ToString());
    }

    [Fact]
    public void Plain_line_leaves_out_validation_figures_when_there_is_no_validation_set()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: false, totalEpochs: 2);

        r.OnEpoch(Epoch(1, validation: false));

        Assert.Equal("epoch 1/2 train_loss=0.4123 train_acc=0.8812 samples/s=12345 time=1.23s\n", w.ToString());
    }

    [Fact]
    public void Plain_mode_prints_messages_as_their_own_lines()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: false, totalEpochs: 1);

        r.OnMessage("worker 2 joined");

        Assert.Equal("worker 2 joined\n", w.ToString());
    }

    [Fact]
    public void Interactive_mode_redraws_in_place_with_carriage_returns_and_ends_each_epoch_with_a_newline()
    {
        var w = new StringWriter();
        var clock = new ManualClock();
        var r = new ProgressRenderer(w, isInteractive: true, totalEpochs: 2, time: clock);

        RunEpochs(r, 2, clock);

        var text = w.ToString();
        Assert.EndsWith("\n", text);
        var lines = text.Split('\n');
        Assert.Equal(3, lines.Length); // one newline per epoch and no others
        for (var i = 0; i < 2; i++)
        {
            Assert.StartsWith("\r", lines[i]);
            Assert.Contains($"epoch {i + 1}/2 [", lines[i]); // the bar was drawn...
            var final = lines[i][(lines[i].LastIndexOf('\r') + 1)..];
            Assert.StartsWith($"epoch {i + 1}/2 train_loss=0.4123", final); // ...and replaced by the epoch line
        }
    }

    [Fact]
    public void Interactive_bar_shows_epoch_fill_percent_loss_accuracy_and_throughput()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: true, totalEpochs: 10, lineWidth: 100, time: new ManualClock());

        r.OnStep(new StepProgress(2, 9, 20, 0.4123, 0.8812, 12345));

        var bar = w.ToString().TrimStart('\r');
        var m = Regex.Match(bar, @"^epoch 3/10 \[(#*)(\.*)\]  45% loss 0\.4123 acc 0\.8812 12,345 samples/s$");
        Assert.True(m.Success, $"unexpected bar: '{bar}'");
        var width = m.Groups[1].Length + m.Groups[2].Length;
        Assert.Equal(Math.Round(0.45 * width), m.Groups[1].Length);
    }

    [Fact]
    public void Interactive_bar_redraws_at_most_every_100_milliseconds()
    {
        var w = new StringWriter();
        var clock = new ManualClock();
        var r = new ProgressRenderer(w, isInteractive: true, totalEpochs: 1, time: clock);

        for (var s = 1; s <= 10; s++) r.OnStep(Step(0, s)); // same instant: only the first is drawn
        clock.Advance(TimeSpan.FromMilliseconds(99));
        r.OnStep(Step(0, 11));
        clock.Advance(TimeSpan.FromMilliseconds(1));
        r.OnStep(Step(0, 12));

        Assert.Equal(2, w.ToString().Count(c => c == '\r'));
    }

    [Fact]
    public void Interactive_bar_never_reaches_the_last_column_of_a_narrow_terminal()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: true, totalEpochs: 100, lineWidth: 60, time: new ManualClock());

        r.OnStep(new StepProgress(98, 1234, 5000, 12.3456, 0.1234, 1234567));

        Assert.True(w.ToString().TrimStart('\r').Length <= 59, $"'{w}' is wider than 59 columns");
    }

    [Fact]
    public void Interactive_message_clears_the_bar_prints_on_its_own_line_and_draws_the_bar_again()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: true, totalEpochs: 1, time: new ManualClock());
        r.OnStep(Step(0, 5));
        var bar = w.ToString().TrimStart('\r');
        w.GetStringBuilder().Clear();

        r.OnMessage("worker 2 left");

        Assert.Equal($"\r{new string(' ', bar.Length)}\rworker 2 left\n\r{bar}", w.ToString());
    }

    [Fact]
    public void Events_from_several_threads_never_interleave_within_a_line()
    {
        var w = new StringWriter();
        var r = new ProgressRenderer(w, isInteractive: false, totalEpochs: 400);

        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            r.OnStep(Step(i, 1));
            r.OnEpoch(Epoch(i + 1));
        });

        var lines = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(400, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^epoch \d+/400 train_loss=0\.4123 train_acc=0\.8812 val_loss=0\.3901 val_acc=0\.9011 samples/s=12345 time=1\.23s$", l));
    }
}
