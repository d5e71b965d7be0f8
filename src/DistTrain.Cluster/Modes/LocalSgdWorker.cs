using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Modes;

/// <summary>
/// A worker's side of local SGD: from the parameters it is given (version V), take one optimizer step
/// per local batch on its own copy of the model, then report the change as a pseudo-gradient sum
/// n·(θ_V − θ_local), n = the samples it trained on. The parameter server averages these over all
/// samples and subtracts the result (outer SGD, learning rate 1), i.e. it sets the parameters to the
/// sample-weighted average of the workers' models. With one local step and plain SGD this equals a
/// synchronous step: θ − lr·Σg/Σn, up to float rounding.
/// The local optimizer (the job's) keeps its state (Adam moments) across rounds; it lives only on this
/// worker, and checkpoints take it through <see cref="SaveState"/> (<see cref="WorkerModes"/>). Buffers are
/// allocated once.
/// </summary>
public sealed class LocalSgdWorker
{
    private readonly GradientComputer _computer;
    private readonly Optimizer _optimizer;
    private readonly float[] _local;
    private readonly float[] _mean;
    private readonly float[] _delta;

    public LocalSgdWorker(GradientComputer computer, OptimizerSpec spec)
    {
        _computer = computer;
        var n = computer.Model.ParameterCount;
        _optimizer = Optimizer.Create(spec, n);
        _local = new float[n];
        _mean = new float[n];
        _delta = new float[n];
    }

    /// <summary>
    /// Runs the local steps; returns the pseudo-gradient sum (a buffer reused by the next call) and the
    /// figures of all local batches together.
    /// </summary>
    public (float[] PseudoGradient, BatchResult Result) Run(IDataset data, ReadOnlySpan<int> sampleIds, ReadOnlySpan<int> localSteps, float[] parameters,
        ulong seed, int epoch)
    {
        var model = _computer.Model;
        if (parameters.Length != _local.Length)
            throw new ArgumentException($"local SGD got {parameters.Length} parameters but the replica has {_local.Length}");
        parameters.CopyTo(_local, 0);
        model.ShareParameters(_local);
        var total = default(BatchResult);
        var at = 0;
        foreach (var size in localSteps)
        {
            if (size < 0 || at + size > sampleIds.Length)
                throw new ArgumentException($"local step sizes exceed the {sampleIds.Length} sample ids given");
            if (size == 0) continue;
            var r = _computer.Compute(data, sampleIds.Slice(at, size), seed, epoch);
            at += size;
            total += r;
            GradientMath.ScaleInto(_mean, model.Gradients, 1f / size);
            _optimizer.Step(_local, _mean);
        }
        var count = (float)total.Samples;
        for (var i = 0; i < _delta.Length; i++) _delta[i] = count * (parameters[i] - _local[i]);
        return (_delta, total);
    }

    /// <summary>A copy of the local optimizer's state (moments and step count).</summary>
    public Core.Optimizers.OptimizerState SaveState() => _optimizer.SaveState();

    /// <summary>Loads a saved local optimizer state; an ArgumentException names what does not fit.</summary>
    public void LoadState(Core.Optimizers.OptimizerState state) => _optimizer.LoadState(state);

    /// <summary>The parameter server's outer step: θ ← θ − mean pseudo-gradient (SGD with learning rate 1).</summary>
    public static void OuterStep(Span<float> parameters, ReadOnlySpan<float> meanPseudoGradient)
    {
        if (parameters.Length != meanPseudoGradient.Length) throw new ArgumentException("parameter and pseudo-gradient lengths differ");
        for (var i = 0; i < parameters.Length; i++) parameters[i] -= meanPseudoGradient[i];
    }
}
