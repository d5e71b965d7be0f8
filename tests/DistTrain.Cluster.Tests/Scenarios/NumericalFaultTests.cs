using Akka.Actor;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;
using DistTrain.Core.Models;

namespace DistTrain.Cluster.Tests.Scenarios;

public class NumericalFaultTests : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>A worker whose gradients are NaN for the first <c>badSteps</c> steps it computes (all, when negative).</summary>
    private sealed class NanWorker : ReceiveActor
    {
        public NanWorker(string id, IActorRef coordinator, int badSteps)
        {
            var computed = 0;
            coordinator.Tell(new RegisterWorker(id, Self));
            Receive<PrepareJob>(p => Sender.Tell(new JobPrepared(p.Job.JobId, id, p.Job.Model.Hash, 240, 0, 0, "same", ["a", "b", "c"], null)));
            Receive<ComputeGradients>(c =>
            {
                var g = new float[c.Parameters.Length];
                if (badSteps < 0 || computed++ < badSteps) g[0] = float.NaN;
                Sender.Tell(new GradientsComputed(c.JobId, c.Version, c.Attempt, c.Step, c.ShardIndex, id, g, c.SampleIds.Length, 1.0 * c.SampleIds.Length, 0));
            });
        }
    }

    [Fact]
    public async Task Consecutive_non_finite_steps_stop_the_job_with_a_clear_message_and_untouched_parameters()
    {
        var (ps, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 1, MaxConsecutiveBadSteps: 3));
        Sys.ActorOf(Props.Create(() => new NanWorker("nan", coordinator, -1)));
        var job = TestJobs.Blobs(epochs: 2, batch: 24);
        var events = new List<object>();
        var result = TrainingTopology.RunJob(Sys, coordinator, job, onEvent: e => { lock (events) events.Add(e); });
        var failure = await Assert.ThrowsAsync<TrainingFailedException>(() => result.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("3 steps in a row produced NaN or infinite gradients", failure.Reason);
        Assert.Contains("Lower the learning rate", failure.Reason);
        lock (events) Assert.Equal([1, 2, 3], events.OfType<GradientsDropped>().Select(d => d.ConsecutiveBadSteps));

        ps.Tell(new GetParameters(job.JobId));
        var snapshot = ExpectMsg<ParametersSnapshot>();
        var initial = new Model(job.Model);
        initial.InitializeParameters(job.Seed);
        Assert.Equal(initial.Parameters, snapshot.Parameters);
        Assert.Equal(3, snapshot.Version);
    }

    [Fact]
    public async Task A_single_bad_step_is_dropped_and_reported_and_training_goes_on()
    {
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 1, MaxConsecutiveBadSteps: 3));
        Sys.ActorOf(Props.Create(() => new NanWorker("nan-once", coordinator, 1)));
        var events = new List<object>();
        var done = await TrainingTopology.RunJob(Sys, coordinator, TestJobs.Blobs(epochs: 2, batch: 24), onEvent: e => { lock (events) events.Add(e); })
            .WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(2, done.Epochs);
        lock (events)
        {
            var dropped = Assert.Single(events.OfType<GradientsDropped>());
            Assert.False(dropped.Applied);
            // The dropped step's 24 samples are missing from epoch 1's count and from nowhere else.
            Assert.Equal([216, 240], events.OfType<EpochCompleted>().Select(e => e.Samples));
            // The dropped step's samples were never applied in epoch 1; every other sample once.
            Assert.Equal([(0, 1), (1, 1)], events.OfType<EpochCompleted>().Select(e => (e.VisitsMin, e.VisitsMax)));
        }
    }
}
