using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;

namespace DistTrain.Cluster.Tests.Scenarios;

public class PenguinsLocalModeTests
{
    [Fact]
    public async Task Local_mode_trains_the_bundled_penguins_to_at_least_95_percent_test_accuracy()
    {
        var job = Presets.Get("penguins", seed: 42);
        var events = new List<object>();
        var done = await LocalMode.RunAsync(job, workers: 2, new PresetDataLoader(), e => { lock (events) events.Add(e); });
        Assert.True(done.TestAccuracy >= 0.95, $"test accuracy {done.TestAccuracy:0.000}");
        Assert.Equal(["Adelie", "Gentoo", "Chinstrap"], done.ClassNames);
        Assert.Equal(job.Epochs, done.Epochs);
        lock (events)
        {
            Assert.Equal(job.Epochs, events.OfType<EpochCompleted>().Count());
            // The epoch's learning rate reaches metrics.jsonl (it was always 0).
            Assert.All(events.OfType<EpochCompleted>(), e => Assert.Equal(job.Optimizer.LearningRate, e.Metrics.LearningRate));
        }
        // 342 usable rows, 15 % stratified test split.
        Assert.InRange(done.TestLabels.Length, 50, 53);
    }
}
