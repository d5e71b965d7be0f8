using System.Globalization;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Settings;
using static DistTrain.Cluster.Hosting.StepTrace;

namespace DistTrain.Cluster.Tests.Hosting;

public class StepTraceTests
{
    private sealed record Row(long Ns, Point Point, long Version, int Shard);

    private static List<Row> Parse(string csv)
    {
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("ns,point,version,shard,pid", lines[0]);
        var rows = new List<Row>();
        foreach (var line in lines.Skip(1))
        {
            if (line.StartsWith('#')) continue;
            var f = line.Split(',');
            Assert.Equal(Environment.ProcessId.ToString(CultureInfo.InvariantCulture), f[4]);
            rows.Add(new Row(long.Parse(f[0], CultureInfo.InvariantCulture), Enum.Parse<Point>(f[1]), long.Parse(f[2], CultureInfo.InvariantCulture),
                int.Parse(f[3], CultureInfo.InvariantCulture)));
        }
        return rows;
    }

    private const string Python = "/usr/bin/python3";

    private static Task<(int Code, string Stdout, string Stderr)> RunTimeline(string traceDir)
    {
        if (!File.Exists(Python)) Assert.Fail($"{Python} is missing: install Debian's python3 (apt-get install python3)");
        return Command.RunAsync(Python, Repo.File("scripts/step_timeline.py"), traceDir, "--skip", "0");
    }

    [Fact]
    public void Points_are_written_in_order_with_a_monotonic_clock_and_overflow_is_counted_not_written()
    {
        var trace = new StepTrace(capacity: 3);
        trace.Mark(Point.PsStepStart, 7, -1);
        trace.Mark(Point.PsSendStart, 7, 0);
        trace.Mark(Point.PsSendEnd, 7, 0);
        trace.Mark(Point.PsGradient, 7, 0); // beyond the capacity
        Assert.Equal(4, trace.Count);
        Assert.Equal(1, trace.Dropped);
        using var w = new StringWriter();
        trace.Write(w);
        var text = w.ToString();
        var rows = Parse(text);
        Assert.Equal([Point.PsStepStart, Point.PsSendStart, Point.PsSendEnd], rows.Select(r => r.Point));
        Assert.All(rows, r => Assert.Equal(7, r.Version));
        Assert.Equal([-1, 0, 0], rows.Select(r => r.Shard));
        Assert.True(rows[0].Ns <= rows[1].Ns && rows[1].Ns <= rows[2].Ns, "the clock went backwards");
        Assert.Contains("# 1 points dropped (capacity 3)", text);
    }

    [Fact]
    public void Attach_without_a_directory_leaves_tracing_off()
    {
        using var system = Akka.Actor.ActorSystem.Create("trace-off", LocalMode.Configuration());
        Assert.Null(StepTrace.Attach(system, directory: " "));
        Assert.Null(StepTrace.Of(system));
    }

    [Fact]
    public void A_directory_that_cannot_be_created_is_refused_with_the_variable_and_the_fix()
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-test-");
        try
        {
            var file = Path.Combine(dir.FullName, "a-file");
            File.WriteAllText(file, "not a directory");
            var e = Assert.Throws<ArgumentException>(() => StepTrace.PrepareDirectory(Path.Combine(file, "trace")));
            Assert.Contains(StepTrace.EnvironmentVariable, e.Message);
            Assert.Contains("name a writable directory or unset", e.Message);
            Assert.Equal(Path.Combine(dir.FullName, "made"), StepTrace.PrepareDirectory(Path.Combine(dir.FullName, "made")));
            Assert.True(Directory.Exists(Path.Combine(dir.FullName, "made")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_local_run_writes_every_point_of_every_step_in_causal_order()
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-test-");
        try
        {
            var job = TestJobs.Blobs(epochs: 2, batch: 50) with { JobId = "trace", OutputDirectory = dir.FullName };
            var traceDir = Path.Combine(dir.FullName, "trace");
            var system = Akka.Actor.ActorSystem.Create("trace", LocalMode.Configuration());
            Assert.NotNull(StepTrace.Attach(system, traceDir));
            var (_, coordinator) = TrainingTopology.StartServer(system, new CoordinatorSettings(MinimumWorkers: 2));
            TrainingTopology.StartWorkers(system, 2, new BlobLoader(), coordinator);
            var done = await TrainingTopology.RunJob(system, coordinator, job).WaitAsync(TimeSpan.FromMinutes(2));
            await system.Terminate();
            var rows = Parse(await File.ReadAllTextAsync(Path.Combine(traceDir, $"steps-{Environment.ProcessId}.csv")));
            var at = rows.ToDictionary(r => (r.Point, r.Version, r.Shard), r => r.Ns);
            var steps = rows.Where(r => r.Point == Point.PsStepStart).Select(r => r.Version).ToList();
            Assert.Equal(Enumerable.Range(0, steps.Count).Select(v => (long)v), steps); // versions 0, 1, 2, ... once each
            Assert.True(steps.Count >= 4, $"{steps.Count} steps traced");
            foreach (var v in steps)
            {
                foreach (var s in new[] { 0, 1 })
                {
                    Assert.True(at[(Point.PsStepStart, v, -1)] <= at[(Point.PsSendStart, v, s)]);
                    Assert.True(at[(Point.PsSendStart, v, s)] <= at[(Point.PsSendEnd, v, s)]);
                    Assert.True(at[(Point.PsSendStart, v, s)] <= at[(Point.WorkerArrived, v, s)]);
                    Assert.True(at[(Point.WorkerArrived, v, s)] <= at[(Point.WorkerComputed, v, s)]);
                    Assert.True(at[(Point.WorkerComputed, v, s)] <= at[(Point.PsGradient, v, s)]);
                    Assert.True(at[(Point.PsGradient, v, s)] <= at[(Point.PsPassStart, v, -1)]);
                    Assert.True(at.ContainsKey((Point.WorkerSent, v, s)), $"step {v} shard {s}: no WorkerSent");
                }
                Assert.True(at[(Point.PsPassStart, v, -1)] <= at[(Point.PsPassEnd, v, -1)]);
            }
            Assert.NotNull(done.ParametersSha256);

            // scripts/step_timeline.py reads the same file: every step that has a next one, and a step median
            // between the shortest and the longest step.
            var durations = steps.Skip(1).Select(v => (at[(Point.PsStepStart, v, -1)] - at[(Point.PsStepStart, v - 1, -1)]) / 1e6).ToList();
            var (code, stdout, stderr) = await RunTimeline(traceDir);
            Assert.True(code == 0, $"step_timeline.py exited {code}: {stderr}");
            Assert.Contains($"# {durations.Count} steps (versions 0..)", stdout);
            var stepRow = stdout.Split('\n').Single(l => l.StartsWith("| step |", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
            var median = double.Parse(stepRow[2], CultureInfo.InvariantCulture);
            Assert.InRange(median, durations.Min() - 0.001, durations.Max() + 0.001);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
