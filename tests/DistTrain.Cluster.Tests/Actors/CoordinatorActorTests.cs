using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Actors;

public class CoordinatorActorTests : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>A stand-in worker whose answers are known: loss 2 per sample (or 1 for w-2), every other sample correct.</summary>
    private sealed class FakeWorker : ReceiveActor
    {
        public FakeWorker(string id, IActorRef coordinator, double lossPerSample, string? hashOverride = null)
        {
            coordinator.Tell(new RegisterWorker(id, Self));
            Receive<PrepareJob>(p => Sender.Tell(new JobPrepared(p.Job.JobId, id, hashOverride ?? p.Job.Model.Hash, 240, 60, 60, "same",
                ["a", "b", "c"], null)));
            Receive<ComputeGradients>(c => Sender.Tell(new GradientsComputed(c.JobId, c.Version, c.Attempt, c.Step, c.ShardIndex, id,
                new float[c.Parameters.Length], c.SampleIds.Length, lossPerSample * c.SampleIds.Length, c.SampleIds.Length / 2)));
            Receive<EvaluateShard>(e => Sender.Tell(new ShardEvaluated(e.JobId, e.Version, e.Split, e.Start, e.Length, 0.5 * e.Length, e.Length,
                new int[e.Length], new int[e.Length], id)));
            Receive<WorkerRefused>(r => Context.System.EventStream.Publish(r));
        }
    }

    [Fact]
    public void Coordinator_answers_every_announcement_of_a_worker()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 1));
        coordinator.Tell(new RegisterWorker("w-a", TestActor));
        ExpectMsg<WorkerRegistered>(r => Assert.Equal("w-a", r.WorkerId));
        coordinator.Tell(new RegisterWorker("w-a", TestActor)); // a known worker's re-announcement is answered too
        ExpectMsg<WorkerRegistered>(r => Assert.Equal("w-a", r.WorkerId));
    }

    [Fact]
    public async Task Coordinator_aggregates_loss_across_workers_and_runs_the_configured_epochs()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 2));
        Sys.ActorOf(Props.Create(() => new FakeWorker("w-1", coordinator, 2.0, null)));
        Sys.ActorOf(Props.Create(() => new FakeWorker("w-2", coordinator, 1.0, null)));
        var events = new List<object>();
        var job = TestJobs.Blobs(epochs: 3, batch: 60);
        var result = TrainingTopology.RunJob(Sys, coordinator, job, onEvent: e => { lock (events) events.Add(e); });
        var done = await result.WaitAsync(TimeSpan.FromSeconds(20));

        List<EpochCompleted> epochs;
        lock (events) epochs = events.OfType<EpochCompleted>().ToList();
        Assert.Equal(3, epochs.Count);
        Assert.Equal(3, done.Epochs);
        Assert.Equal(12, done.Steps); // 240 / 60 = 4 steps x 3 epochs
        foreach (var e in epochs)
        {
            // Each 60-sample batch splits 30/30: loss (2*30 + 1*30) / 60 = 1.5, accuracy 15+15 of 60.
            Assert.Equal(1.5, e.Metrics.TrainLoss, 12);
            Assert.Equal(0.5, e.Metrics.TrainAccuracy, 12);
            Assert.Equal(0.5, e.Metrics.ValidationLoss!.Value, 12);
            Assert.Equal(1.0, e.Metrics.ValidationAccuracy!.Value, 12);
            Assert.Equal(2, e.Workers);
        }
        Assert.Equal(1.0, done.TestAccuracy, 12);
        Assert.Equal(60, done.TestPredictions.Length);
    }

    [Fact]
    public async Task Coordinator_refuses_a_worker_with_a_different_model_spec_hash_and_trains_without_it()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 1));
        var refused = CreateTestProbe();
        Sys.EventStream.Subscribe(refused.Ref, typeof(WorkerRefused));
        Sys.ActorOf(Props.Create(() => new FakeWorker("w-odd", coordinator, 1.0, "0123456789abcdef")));
        var job = TestJobs.Blobs(epochs: 1, batch: 240);
        var result = TrainingTopology.RunJob(Sys, coordinator, job);
        var r = refused.ExpectMsg<WorkerRefused>(TimeSpan.FromSeconds(10));
        Assert.Equal("w-odd", r.WorkerId);
        Assert.Contains("model-spec hash 0123456789ab differs", r.Reason);
        // The refused worker gets no work: the job waits for a compatible one.
        Sys.ActorOf(Props.Create(() => new FakeWorker("w-good", coordinator, 1.0, null)));
        var done = await result.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(1, done.Workers);
    }

    [Fact]
    public void Coordinator_rejects_a_second_job_while_one_runs_and_an_invalid_job()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 5, PrepareTimeout: TimeSpan.FromSeconds(30)));
        coordinator.Tell(new StartTraining(TestJobs.Blobs(id: "first")));
        coordinator.Tell(new StartTraining(TestJobs.Blobs(id: "second")));
        var busy = ExpectMsg<TrainingRejected>();
        Assert.Equal("second", busy.JobId);
        Assert.Contains("running job first", busy.Reason);
    }

    [Fact]
    public async Task Coordinator_fails_the_job_with_a_reason_when_too_few_workers_come()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 3, PrepareTimeout: TimeSpan.FromMilliseconds(500)));
        Sys.ActorOf(Props.Create(() => new FakeWorker("w-1", coordinator, 1.0, null)));
        var result = TrainingTopology.RunJob(Sys, coordinator, TestJobs.Blobs());
        var failure = await Assert.ThrowsAsync<TrainingFailedException>(() => result.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("only 1 of the 3 required workers", failure.Reason);
    }
}
