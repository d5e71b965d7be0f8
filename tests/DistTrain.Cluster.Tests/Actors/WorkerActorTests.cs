using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests.Actors;

public class WorkerActorTests : Akka.TestKit.Xunit2.TestKit
{
    private (IActorRef Worker, Akka.TestKit.TestProbe Coordinator) StartPrepared(TrainingJob job, IJobDataLoader loader)
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props("w-1", loader, coordinator.Ref));
        coordinator.ExpectMsg<RegisterWorker>(r => Assert.Equal("w-1", r.WorkerId));
        worker.Tell(new PrepareJob(job), coordinator.Ref);
        coordinator.ExpectMsg<JobPrepared>(p =>
        {
            Assert.Equal(job.Model.Hash, p.ModelSpecHash);
            Assert.Equal(240, p.TrainCount);
        });
        return (worker, coordinator);
    }

    [Fact]
    public void Worker_returns_the_gradient_sum_of_its_shard_at_the_given_parameters()
    {
        var job = TestJobs.Blobs();
        var (worker, _) = StartPrepared(job, new BlobLoader());
        var reference = new Model(job.Model);
        reference.InitializeParameters(99);
        var parameters = (float[])reference.Parameters.Clone();
        int[] ids = [3, 17, 42, 5, 200];

        var ps = CreateTestProbe();
        worker.Tell(new ComputeGradients(job.JobId, Version: 4, Attempt: 1, Epoch: 0, Step: 0, ShardIndex: 1, ids, job.Seed, parameters), ps.Ref);
        var reply = ps.ExpectMsg<GradientsComputed>();

        var expected = new GradientComputer(reference, new SoftmaxCrossEntropyLoss())
            .Compute(new BlobDataset(240, job.Seed), ids, job.Seed, 0);
        Assert.Equal(4, reply.Version);
        Assert.Equal(1, reply.ShardIndex);
        Assert.Equal(5, reply.Samples);
        Assert.Equal(expected.LossSum, reply.LossSum, 9);
        Assert.Equal(expected.Correct, reply.Correct);
        Assert.Equal(reference.Gradients, reply.Gradient);
        Assert.Contains(reply.Gradient, g => g != 0f);
    }

    [Fact]
    public void A_restored_state_is_what_the_worker_reports_and_a_restore_after_its_first_round_is_refused()
    {
        var job = TestJobs.Blobs() with { Communication = new CommunicationSpec(TrainingMode.LocalSgd, Compression: GradientCompression.Fp16, LocalSteps: 2) };
        var (worker, _) = StartPrepared(job, new BlobLoader());
        var model = new Model(job.Model);
        var n = model.ParameterCount;
        var saved = new Core.Optimizers.OptimizerState(Core.Optimizers.OptimizerKind.Adam, 7,
            [Enumerable.Range(0, n).Select(i => i * 1e-3f).ToArray(), Enumerable.Repeat(2e-4f, n).ToArray()]);
        var residual = Enumerable.Range(0, n).Select(i => -i * 1e-4f).ToArray();
        var ps = CreateTestProbe();

        worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Restore, 1, 5, saved, residual), ps.Ref);
        worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Request, 1, 5), ps.Ref);
        var report = ps.ExpectMsg<WorkerLocalState>();
        Assert.Equal((WorkerStateRole.Report, 1, -1L), (report.Role, report.ShardIndex, report.Version));
        Assert.Equal(7, report.Optimizer!.Step);
        Assert.Equal(saved.Buffers[0], report.Optimizer.Buffers[0]);
        Assert.Equal(residual, report.Residual!);

        // One round later the state has moved on, and a second restore is refused with a warning.
        model.InitializeParameters(job.Seed);
        worker.Tell(new ComputeGradients(job.JobId, 5, 1, 0, 0, 1, [0, 1, 2, 3], job.Seed, model.Parameters, LocalSteps: [2, 2]), ps.Ref);
        ps.ExpectMsg<GradientsComputed>();
        EventFilter.Warning(contains: "arrived after this worker's first round; not restored").ExpectOne(() =>
            worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Restore, 1, 5, saved, residual), ps.Ref));
        worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Request, 1, 6), ps.Ref);
        var after = ps.ExpectMsg<WorkerLocalState>();
        Assert.Equal(5, after.Version);
        Assert.Equal(9, after.Optimizer!.Step);
        Assert.NotEqual(residual, after.Residual!);
    }

    [Fact]
    public void A_saved_state_that_does_not_fit_the_job_is_refused_and_the_worker_starts_fresh()
    {
        var job = TestJobs.Blobs() with { Communication = new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 2) };
        var (worker, _) = StartPrepared(job, new BlobLoader());
        var ps = CreateTestProbe();
        var sgd = new Core.Optimizers.OptimizerState(Core.Optimizers.OptimizerKind.Sgd, 3, [new float[10]]);
        EventFilter.Error(contains: "cannot restore the saved state of shard 0").ExpectOne(() =>
            worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Restore, 0, 1, sgd), ps.Ref));
        worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Request, 0, 1), ps.Ref);
        Assert.Null(ps.ExpectMsg<WorkerLocalState>().Optimizer);
    }

    [Fact]
    public void A_saved_state_is_restored_all_or_nothing()
    {
        // A fitting optimizer with a residual of the wrong length: neither is taken.
        var job = TestJobs.Blobs() with { Communication = new CommunicationSpec(TrainingMode.LocalSgd, Compression: GradientCompression.Bf16, LocalSteps: 2) };
        var (worker, _) = StartPrepared(job, new BlobLoader());
        var n = new Model(job.Model).ParameterCount;
        var adam = new Core.Optimizers.OptimizerState(Core.Optimizers.OptimizerKind.Adam, 4, [new float[n], new float[n]]);
        var ps = CreateTestProbe();
        EventFilter.Error(contains: $"the saved residual has 3 values but this worker sends {n}").ExpectOne(() =>
            worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Restore, 0, 1, adam, [1f, 2f, 3f]), ps.Ref));
        worker.Tell(new WorkerLocalState(job.JobId, WorkerStateRole.Request, 0, 1), ps.Ref);
        var report = ps.ExpectMsg<WorkerLocalState>();
        Assert.Null(report.Optimizer);
        Assert.Null(report.Residual);
    }

    [Fact]
    public void A_cluster_worker_that_no_coordinator_answers_says_what_to_check()
    {
        var coordinator = CreateTestProbe(); // never answers
        var every = TimeSpan.FromMilliseconds(30);
        EventFilter.Warning(contains: "no coordinator has answered its announcements").ExpectOne(TimeSpan.FromSeconds(10), () =>
            Sys.ActorOf(WorkerActor.Props("w-lonely", new BlobLoader(), coordinator.Ref, announceEvery: every)));
        // It keeps announcing: a coordinator that comes up later still finds it.
        coordinator.ReceiveN(3, TimeSpan.FromSeconds(5)).ToList().ForEach(m => Assert.IsType<RegisterWorker>(m));
    }

    [Fact]
    public void A_cluster_worker_that_a_coordinator_answered_does_not_warn()
    {
        var coordinator = CreateTestProbe();
        var every = TimeSpan.FromMilliseconds(30);
        EventFilter.Warning(contains: "no coordinator has answered").Expect(0, TimeSpan.FromSeconds(2), () =>
        {
            var worker = Sys.ActorOf(WorkerActor.Props("w-known", new BlobLoader(), coordinator.Ref, announceEvery: every));
            worker.Tell(new WorkerRegistered("w-known"), coordinator.Ref); // queued before the first timed announcement
            coordinator.ExpectMsg<RegisterWorker>();
            // Twice the announcements after which an unanswered worker warns.
            coordinator.ReceiveN(2 * WorkerActor.UnansweredAnnouncementsBeforeWarning, TimeSpan.FromSeconds(10));
        });
    }

    [Fact]
    public void Worker_that_cannot_load_its_data_reports_why_instead_of_crashing()
    {
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props("w-9", new FailingLoader(), coordinator.Ref));
        coordinator.ExpectMsg<RegisterWorker>();
        worker.Tell(new PrepareJob(TestJobs.Blobs()), coordinator.Ref);
        var failed = coordinator.ExpectMsg<JobPreparationFailed>();
        Assert.Contains("no such file", failed.Reason);
        // Still alive and answering.
        worker.Tell(new PrepareJob(TestJobs.Blobs()), coordinator.Ref);
        coordinator.ExpectMsg<JobPreparationFailed>();
    }

    [Fact]
    public void Worker_ignores_parameters_of_the_wrong_length()
    {
        var job = TestJobs.Blobs();
        var (worker, _) = StartPrepared(job, new BlobLoader());
        var ps = CreateTestProbe();
        worker.Tell(new ComputeGradients(job.JobId, 1, 1, 0, 0, 0, [1, 2], job.Seed, new float[3]), ps.Ref);
        ps.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Worker_hands_data_plane_parameters_back_to_the_pool_only_once_newer_ones_replace_them_and_never_its_own()
    {
        var pool = DistTrain.Cluster.Transport.DataPlane.Start(Sys).ReceivePool; // no remoting: the plane is off, its pool is there
        var job = TestJobs.Blobs();
        var (worker, _) = StartPrepared(job, new BlobLoader());
        var reference = new Model(job.Model);
        reference.InitializeParameters(5);
        var n = reference.ParameterCount;
        var ps = CreateTestProbe();
        void Step(float[] parameters)
        {
            reference.Parameters.CopyTo(parameters, 0);
            worker.Tell(new ComputeGradients(job.JobId, 1, 1, 0, 0, 0, [1, 2, 3], job.Seed, parameters), ps.Ref);
            ps.ExpectMsg<GradientsComputed>();
        }

        var wire = pool.Rent(n);
        Step(wire);
        Assert.Equal(0, pool.IdleCount(n)); // the replica still reads it

        Step(new float[n]); // a same-process parameter server's buffer replaces it
        Assert.Equal(1, pool.IdleCount(n));
        Assert.False(pool.Return(wire)); // already back

        var again = pool.Rent(n);
        Assert.Same(wire, again);
        Step(again); // replaces the local buffer, which the pool refuses
        Assert.Equal(0, pool.IdleCount(n));
        Assert.Equal(2L, pool.Stats.Refused); // the local buffer, and the test's second return above
    }

    private sealed class FailingLoader : IJobDataLoader
    {
        public JobData Load(TrainingJob job) => throw new IOException("data/missing.csv: no such file");
    }
}
