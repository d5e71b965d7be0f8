using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Modes;

public class AsyncMembershipTests : Akka.TestKit.Xunit2.TestKit
{
    [Theory]
    [InlineData(TrainingMode.Async)]
    [InlineData(TrainingMode.Ssp)]
    public async Task Losing_a_worker_mid_epoch_hands_its_batch_to_the_others_and_every_sample_is_applied_once(TrainingMode mode)
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 2));
        var gated = new GatedBlobLoader();
        Sys.ActorOf(TrainingTopology.WorkerProps("survivor", gated, coordinator), "survivor");
        var doomed = Sys.ActorOf(TrainingTopology.WorkerProps("doomed", new BlobLoader(), coordinator), "doomed");
        var events = new List<object>();
        var stopped = false;
        var job = TestJobs.Blobs(epochs: 4, batch: 16) with { Communication = new CommunicationSpec(mode, Staleness: 1) };
        var result = TrainingTopology.RunJob(Sys, coordinator, job, onEvent: e =>
        {
            lock (events) events.Add(e);
            // The survivor is now stuck in its first batch of epoch 1; the other worker dies mid-epoch.
            if (e is EpochCompleted && !stopped)
            {
                stopped = true;
                Sys.Stop(doomed);
            }
            if (e is WorkerLeft { WorkerId: "doomed" }) gated.Gate.Set();
        });
        var done = await result.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, done.Workers);
        Assert.Equal(4, done.Epochs);
        lock (events)
        {
            Assert.All(events.OfType<EpochCompleted>(), e => Assert.Equal(240, e.Samples));
            Assert.All(events.OfType<EpochCompleted>(), e => Assert.Equal((1, 1), (e.VisitsMin, e.VisitsMax)));
            if (mode == TrainingMode.Ssp) Assert.All(events.OfType<StalenessReport>(), r => Assert.InRange(r.MaxStaleness, 0, 1));
        }
        Assert.True(done.TestAccuracy >= 0.9, $"test accuracy {done.TestAccuracy}");
    }
}
