using System.Collections;
using System.Reflection;
using Akka.Actor;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Transport;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests.Serialization;

/// <summary>One populated instance of every message that may cross the wire, nested records included.</summary>
public static class ProtocolSamples
{
    public static TrainingJob Job { get; } = new(
        "job-42",
        new DataSpec("csv", "/data/x.csv", "label", ["a", "b"], Limit: 100, ImageSize: 28, Channels: 3, Count: 77, Augment: true),
        new ModelSpec([3, 28, 28],
        [
            new Conv2DSpec(8, 3, Stride: 1, Padding: 1) { Name = "conv" },
            new ActivationSpec(ActivationKind.ReLU),
            new MaxPool2DSpec(2),
            new SpatialDropoutSpec(0.1f),
            new FlattenSpec(),
            new DenseSpec(16, Initializer.Glorot),
            new DropoutSpec(0.25f),
            new DenseSpec(4),
        ]),
        LossKind.SoftmaxCrossEntropy,
        new OptimizerSpec(OptimizerKind.Sgd, 0.05f, Momentum: 0.9f, Nesterov: true, Epsilon: 1e-7f,
            Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 1000, MinLearningRate: 1e-4f, WarmupSteps: 10)),
        Epochs: 5, BatchSize: 64, Seed: 0xFEEDFACECAFEBEEF, Patience: 2, OutputDirectory: "/out", CheckpointEvery: 2);

    public static CheckpointMetadata Metadata { get; } = new(3, 1234, 99, ["cat", "dog"], LossKind.SoftmaxCrossEntropy,
        new Normalization([0.5f, -1f], [2f, 0.25f]), new Dictionary<string, string> { ["k"] = "v" });

    public static CoordinatorReplica Replica { get; } = new(Job,
        new DistTrain.Cluster.State.ScheduleState(2, 5, 160, 12.5, 120, [1, 0, 1], 0.25, 1, 0, false, false),
        new JobPrepared("job-42", "worker-1", "abc123", 240, 60, 60, "fp", ["a", "b"], new Normalization([1f], [2f])),
        [new EpochMetrics(1, 0.7, 0.6, 0.8, null, 1234.5, 2.5, 16, 0.01f)], "/out/checkpoint.dtck", "cafe", 0, 3.5, 480, []);

    public static IReadOnlyList<object> All(IActorRef worker) =>
    [
        new StartParameterServer(Job, "/ckpt/last.dtc"),
        new ParameterServerReady("job-42", 7, 1000, "abc123", 2),
        new ParameterServerFailed("job-42", "no such checkpoint"),
        new RunStep("job-42", 7, 2, 1, 3, [new ShardAssignment(0, worker, [1, 2, 3]), new ShardAssignment(1, worker, [4, 5])]),
        new ComputeGradients("job-42", 7, 2, 1, 3, 0, [1, 2, 3], 99UL, [0.5f, -1.25f, float.NaN]),
        new GradientsComputed("job-42", 7, 2, 3, 0, "worker-1", [1e-30f, -0f, float.PositiveInfinity], 3, 1.75, 2),
        new StepCompleted("job-42", 8, 1, 3, 5, 2.5, 4, 0.01f),
        new RunAsyncEpoch("job-42", 7, 3, 1, 2, [[1, 2], [3]], [worker, worker], 2),
        new AsyncWorkerLost("job-42", 3, worker),
        new StalenessReport("job-42", 1, 40, 3, 1.25, 2),
        new GetParameters("job-42"),
        new ParametersSnapshot("job-42", 8, [1f, 2f]),
        new SaveCheckpoint("job-42", "/ckpt/e3.dtc", Metadata),
        new CheckpointSaved("job-42", "/ckpt/e3.dtc", 8, "deadbeef"),
        new CheckpointFailed("job-42", "/ckpt/e3.dtc", "disk full"),
        new StartTraining(Job),
        new TrainingRejected("job-42", "busy"),
        new SubscribeProgress(worker),
        new JobStarted("job-42", 2, 240, 8, Job),
        new StepProgressed("job-42", new StepProgress(1, 3, 8, 0.7, 0.6, 1234.5)),
        new EpochCompleted("job-42", new EpochMetrics(1, 0.7, 0.6, 0.8, null, 1234.5, 2.5, 16, 0.01f), 2, 240),
        new TrainingCompleted("job-42", 5, 40, 0.3, 0.9, [0, 1, 2], [0, 1, 1], ["a", "b", "c"], 999.0, 12.5, 2, null, "cafe", false),
        new TrainingFailed("job-42", "worker lost"),
        new GradientsDropped("job-42", 1, 3, 1, true, 1),
        new WorkerJoined("job-42", "worker-1", 2),
        new WorkerLeft("job-42", "worker-1", 1, "unreachable"),
        new RegisterWorker("worker-1", worker),
        new WorkerRegistered("worker-1"),
        new PrepareJob(Job),
        new JobPrepared("job-42", "worker-1", "abc123", 240, 60, 60, "fp", ["a", "b"], new Normalization([1f], [2f])),
        new JobPreparationFailed("job-42", "worker-1", "missing file"),
        new WorkerRefused("job-42", "worker-1", "model mismatch"),
        new EvaluateShard("job-42", 8, DataSplit.Validation, 10, 20, [3f, 4f]),
        new WorkerLocalState("job-42", WorkerStateRole.Request, 1, 8),
        new ShardEvaluated("job-42", 8, DataSplit.Test, 0, 3, 1.5, 2, [0, 1, 2], [0, 2, 2], "worker-1"),
        new CaptureReplica("job-42", Replica),
        new ReplicaSnapshot("job-42", 30, [1f, -2f], new OptimizerState(OptimizerKind.Adam, 30, [[0.1f], [0.2f]]), Replica),
        new ReplicaReceived("job-42", 30),
        new ClearReplica("job-42"),
        new GetReplica(),
        new NoReplica(),
        new RestoreParameterServer(Job, 30, [1f, -2f], null, 2),
        new JobResumed("job-42", 30, 2, 5, 8),
        new TensorChunk(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), 1, 3, "akka.tcp://disttrain@h:1/user/ps#5", 7401, "GC", [1, 2, 3]),
        DataPlaneEndpointQuery.Instance,
        new DataPlaneEndpoint(40123),
    ];

    /// <summary>Second instances of messages whose optional mode fields (Modes/) change how they are sent.</summary>
    public static IReadOnlyList<object> ModeVariants(IActorRef worker) =>
    [
        new StepCompleted("job-42", 9, 1, 4, 5, 2.5, 4, 0.01f, 1, true, [7, 8], Steps: 3, Staleness: 2),
        new ComputeGradients("job-42", 7, 2, 1, 3, 1, [1, 2, 3, 4, 5], 99UL, [0.5f, 2f], LocalSteps: [2, 0, 3]),
        new GradientsComputed("job-42", 7, 2, 3, 1, "worker-2", [], 3, 1.75, 2,
            new DistTrain.Cluster.Compression.CompressedTensor(GradientCompression.Fp16, [0x3C00, 0x8000, 0x7C00, 0xFFFF])),
        new RunAsyncEpoch("job-42", 7, 3, 1, 2, [[1, 2], [3]], [worker], null),
        new WorkerLocalState("job-42", WorkerStateRole.Report, 1, 7, new OptimizerState(OptimizerKind.Adam, 12, [[0.1f, -0.2f], [0.3f, float.NaN]]), [1e-3f, -2e-3f]),
        new WorkerLocalState("job-42", WorkerStateRole.Restore, 0, 40, null, [5f]),
        new WorkerLocalState("job-42", WorkerStateRole.Report, 2, -1),
        new StartTraining(Job with { Communication = new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 8) }, "/ckpt/checkpoint.dtck", worker),
        new PrepareJob(Job with { Communication = new CommunicationSpec(TrainingMode.Ssp, Staleness: 3, Compression: GradientCompression.Bf16, LocalSteps: 5,
            Compensation: StalenessCompensation.LearningRate) }),
    ];

    /// <summary>Every concrete type in DistTrain.Cluster that implements IDistTrainMessage.</summary>
    public static IReadOnlyList<Type> MessageTypes() =>
        typeof(IDistTrainMessage).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(IDistTrainMessage).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();
}

/// <summary>Structural equality for records holding arrays and lists (record Equals compares arrays by reference).</summary>
public static class Deep
{
    public static void Equal(object? expected, object? actual, string path = "message")
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{path}: expected {expected ?? "null"}, found {actual ?? "null"}");
            return;
        }
        switch (expected)
        {
            case float f:
                Assert.Equal(BitConverter.SingleToInt32Bits(f), BitConverter.SingleToInt32Bits(Assert.IsType<float>(actual)));
                return;
            case double d:
                Assert.Equal(BitConverter.DoubleToInt64Bits(d), BitConverter.DoubleToInt64Bits(Assert.IsType<double>(actual)));
                return;
            case string or Enum or Guid or bool or byte or ushort or int or long or ulong or decimal:
                Assert.True(expected.Equals(actual), $"{path}: expected {expected}, found {actual}");
                return;
            case IActorRef r:
                Assert.Equal(r.Path.ToStringWithoutAddress(), Assert.IsAssignableFrom<IActorRef>(actual).Path.ToStringWithoutAddress());
                return;
            case IDictionary dict:
            {
                var other = Assert.IsAssignableFrom<IDictionary>(actual);
                Assert.Equal(dict.Count, other.Count);
                foreach (DictionaryEntry e in dict) Equal(e.Value, other[e.Key], $"{path}[{e.Key}]");
                return;
            }
            case IEnumerable seq:
            {
                var a = seq.Cast<object?>().ToList();
                var b = Assert.IsAssignableFrom<IEnumerable>(actual).Cast<object?>().ToList();
                Assert.True(a.Count == b.Count, $"{path}: expected {a.Count} elements, found {b.Count}");
                for (var i = 0; i < a.Count; i++) Equal(a[i], b[i], $"{path}[{i}]");
                return;
            }
        }
        Assert.True(expected.GetType() == actual.GetType(), $"{path}: expected a {expected.GetType().Name}, found a {actual.GetType().Name}");
        foreach (var p in expected.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0) continue;
            Equal(p.GetValue(expected), p.GetValue(actual), $"{path}.{p.Name}");
        }
    }
}
