using DistTrain.Cluster.Compression;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Modes;

/// <summary>
/// What a worker computes for one <see cref="ComputeGradients"/> under the job's communication options:
/// a plain gradient sum, or local SGD's pseudo-gradient when the message lists local steps; then, when
/// the job compresses gradients, the 16-bit encoding with error feedback. The returned float buffer is
/// the replica's own (sent without a copy, as in synchronous mode); it is empty when compressed.
/// </summary>
public sealed class WorkerModes
{
    private readonly GradientComputer _computer;
    private readonly Core.Optimizers.OptimizerSpec _optimizer;
    private readonly ErrorFeedbackEncoder? _encoder;
    private LocalSgdWorker? _localSgd;
    private readonly bool _localSgdJob;
    private readonly float[]? _send; // the trainable range of the gradients, when some layers are frozen

    public WorkerModes(TrainingJob job, GradientComputer computer)
    {
        _computer = computer;
        _optimizer = job.Optimizer;
        var comm = CommunicationSpec.Of(job);
        _localSgdJob = comm.Mode == TrainingMode.LocalSgd;
        if (comm.Compression != GradientCompression.None) _encoder = new ErrorFeedbackEncoder(comm.Compression);
        var model = computer.Model;
        _send = model.FrozenParameterCount > 0 ? new float[model.TrainableParameterCount] : null;
    }

    /// <summary>The parameter version of the last round computed, -1 before the first.</summary>
    public long LastVersion { get; private set; } = -1;

    /// <summary>The worker's own state now: what the checkpoint keeps for this worker's shard.</summary>
    public (Core.Optimizers.OptimizerState? Optimizer, float[]? Residual) SaveState()
    {
        var residual = _encoder is { Residual.Length: > 0 } e ? e.Residual.ToArray() : null;
        return (_localSgd?.SaveState(), residual);
    }

    /// <summary>
    /// Loads a resumed job's state for this worker before its first round; an ArgumentException names what does
    /// not fit this job (another optimizer, another parameter count), and then nothing is loaded.
    /// </summary>
    public void LoadState(Core.Optimizers.OptimizerState? optimizer, float[]? residual)
    {
        if (LastVersion >= 0) throw new InvalidOperationException("a worker's state can be restored only before its first round");
        LocalSgdWorker? local = null;
        if (optimizer is not null)
        {
            if (!_localSgdJob) throw new ArgumentException("the saved state holds a local-SGD optimizer but this job is not local SGD");
            local = new LocalSgdWorker(_computer, _optimizer);
            local.LoadState(optimizer);
        }
        if (residual is not null)
        {
            if (_encoder is null) throw new ArgumentException("the saved state holds an error-feedback residual but this job does not compress gradients");
            var expected = _send?.Length ?? _computer.Model.ParameterCount;
            if (residual.Length != expected)
                throw new ArgumentException($"the saved residual has {residual.Length} values but this worker sends {expected}");
        }
        if (local is not null) _localSgd = local;
        if (residual is not null) _encoder!.RestoreResidual(residual);
    }

    public (float[] Gradient, CompressedTensor? Compressed, BatchResult Result) Compute(IDataset train, ComputeGradients msg)
    {
        LastVersion = msg.Version;
        float[] gradient;
        BatchResult result;
        if (msg.LocalSteps is { } steps)
        {
            _localSgd ??= new LocalSgdWorker(_computer, _optimizer);
            (gradient, result) = _localSgd.Run(train, msg.SampleIds, steps, msg.Parameters, msg.Seed, msg.Epoch);
        }
        else
        {
            result = _computer.Compute(train, msg.SampleIds, msg.Seed, msg.Epoch);
            // Only the trainable range travels: frozen layers' gradients are never computed nor sent.
            gradient = FrozenParameters.TrainableGradients(_computer.Model, _send);
        }
        if (_encoder is null) return (gradient, null, result);
        return ([], _encoder.Encode(gradient), result);
    }
}

/// <summary>
/// The parameter server's decode step for compressed gradients: one float buffer per shard slot (the
/// aggregator keeps a reference to each shard's gradient until the step completes), allocated once.
/// </summary>
public sealed class GradientDecoder
{
    private float[][] _buffers = [];

    /// <summary>The message's gradient as float32: its own buffer, or the decoded 16-bit payload.</summary>
    public float[] Decode(GradientsComputed msg, int parameterCount)
    {
        if (msg.Compressed is not { } c) return msg.Gradient;
        var slot = msg.ShardIndex;
        if (slot < 0) return msg.Gradient;
        if (slot >= _buffers.Length) Array.Resize(ref _buffers, slot + 1);
        // A payload of the wrong length decodes into a buffer of its own length: the aggregator refuses it by length.
        var buffer = _buffers[slot] is { } b && b.Length == c.Bits.Length ? b : _buffers[slot] = new float[c.Bits.Length];
        HalfPrecision.Decode(c.Bits, buffer, c.Kind);
        return buffer;
    }
}
