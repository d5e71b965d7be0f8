using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using Xunit.Abstractions;

namespace DistTrain.Cluster.Tests.Modes;

/// <summary>Skipped, with the reason shown, when the Fashion-MNIST package is not installed.</summary>
public sealed class FashionMnistFactAttribute : TheoryAttribute
{
    public FashionMnistFactAttribute()
    {
        if (!File.Exists(Path.Combine(PresetDataLoader.DefaultFashionFolder, "t10k-labels-idx1-ubyte.gz")))
            Skip = $"Fashion-MNIST not installed in {PresetDataLoader.DefaultFashionFolder} (apt-get install dataset-fashion-mnist).";
    }
}

/// <summary>
/// W2 (the fashion-mlp preset: 784-256-128-10, batch 128, Adam 1e-3) on the first 20,000 training
/// images for two epochs, 2 workers in local mode: every communication mode trains, to about the accuracy
/// of synchronous training (within 3 points). The full 3-epoch comparison is scripts/bench_modes.sh.
/// </summary>
public class FashionModeAccuracyTests(ITestOutputHelper output)
{
    private static readonly Lazy<JobData> Data = new(() => new PresetDataLoader().Load(Job(CommunicationSpec.Default)));
    private static readonly Lazy<Task<double>> SyncAccuracy = new(() => Run(CommunicationSpec.Default));

    private static TrainingJob Job(CommunicationSpec comm) => Presets.Get("fashion-mlp", 42) with
    {
        Data = Presets.Get("fashion-mlp", 42).Data with { Limit = 20_000 },
        Epochs = 2,
        Communication = comm,
    };

    private sealed class Shared(JobData data) : IJobDataLoader
    {
        public JobData Load(TrainingJob job) => data;
    }

    private static async Task<double> Run(CommunicationSpec comm)
    {
        var done = await LocalMode.RunAsync(Job(comm), 2, new Shared(Data.Value));
        return done.TestAccuracy;
    }

    public static IEnumerable<object[]> Modes() =>
    [
        [TrainingMode.Async, 0, GradientCompression.None],
        [TrainingMode.Ssp, 2, GradientCompression.None],
        [TrainingMode.Sync, 0, GradientCompression.Fp16],
        [TrainingMode.LocalSgd, 4, GradientCompression.None],
    ];

    [FashionMnistFact]
    [MemberData(nameof(Modes))]
    public async Task Each_mode_trains_w2_to_the_accuracy_of_synchronous_training(TrainingMode mode, int n, GradientCompression compression)
    {
        var comm = new CommunicationSpec(mode, Staleness: mode == TrainingMode.Ssp ? n : 2, Compression: compression,
            LocalSteps: mode == TrainingMode.LocalSgd ? n : 4);
        var sync = await SyncAccuracy.Value;
        var accuracy = await Run(comm);
        output.WriteLine($"{comm.Describe()}: test accuracy {accuracy:0.0000}, sync {sync:0.0000}");
        Assert.True(sync >= 0.75, $"sync reached only {sync:0.0000}");
        // async/ssp depend on arrival order, so their result varies from run to run. Before staleness
        // compensation they needed a 10-point slack (one epoch of 10,000 images once gave ssp 0.70 vs sync
        // 0.81); with lookahead (the default) three runs of each measured async 0.8314 / 0.8376 / 0.8319 and
        // ssp 0.8283 / 0.8307 / 0.8325 against sync 0.8380: within 1 point. The others are deterministic
        // (local SGD 0.8354, fp16 0.8357). 3 points for every mode.
        const double slack = 0.03;
        Assert.True(accuracy >= sync - slack, $"{comm.Describe()}: test accuracy {accuracy:0.0000} vs sync {sync:0.0000}");
    }
}
