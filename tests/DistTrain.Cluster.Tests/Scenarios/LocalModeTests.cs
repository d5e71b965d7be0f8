using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests.Scenarios;

public class LocalModeTests
{
    /// <summary>Single-replica reference: the Core trainer with the same job, seed and global batch.</summary>
    private static float[] TrainSingleReplica(TrainingJob job)
    {
        var data = new BlobLoader().Load(job);
        var model = new Model(job.Model);
        model.InitializeParameters(job.Seed);
        var trainer = new Trainer(new GradientComputer(model, Loss.Create(job.Loss)), Optimizer.Create(job.Optimizer, model.ParameterCount),
            new TrainingOptions(job.Epochs, job.BatchSize, job.Seed));
        trainer.Run(data.Train, null);
        return model.Parameters;
    }

    internal static async Task<float[]> TrainLocal(TrainingJob job, int workers, int? parameterServerThreads = null, bool? stepAssist = null)
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-test-");
        try
        {
            var done = await LocalMode.RunAsync(job with { OutputDirectory = dir.FullName }, workers, new BlobLoader(),
                parameterServerThreads: parameterServerThreads, stepAssist: stepAssist);
            var ck = Core.Checkpoints.CheckpointFile.Read(done.CheckpointPath!);
            Assert.Equal(ParameterServerSha(ck.Parameters), done.ParametersSha256);
            return ck.Parameters;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    internal static string ParameterServerSha(float[] p) => DistTrain.Cluster.Actors.ParameterServerActor.ParametersSha256(p);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task N_workers_produce_the_parameters_of_one_replica_with_the_same_global_batch(int workers)
    {
        // 240 samples, batch 50: uneven shards and a short last batch; Adam amplifies any averaging error.
        var job = TestJobs.Blobs(epochs: 3, batch: 50) with { ValidationFraction = 0.15 };
        var expected = TrainSingleReplica(job);
        var actual = await TrainLocal(job, workers);
        Assert.Equal(expected.Length, actual.Length);
        var maxRel = 0.0;
        for (var i = 0; i < expected.Length; i++)
        {
            var rel = Math.Abs(expected[i] - actual[i]) / Math.Max(Math.Abs(expected[i]), 1e-3);
            maxRel = Math.Max(maxRel, rel);
        }
        Assert.True(maxRel <= 1e-5, $"max relative difference {maxRel:E2} with {workers} workers");
        // The comparison is meaningful only if training moved the parameters.
        var init = new Model(job.Model);
        init.InitializeParameters(job.Seed);
        Assert.Contains(Enumerable.Range(0, expected.Length), i => Math.Abs(init.Parameters[i] - expected[i]) > 1e-2);
    }

    // A blobs classifier (4 inputs, 3 classes) with two ReLU layers: wide enough for the team to split its passes.
    internal static ModelSpec TwoHiddenLayers(int first, int second) => new([4],
    [
        new DenseSpec(first), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(second), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(3, Initializer.Glorot),
    ]);

    [Fact]
    public async Task A_parameter_server_on_several_threads_steps_to_the_same_bits_as_on_one()
    {
        // 68,611 parameters: enough for the parameter server's team to split its passes into two or three ranges.
        var wide = TwoHiddenLayers(512, 128);
        var job = TestJobs.Blobs(epochs: 2, batch: 50) with { Model = wide, JobId = "wide" };
        Assert.True(Core.Kernels.WorkTeam.RangeCount(new Model(wide).ParameterCount, 2) >= 2, "the model must be wide enough to split");
        var one = await TrainLocal(job, workers: 2, parameterServerThreads: 1);
        var two = await TrainLocal(job, workers: 2, parameterServerThreads: 2);
        var three = await TrainLocal(job, workers: 2, parameterServerThreads: 3);
        Assert.Equal(ParameterServerSha(one), ParameterServerSha(two));
        Assert.Equal(ParameterServerSha(one), ParameterServerSha(three));
        var init = new Model(wide);
        init.InitializeParameters(job.Seed);
        Assert.True(init.Parameters.Zip(two).Count(p => Math.Abs(p.First - p.Second) > 1e-3) > 1000, "training moved the parameters");
    }

    [Fact]
    public async Task Local_mode_is_reproducible_bit_for_bit_with_the_same_seed_and_workers()
    {
        var job = TestJobs.Blobs(epochs: 2, batch: 32);
        var a = await TrainLocal(job, 2);
        var b = await TrainLocal(job, 2);
        Assert.Equal(a, b);
    }

    [Fact]
    public async Task Local_mode_reports_every_epoch_and_learns_the_blobs()
    {
        var events = new List<object>();
        var job = TestJobs.Blobs(epochs: 5, batch: 16);
        var done = await LocalMode.RunAsync(job, 2, new BlobLoader(), e => { lock (events) events.Add(e); });
        List<EpochCompleted> epochs;
        lock (events) epochs = events.OfType<EpochCompleted>().ToList();
        Assert.Equal([1, 2, 3, 4, 5], epochs.Select(e => e.Metrics.Epoch));
        Assert.All(epochs, e => Assert.Equal((1, 1), (e.VisitsMin, e.VisitsMax)));
        Assert.True(epochs[^1].Metrics.TrainLoss < epochs[0].Metrics.TrainLoss);
        Assert.True(done.TestAccuracy >= 0.95, $"test accuracy {done.TestAccuracy}");
        Assert.Equal(60, done.TestLabels.Length);
        Assert.Equal(done.TestAccuracy, done.TestLabels.Zip(done.TestPredictions).Count(p => p.First == p.Second) / 60.0, 12);
        lock (events) Assert.Contains(events, e => e is StepProgressed);
    }
}

/// <summary>
/// Whether a waiting worker takes ranges of the step's pass depends on it being on a core when the pass starts:
/// beside the assembly's parallel test classes on two cores it may be on none (a CI run once saw 0 ranges in 10
/// passes), so this runs alone, after the parallel tests.
/// </summary>
[Collection(TimingSensitiveCollection.Name)]
public class LocalModeAssistTests
{
    [Fact]
    public async Task Workers_that_lend_their_threads_to_the_step_pass_take_ranges_and_step_to_the_same_bits()
    {
        // The same wiring as LocalMode.RunAsync, with the team in hand to see who ran its ranges.
        // 4.2M parameters: eight ranges of ~0.5M per pass, each long enough (~0.5 ms) that the waiting worker
        // finds some left when it joins.
        var wider = LocalModeTests.TwoHiddenLayers(2048, 2048);
        Assert.Equal(8, Core.Kernels.WorkTeam.RangeCount(new Model(wider).ParameterCount, 2));
        var job = TestJobs.Blobs(epochs: 2, batch: 50) with { Model = wider, JobId = "assist" };
        var without = await LocalModeTests.TrainLocal(job, workers: 2, parameterServerThreads: 2, stepAssist: false);
        var dir = Directory.CreateTempSubdirectory("disttrain-test-");
        using var team = new Core.Kernels.WorkTeam(2);
        try
        {
            using var system = Akka.Actor.ActorSystem.Create("assist", LocalMode.Configuration());
            var (_, coordinator) = TrainingTopology.StartServer(system, new Settings.CoordinatorSettings(MinimumWorkers: 2), team: team);
            TrainingTopology.StartWorkers(system, 2, new BlobLoader(), coordinator, assist: new StepAssist(team, TimeSpan.FromSeconds(5)));
            var done = await TrainingTopology.RunJob(system, coordinator, job with { OutputDirectory = dir.FullName }).WaitAsync(TimeSpan.FromMinutes(2));
            Assert.Equal(LocalModeTests.ParameterServerSha(without), done.ParametersSha256);
            // 2 epochs of 4 steps: a worker that waited joined the steps' passes (how many ranges it found left
            // depends on how soon it saw the pass start; WorkTeamAssistTests pins the mechanism down).
            Assert.True(team.GuestRanges >= 1, $"guest ranges {team.GuestRanges} of {team.Runs} passes");
            await system.Terminate();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

/// <summary>Tests whose assertions need the machine's cores: one class at a time, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitiveCollection
{
    public const string Name = "timing-sensitive";
}
