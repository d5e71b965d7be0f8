using System.Text.RegularExpressions;
using Akka.Actor;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Data.Presets;

namespace DistTrain.Cluster.Tests.Hosting;

/// <summary>
/// The code of docs/library.md, run as tests: each region between <c>// guide:NAME</c> and <c>// end:NAME</c> below
/// is the guide's code block of that name, character for character (one test compares them), so the guide
/// cannot drift from code that compiles and trains.
/// </summary>
public class LibraryGuideTests
{
    private static async Task<(TrainingCompleted Done, Prediction Prediction)> LocalSample(string outDir, TextWriter output)
    {
        var table = Penguins.LoadEmbedded(); // stands in for your own arrays
        float[] features = table.Features.ToArray();
        int[] labels = table.Labels.ToArray();
        // guide:local
        // Your data: features row-major (samples × 4), labels 0..2.
        var data = new InMemoryDataLoader(features, labels,
            featureNames: ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
            classNames: ["Adelie", "Gentoo", "Chinstrap"]);

        // 4 inputs -> 16 ReLU -> 3 logits, trained with softmax cross-entropy and Adam.
        var model = new ModelSpec([4], [
            new DenseSpec(16),
            new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(3, Initializer.Glorot),
        ]);
        var job = new TrainingJob("penguins-from-csharp", new DataSpec("in-memory"), model,
            LossKind.SoftmaxCrossEntropy, new OptimizerSpec(OptimizerKind.Adam, 0.01f),
            Epochs: 30, BatchSize: 16, Seed: 7, OutputDirectory: outDir);

        // A parameter server, a coordinator and 2 worker actors in this process.
        var done = await LocalMode.RunAsync(job, workers: 2, data, onEvent: e =>
        {
            if (e is EpochCompleted { Metrics: var m } && m.Epoch % 10 == 9)
                output.WriteLine($"epoch {m.Epoch + 1}: loss {m.TrainLoss:0.000}, validation accuracy {m.ValidationAccuracy:0.000}");
        });
        output.WriteLine($"test accuracy {done.TestAccuracy:0.000}; checkpoint {done.CheckpointPath}");

        // Raw measurements in, species out: the predictor standardises them as training did.
        var predictor = Predictor.Load(done.CheckpointPath!);
        var p = predictor.Predict([39.1f, 18.7f, 181f, 3750f]);
        output.WriteLine($"{p.ClassName} ({p.Probabilities[p.ClassIndex]:P1})");
        // end:local
        return (done, p);
    }

    private static async Task<TrainingCompleted> ClusterSample(InMemoryDataLoader data, TrainingJob job, int port)
    {
        // guide:cluster
        // One process per node; here the seed and ps share a node and a worker node joins it.
        // Every node that runs workers needs a loader with the same data (the coordinator checks).
        await using var server = ClusterNode.Start(
            new NodeSettings(["seed", "ps"], Host: "127.0.0.1", Port: port, MinWorkers: 2),
            ClusterConfig.Load(), data);
        await using var worker = ClusterNode.Start(
            new NodeSettings(["worker"], Host: "127.0.0.1", Port: 0, Seeds: [$"akka.tcp://disttrain@127.0.0.1:{port}"], Workers: 2),
            ClusterConfig.Load(), data);
        await Task.WhenAll(server.WhenUp(), worker.WhenUp());

        var done = await TrainingTopology.RunJob(server.System, server.Coordinator, job);
        // end:cluster
        return done;
    }

    [Fact]
    public async Task The_local_mode_sample_trains_the_penguins_and_classifies_a_raw_measurement()
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-test-").FullName;
        try
        {
            await CheckLocalSample(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task CheckLocalSample(string dir)
    {
        var output = new StringWriter();
        var (done, p) = await LocalSample(dir, output).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.True(done.TestAccuracy >= 0.95, output.ToString());
        Assert.Equal(Path.Combine(dir, "checkpoint.dtck"), done.CheckpointPath);
        // Bill 39.1 mm, depth 18.7 mm, flipper 181 mm, 3750 g: the first Adelie of the data set.
        Assert.Equal("Adelie", p.ClassName);
        Assert.Equal(0, p.ClassIndex);
        Assert.True(p.Probabilities[0] > 0.9f, string.Join(", ", p.Probabilities));
        Assert.Equal(1f, p.Probabilities.Sum(), 4);
        var text = output.ToString();
        Assert.Contains("epoch 30: loss ", text);
        Assert.Contains("Adelie (", text);
    }

    [Fact]
    public void The_sample_names_the_penguin_columns_and_classes_in_the_data_order()
    {
        // The guide writes the names out; they must be the ones the table's arrays follow.
        var code = Region("local");
        var table = Penguins.LoadEmbedded();
        Assert.Contains($"featureNames: [{string.Join(", ", table.FeatureNames.Select(n => $"\"{n}\""))}]", code);
        Assert.Contains($"classNames: [{string.Join(", ", table.ClassNames.Select(n => $"\"{n}\""))}]", code);
    }

    [Fact]
    public async Task The_cluster_sample_trains_across_two_nodes_to_the_local_result()
    {
        var table = Penguins.LoadEmbedded();
        var data = new InMemoryDataLoader(table);
        var job = new TrainingJob("guide-cluster", new DataSpec("in-memory"), Penguins.DefaultModel, LossKind.SoftmaxCrossEntropy,
            new OptimizerSpec(OptimizerKind.Adam, 0.01f), Epochs: 5, BatchSize: 16, Seed: 3);
        var local = await LocalMode.RunAsync(job, 2, data);
        var remote = await ClusterSample(data, job, FreePort()).WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(2, remote.Workers);
        Assert.Equal(local.ParametersSha256, remote.ParametersSha256);
    }

    [Theory]
    [InlineData("local")]
    [InlineData("cluster")]
    [InlineData("testkit")]
    public void The_guide_shows_the_tested_code_verbatim(string name)
    {
        var guide = File.ReadAllText(Repo.File("docs/library.md"));
        var block = Regex.Match(guide, $@"<!-- guide:{name} -->\s*```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, $"docs/library.md has no ```csharp block after <!-- guide:{name} -->");
        Assert.Equal(Region(name), block.Groups[1].Value);
    }

    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>The lines between <c>// guide:NAME</c> and <c>// end:NAME</c> of this file, with their common indentation removed.</summary>
    private static string Region(string name)
    {
        var lines = File.ReadAllLines(Repo.File("tests/DistTrain.Cluster.Tests/Hosting/LibraryGuideTests.cs"));
        var start = Array.FindIndex(lines, l => l.Trim() == $"// guide:{name}");
        var end = Array.FindIndex(lines, l => l.Trim() == $"// end:{name}");
        Assert.True(start >= 0 && end > start, $"no region {name}");
        var body = lines[(start + 1)..end];
        var indent = body.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Concat(body.Select(l => (l.Length >= indent ? l[indent..] : l.TrimStart()) + "\n"));
    }
}

/// <summary>The guide's Akka TestKit sample: a user's scenario test of their own job, run as one.</summary>
public class LibraryGuideTestKitSample : Akka.TestKit.Xunit2.TestKit
{
    [Fact]
    public void The_testkit_sample_watches_every_epoch_of_a_job_and_its_result()
    {
        var table = Penguins.LoadEmbedded();
        var data = new InMemoryDataLoader(table);
        var job = new TrainingJob("penguins-testkit", new DataSpec("in-memory"), Penguins.DefaultModel, LossKind.SoftmaxCrossEntropy,
            new OptimizerSpec(OptimizerKind.Adam, 0.01f), Epochs: 40, BatchSize: 16, Seed: 7);
        // guide:testkit
        // In a test class deriving from Akka.TestKit.Xunit2.TestKit: the same actors, in the test's ActorSystem.
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 2));
        TrainingTopology.StartWorkers(Sys, 2, data, coordinator);

        coordinator.Tell(new SubscribeProgress(TestActor));
        coordinator.Tell(new StartTraining(job));
        TrainingCompleted? done = null;
        var epochs = 0;
        while (done is null)
        {
            switch (ExpectMsg<object>(TimeSpan.FromSeconds(60)))
            {
                case JobStarted started:
                    Assert.Equal(2, started.Workers);
                    break;
                case EpochCompleted e:
                    epochs++;
                    Assert.Equal((1, 1), (e.VisitsMin, e.VisitsMax)); // every training sample applied once per epoch
                    break;
                case TrainingCompleted c:
                    done = c;
                    break;
                case TrainingFailed f:
                    Assert.Fail(f.Reason);
                    break;
            }
        }
        Assert.Equal(job.Epochs, epochs);
        Assert.True(done.TestAccuracy >= 0.95, $"test accuracy {done.TestAccuracy}");
        // end:testkit
    }
}
