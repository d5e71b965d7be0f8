using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests.Scenarios;

/// <summary>
/// Transfer learning across the actors: a base checkpoint of the blob MLP (4-8-3) on disk, a job that keeps
/// its first dense layer frozen and puts a new head (dense 6, dense 3) on it.
/// </summary>
public sealed class TransferScenarioTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("disttrain-transfer-");

    private (TrainingJob Job, Checkpoint Base) TransferJob(ulong baseSeed = 3)
    {
        var baseModel = new Model(TestJobs.Mlp);
        baseModel.InitializeParameters(baseSeed);
        var ck = new Checkpoint(TestJobs.Mlp, baseModel.Parameters, null, null,
            new CheckpointMetadata(1, 1, baseSeed, ["a", "b", "c"], LossKind.SoftmaxCrossEntropy));
        var path = Path.Combine(_dir.FullName, $"base-{baseSeed}.dtck");
        CheckpointFile.Write(path, ck);
        var t = Transfer.WithNewHead(TestJobs.Mlp, classes: 3, hidden: [6]);
        var spec = Transfer.Freeze(t.Spec, "base", t.BaseLayers);
        var sha = Transfer.LoadBase(new Model(spec), ck);
        var job = TestJobs.Blobs(epochs: 3, batch: 50) with { Model = spec, Base = new BaseModel(path, sha), OutputDirectory = _dir.FullName };
        return (job, ck);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && _dir.Exists) _dir.Delete(recursive: true);
    }

    [Fact]
    public void Frozen_parameters_travel_neither_to_nor_from_a_worker()
    {
        var (job, _) = TransferJob();
        var model = new Model(job.Model);
        Assert.Equal(8 * 4 + 8, model.FrozenParameterCount); // dense_0 of the base
        var t = model.TrainableParameterCount;

        // Parameter server -> worker: only the trainable range.
        var ps = Sys.ActorOf(ParameterServerActor.Props());
        ps.Tell(new StartParameterServer(job), TestActor);
        ExpectMsg<ParameterServerReady>(TimeSpan.FromSeconds(15));
        var probe = CreateTestProbe();
        ps.Tell(new RunStep(job.JobId, 0, 1, 0, 0, [new ShardAssignment(0, probe.Ref, [0, 1, 2, 3])]));
        var compute = probe.ExpectMsg<ComputeGradients>();
        Assert.Equal(t, compute.Parameters.Length);

        // Worker -> parameter server: only the trainable gradient.
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props("w-1", new BlobLoader(), coordinator.Ref));
        coordinator.ExpectMsg<RegisterWorker>();
        worker.Tell(new PrepareJob(job), coordinator.Ref);
        var prepared = coordinator.ExpectMsg<JobPrepared>(TimeSpan.FromSeconds(15));
        Assert.Equal(job.Base!.ParametersSha256, prepared.BaseSha256);
        worker.Tell(compute, TestActor);
        var answer = ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(15));
        Assert.Equal(t, answer.Gradient.Length);
        Assert.Contains(answer.Gradient, g => g != 0f);

        // On the wire: exactly 4 bytes per frozen parameter less than sending every parameter.
        var full = answer with { Gradient = new float[model.ParameterCount] };
        Assert.Equal(4 * model.FrozenParameterCount, TensorMessageSerializer.Encode(full).Length - TensorMessageSerializer.Encode(answer).Length);
        var fullCompute = compute with { Parameters = new float[model.ParameterCount] };
        Assert.Equal(4 * model.FrozenParameterCount, TensorMessageSerializer.Encode(fullCompute).Length - TensorMessageSerializer.Encode(compute).Length);
    }

    [Fact]
    public async Task Local_transfer_training_keeps_the_base_bit_identical_changes_the_head_and_matches_one_replica()
    {
        var (job, ck) = TransferJob();
        var done = await LocalMode.RunAsync(job, 2, new BlobLoader());
        var trained = CheckpointFile.Read(done.CheckpointPath!);
        var model = new Model(job.Model);
        Assert.Equal(model.ParameterCount, trained.Parameters.Length); // checkpoints hold frozen and trainable parameters
        Assert.Equal(ck.Parameters.AsSpan(0, 40).ToArray(), trained.Parameters.AsSpan(0, model.FrozenParameterCount).ToArray());

        // The single-replica trainer over the same job: seeded head, base loaded, only the trainable range stepped.
        var (reference, _) = JobModel.Create(job, initialize: true);
        var head = reference.TrainableParameters.ToArray();
        var data = new BlobLoader().Load(job);
        new Trainer(new GradientComputer(reference, Loss.Create(job.Loss)), Optimizer.Create(job.Optimizer, reference.TrainableParameterCount),
            new TrainingOptions(job.Epochs, job.BatchSize, job.Seed)).Run(data.Train, null);
        var f = reference.FrozenParameterCount;
        Assert.False(head.AsSpan().SequenceEqual(trained.Parameters.AsSpan(f)));
        for (var i = 0; i < trained.Parameters.Length; i++)
            Assert.True(Math.Abs(reference.Parameters[i] - trained.Parameters[i]) <= 1e-5 * Math.Max(Math.Abs(reference.Parameters[i]), 1e-3),
                $"parameter {i}: local mode {trained.Parameters[i]}, one replica {reference.Parameters[i]}");
        Assert.Equal(reference.TrainableParameterCount, trained.OptimizerState!.Buffers[0].Length); // Adam moments: trainable range only
        Assert.True(done.TestAccuracy > 0.8, $"test accuracy {done.TestAccuracy}");
    }

    /// <summary>Hands every worker the same loaded data (as the CLI does in local mode) and counts input reads per sample.</summary>
    private sealed class SharedCountingLoader : IJobDataLoader
    {
        public SharedCountingLoader(TrainingJob job)
        {
            var blobs = new BlobLoader().Load(job);
            Train = new CountingDataset(blobs.Train);
            Data = blobs with { Train = Train };
        }

        public CountingDataset Train { get; }

        public JobData Data { get; }

        public JobData Load(TrainingJob job) => Data;
    }

    private sealed class CountingDataset(IDataset inner) : IDataset
    {
        public int[] Reads { get; } = new int[inner.Count];

        public int Count => inner.Count;

        public Core.Tensors.TensorShape SampleShape => inner.SampleShape;

        public IReadOnlyList<string> ClassNames => inner.ClassNames;

        public int Label(int index) => inner.Label(index);

        public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in Core.Layers.BatchContext ctx)
        {
            foreach (var i in indices) Interlocked.Increment(ref Reads[i]);
            inner.CopyInputs(indices, destination, ctx);
        }
    }

    [Fact]
    public async Task Workers_of_one_process_share_the_frozen_features_and_train_bit_identically_to_uncached_workers()
    {
        var (job, _) = TransferJob();
        var cachedLoader = new SharedCountingLoader(job);
        var cached = await LocalMode.RunAsync(job, 2, cachedLoader);
        // Augment = true turns the cache off in the workers; the blob data ignores it.
        var plainLoader = new SharedCountingLoader(job);
        var plain = await LocalMode.RunAsync(job with { Data = job.Data with { Augment = true } }, 2, plainLoader);

        Assert.Equal(plain.ParametersSha256, cached.ParametersSha256);
        var cache = cachedLoader.Data.FeatureCaches.For(new Model(job.Model));
        Assert.NotNull(cache);
        Assert.Equal(240, cache.PrefixForwards);
        Assert.All(cachedLoader.Train.Reads, r => Assert.Equal(1, r)); // 3 epochs, two workers, one prefix pass per sample
        Assert.All(plainLoader.Train.Reads, r => Assert.Equal(3, r));
    }

    [Fact]
    public void A_worker_reports_the_hash_of_the_base_on_its_own_node()
    {
        var (job, _) = TransferJob();
        var (other, _) = TransferJob(baseSeed: 4); // same path layout, other values
        var coordinator = CreateTestProbe();
        var worker = Sys.ActorOf(WorkerActor.Props("w-1", new BlobLoader(), coordinator.Ref));
        coordinator.ExpectMsg<RegisterWorker>();
        // The job expects base 3's parameters but this node's file (other path) holds base 4's.
        worker.Tell(new PrepareJob(job with { Base = job.Base! with { Checkpoint = other.Base!.Checkpoint } }), coordinator.Ref);
        var prepared = coordinator.ExpectMsg<JobPrepared>(TimeSpan.FromSeconds(15));
        Assert.Equal(other.Base!.ParametersSha256, prepared.BaseSha256);
        Assert.NotEqual(job.Base!.ParametersSha256, prepared.BaseSha256);
    }

    /// <summary>Answers PrepareJob like a worker whose base checkpoint differs.</summary>
    private sealed class OtherBaseWorker : ReceiveActor
    {
        public OtherBaseWorker(IActorRef coordinator)
        {
            coordinator.Tell(new RegisterWorker("w-other", Self));
            Receive<PrepareJob>(p => Sender.Tell(new JobPrepared(p.Job.JobId, "w-other", p.Job.Model.Hash, 240, 60, 60, "x", ["a", "b", "c"], null,
                BaseSha256: "0000000000000000000000000000000000000000000000000000000000000000")));
            Receive<WorkerRefused>(r => Context.System.EventStream.Publish(r));
        }
    }

    [Fact]
    public async Task Coordinator_refuses_a_worker_whose_base_differs_and_trains_with_the_others()
    {
        var (job, _) = TransferJob();
        var (_, coordinator) = TrainingTopology.StartServer(Sys, new CoordinatorSettings(MinimumWorkers: 1));
        var refused = CreateTestProbe();
        Sys.EventStream.Subscribe(refused.Ref, typeof(WorkerRefused));
        Sys.ActorOf(Props.Create(() => new OtherBaseWorker(coordinator)));
        var result = TrainingTopology.RunJob(Sys, coordinator, job with { Epochs = 1 });
        var r = refused.ExpectMsg<WorkerRefused>(TimeSpan.FromSeconds(10));
        Assert.Equal("w-other", r.WorkerId);
        Assert.Contains("base checkpoint", r.Reason);
        TrainingTopology.StartWorkers(Sys, 1, new BlobLoader(), coordinator);
        var done = await result.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, done.Epochs);
    }
}
