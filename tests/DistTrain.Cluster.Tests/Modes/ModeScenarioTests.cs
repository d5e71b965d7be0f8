using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Modes;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Core.Optimizers;

namespace DistTrain.Cluster.Tests.Modes;

/// <summary>Local-mode runs (the real actors) in each communication mode on the blob data.</summary>
public class ModeScenarioTests
{
    public static IEnumerable<object[]> Modes() =>
    [
        ["async", 2], ["ssp:0", 2], ["ssp:1", 3], ["ssp:2", 2], ["sync+fp16", 2], ["sync+bf16", 3], ["async+fp16", 2], ["local-sgd:4", 2],
        ["local-sgd:4+bf16", 3],
    ];

    /// <summary>"mode[:n][+compression]": ssp:n = staleness n, local-sgd:n = n local steps.</summary>
    private static CommunicationSpec Parse(string s)
    {
        var parts = s.Split('+');
        var modeParts = parts[0].Split(':');
        var mode = CommunicationSpec.ParseMode(modeParts[0]);
        var n = modeParts.Length > 1 ? int.Parse(modeParts[1]) : 0;
        var comm = new CommunicationSpec(mode, Staleness: mode == TrainingMode.Ssp ? n : 2, LocalSteps: mode == TrainingMode.LocalSgd ? n : 4);
        return parts.Length > 1 ? comm with { Compression = CommunicationSpec.ParseCompression(parts[1]) } : comm;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Every_mode_visits_each_sample_once_per_epoch_and_learns_the_blobs(string mode, int workers)
    {
        var comm = Parse(mode);
        var events = new List<object>();
        var job = TestJobs.Blobs(epochs: 5, batch: 16) with { Communication = comm };
        var done = await LocalMode.RunAsync(job, workers, new BlobLoader(), e => { lock (events) events.Add(e); });
        List<EpochCompleted> epochs;
        List<StalenessReport> reports;
        lock (events)
        {
            epochs = events.OfType<EpochCompleted>().ToList();
            reports = events.OfType<StalenessReport>().ToList();
        }
        Assert.Equal([1, 2, 3, 4, 5], epochs.Select(e => e.Metrics.Epoch));
        Assert.All(epochs, e => Assert.Equal((1, 1), (e.VisitsMin, e.VisitsMax)));
        Assert.All(epochs, e => Assert.Equal(240, e.Samples));
        Assert.True(done.TestAccuracy >= 0.9, $"{mode}: test accuracy {done.TestAccuracy}");
        if (comm.AppliesOnArrival)
        {
            Assert.Equal([0, 1, 2, 3, 4], reports.Select(r => r.Epoch));
            Assert.All(reports, r => Assert.True(r.Bound is null || r.MaxStaleness <= r.Bound, $"staleness {r.MaxStaleness} above {r.Bound}"));
            Assert.All(reports, r => Assert.InRange(r.Updates, 1, 15));
            if (comm.Bound is 0) Assert.All(reports, r => Assert.Equal(0, r.MaxStaleness));
        }
        else
        {
            Assert.Empty(reports);
        }
        // Local SGD with k = 4: 15 steps per epoch in rounds of 4, 4, 4, 3 -> 4 versions per epoch.
        if (comm.Mode == TrainingMode.LocalSgd) Assert.Equal(5 * 4, done.Steps);
    }

    private static async Task<float[]> Train(TrainingJob job, int workers)
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-mode-test-");
        try
        {
            var done = await LocalMode.RunAsync(job with { OutputDirectory = dir.FullName }, workers, new BlobLoader());
            return Core.Checkpoints.CheckpointFile.Read(done.CheckpointPath!).Parameters;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Local_sgd_with_one_local_step_and_plain_sgd_equals_synchronous_training()
    {
        // Batch 50 over 240 samples: uneven shards and a short last batch, so the average must weigh by samples.
        var job = TestJobs.Blobs(epochs: 2, batch: 50, optimizer: new OptimizerSpec(OptimizerKind.Sgd, 0.1f));
        var sync = await Train(job, 3);
        var local = await Train(job with { Communication = new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 1) }, 3);
        var init = new Core.Models.Model(job.Model);
        init.InitializeParameters(job.Seed);
        var moved = 0.0;
        for (var i = 0; i < sync.Length; i++)
        {
            Assert.True(Math.Abs(sync[i] - local[i]) <= 1e-6, $"parameter {i}: sync {sync[i]} vs local SGD {local[i]}");
            moved = Math.Max(moved, Math.Abs(sync[i] - init.Parameters[i]));
        }
        Assert.True(moved > 1e-2, "training should have moved the parameters");
    }

    [Theory]
    [InlineData("async")]
    [InlineData("ssp")]
    public async Task With_one_worker_async_and_ssp_equal_synchronous_training_bit_for_bit(string mode)
    {
        // One worker: every gradient has staleness 0 and is applied alone, batch by batch, as in sync.
        var job = TestJobs.Blobs(epochs: 2, batch: 50);
        var sync = await Train(job, 1);
        var other = await Train(job with { Communication = new CommunicationSpec(CommunicationSpec.ParseMode(mode), Staleness: 0) }, 1);
        Assert.Equal(sync, other);
    }

    [Fact]
    public void Local_sgd_plans_k_consecutive_shards_per_worker_and_stops_at_the_epoch_end()
    {
        var schedule = new TrainingSchedule(trainCount: 100, batchSize: 20, epochs: 1, seed: 3, patience: 0);
        var modes = new CoordinatorModes(new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 3));
        var round = modes.PlanStep(schedule, workers: 2);
        Assert.Equal(2, round.Count);
        for (var w = 0; w < 2; w++)
        {
            var expected = Enumerable.Range(0, 3).SelectMany(s => schedule.PlanStepAt(s, 2)[w]).ToArray();
            Assert.Equal(expected, round[w].SampleIds);
            Assert.Equal([10, 10, 10], round[w].LocalSteps!);
        }
        schedule.CompleteStep(default, round.SelectMany(r => r.SampleIds).ToArray(), steps: 3);
        var last = modes.PlanStep(schedule, workers: 2); // 5 steps per epoch: the second round has 2
        Assert.All(last, r => Assert.Equal([10, 10], r.LocalSteps!));
        schedule.CompleteStep(default, last.SelectMany(r => r.SampleIds).ToArray(), steps: 2);
        Assert.True(schedule.EpochDone);
        Assert.Equal((1, 1), schedule.VisitRange());
    }
}
