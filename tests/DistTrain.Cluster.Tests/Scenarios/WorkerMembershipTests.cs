using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Scenarios;

public class WorkerMembershipTests : Akka.TestKit.Xunit2.TestKit
{
    [Fact]
    public async Task A_worker_that_joins_during_training_gets_work_from_the_next_step()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 1));
        var gated = new GatedBlobLoader();
        Sys.ActorOf(TrainingTopology.WorkerProps("a/worker-1", gated, coordinator), "a-worker-1");
        var events = new List<object>();
        var started = false;
        var job = TestJobs.Blobs(epochs: 4, batch: 16);
        var result = TrainingTopology.RunJob(Sys, coordinator, job, onEvent: e =>
        {
            lock (events) events.Add(e);
            // Epoch 1's first step is now stuck inside worker a: b joins while it runs.
            if (e is EpochCompleted && !started)
            {
                started = true;
                Sys.ActorOf(TrainingTopology.WorkerProps("b/worker-1", new BlobLoader(), coordinator), "b-worker-1");
            }
            if (e is WorkerJoined { WorkerId: "b/worker-1" }) gated.Gate.Set();
        });
        var done = await result.WaitAsync(TimeSpan.FromSeconds(60));

        List<object> seen;
        lock (events) seen = [.. events];
        var epochs = seen.OfType<EpochCompleted>().ToList();
        Assert.Equal(1, epochs[0].Workers);
        Assert.All(epochs.Skip(1), e => Assert.Equal(2, e.Workers));
        Assert.All(epochs, e => Assert.Equal(240, e.Samples));
        Assert.Equal(2, done.Workers);
        Assert.True(done.TestAccuracy >= 0.9, $"test accuracy {done.TestAccuracy}");
    }

    [Fact]
    public async Task Losing_a_worker_mid_step_reruns_the_step_and_the_job_completes_with_the_rest()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 2));
        var gated = new GatedBlobLoader();
        Sys.ActorOf(TrainingTopology.WorkerProps("survivor", gated, coordinator), "survivor");
        var doomed = Sys.ActorOf(TrainingTopology.WorkerProps("doomed", new BlobLoader(), coordinator), "doomed");
        var events = new List<object>();
        var stopped = false;
        var result = TrainingTopology.RunJob(Sys, coordinator, TestJobs.Blobs(epochs: 5, batch: 16), onEvent: e =>
        {
            lock (events) events.Add(e);
            // The survivor is now stuck in epoch 1's first step; the other worker dies mid-step.
            if (e is EpochCompleted && !stopped)
            {
                stopped = true;
                Sys.Stop(doomed);
            }
            if (e is WorkerLeft { WorkerId: "doomed" }) gated.Gate.Set();
        });
        var done = await result.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, done.Workers);
        Assert.Equal(5, done.Epochs);
        Assert.Equal(5 * 15, done.Steps);
        lock (events)
        {
            Assert.Contains(events, e => e is WorkerLeft { WorkerId: "doomed" });
            // Every epoch still counted each of the 240 training samples once: none skipped, none twice.
            Assert.All(events.OfType<EpochCompleted>(), e => Assert.Equal(240, e.Samples));
            // ...and the per-sample accounting of what the parameter server averaged proves it.
            Assert.All(events.OfType<EpochCompleted>(), e => Assert.Equal((1, 1), (e.VisitsMin, e.VisitsMax)));
        }
        Assert.True(done.TestAccuracy >= 0.9, $"test accuracy {done.TestAccuracy}");
    }
}
