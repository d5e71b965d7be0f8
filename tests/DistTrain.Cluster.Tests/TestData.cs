using DistTrain.Cluster.Jobs;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Randomness;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests;

/// <summary>Three Gaussian blobs in 4-D: learnable, tiny, independent of any file.</summary>
public sealed class BlobDataset : IDataset
{
    private readonly float[] _x;
    private readonly int[] _y;

    public BlobDataset(int count, ulong seed, float spread = 0.6f)
    {
        _x = new float[count * 4];
        _y = new int[count];
        var rng = new SplitMix64(seed);
        float[][] centres = [[2, 0, 0, 1], [-1, 2, 0, -1], [0, -2, 1.5f, 0]];
        for (var i = 0; i < count; i++)
        {
            var c = i % 3;
            _y[i] = c;
            for (var j = 0; j < 4; j++)
            {
                // Box-Muller from the seeded stream.
                var u1 = Math.Max(rng.NextDouble(), 1e-12);
                var u2 = rng.NextDouble();
                var z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                _x[i * 4 + j] = centres[c][j] + spread * (float)z;
            }
        }
    }

    public int Count => _y.Length;

    public TensorShape SampleShape { get; } = TensorShape.Of(4);

    public IReadOnlyList<string> ClassNames { get; } = ["a", "b", "c"];

    public int Label(int index) => _y[index];

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
    {
        for (var i = 0; i < indices.Length; i++) _x.AsSpan(indices[i] * 4, 4).CopyTo(destination.Slice(i * 4, 4));
    }
}

/// <summary>Loads the blob data for any job: train 240, validation 60, test 60 samples.</summary>
public sealed class BlobLoader : IJobDataLoader
{
    public int Loads;

    public JobData Load(TrainingJob job)
    {
        Interlocked.Increment(ref Loads);
        var train = new BlobDataset(240, job.Seed);
        var val = new BlobDataset(60, job.Seed + 1);
        var test = new BlobDataset(60, job.Seed + 2);
        return new JobData(train, val, test, train.ClassNames, null, JobData.ComputeFingerprint(train, val, test));
    }
}

public static class TestJobs
{
    /// <summary>
    /// Starts a parameter server for <paramref name="job"/> in <paramref name="kit"/>'s system and waits until it
    /// is ready; <paramref name="initial"/> = the job's initial parameters (seeded), for hand-computed steps.
    /// </summary>
    public static Akka.Actor.IActorRef StartParameterServer(Akka.TestKit.TestKitBase kit, TrainingJob job, out float[] initial)
    {
        var ps = kit.Sys.ActorOf(DistTrain.Cluster.Actors.ParameterServerActor.Props());
        ps.Tell(new DistTrain.Cluster.Protocol.StartParameterServer(job), kit.TestActor);
        kit.ExpectMsg<DistTrain.Cluster.Protocol.ParameterServerReady>(TimeSpan.FromSeconds(15));
        var model = new Model(job.Model);
        model.InitializeParameters(job.Seed);
        initial = model.Parameters;
        return ps;
    }

    public static ModelSpec Mlp { get; } = new([4],
    [
        new DenseSpec(8), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(3, Initializer.Glorot),
    ]);

    public static TrainingJob Blobs(int epochs = 3, int batch = 32, OptimizerSpec? optimizer = null, string id = "blobs", ulong seed = 7) =>
        new(id, new DataSpec("blobs"), Mlp, LossKind.SoftmaxCrossEntropy, optimizer ?? new OptimizerSpec(OptimizerKind.Adam, 0.01f),
            epochs, batch, seed);
}

/// <summary>
/// Blob data whose training batches from epoch 1 on wait for <see cref="Gate"/>: a worker using it stays
/// inside a step until the test opens the gate, so membership changes land mid-step deterministically.
/// </summary>
public sealed class GatedBlobLoader : IJobDataLoader
{
    public ManualResetEventSlim Gate { get; } = new(false);

    public JobData Load(TrainingJob job)
    {
        var inner = new BlobLoader().Load(job);
        return inner with { Train = new GatedDataset(inner.Train, Gate) };
    }

    private sealed class GatedDataset(IDataset inner, ManualResetEventSlim gate) : IDataset
    {
        public int Count => inner.Count;

        public TensorShape SampleShape => inner.SampleShape;

        public IReadOnlyList<string> ClassNames => inner.ClassNames;

        public int Label(int index) => inner.Label(index);

        public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
        {
            if (ctx.Training && ctx.Epoch >= 1 && !gate.Wait(TimeSpan.FromSeconds(30)))
                throw new TimeoutException("the test never opened the gate");
            inner.CopyInputs(indices, destination, ctx);
        }
    }
}

/// <summary>Files of this repository, found from the test binaries' folder up to DistTrain.sln.</summary>
internal static class Repo
{
    public static string File(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "DistTrain.sln"))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"no DistTrain.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>Runs a program to its end: its exit code and everything it wrote.</summary>
internal static class Command
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, stdout, await stderr);
    }
}
