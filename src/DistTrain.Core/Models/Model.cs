using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Randomness;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Models;

/// <summary>
/// A sequential model built from a <see cref="ModelSpec"/>. All parameters live in one flat buffer
/// (<see cref="Parameters"/>) and all gradients in one flat buffer of the same layout
/// (<see cref="Gradients"/>); layers hold views into them. Activations are kept per layer for backward,
/// in buffers that grow to the largest batch seen and are then reused.
/// </summary>
public sealed class Model
{
    private readonly Layer[] _layers;
    private readonly int[] _offsets;
    private readonly float[]?[] _activations; // _activations[i] = input of layer i; [L] = output
    private readonly bool[] _reshapes; // layer i only reshapes (Flatten): its output shares its input's buffer
    private float[]? _gradA;
    private float[]? _gradB;
    private int _lastBatch = -1;

    public Model(ModelSpec spec, IGemm? gemm = null)
    {
        Spec = spec ?? throw new ArgumentNullException(nameof(spec));
        Gemm = gemm ?? Kernels.Gemm.Default;
        if (spec.Layers.Count == 0) throw new ArgumentException("A model spec needs at least one layer.");
        try
        {
            InputShape = new TensorShape(spec.InputShape);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Model spec input_shape: {e.Message}", e);
        }
        _layers = new Layer[spec.Layers.Count];
        _offsets = new int[spec.Layers.Count + 1];
        var shape = InputShape;
        for (var i = 0; i < _layers.Length; i++)
        {
            Layer layer;
            try
            {
                layer = LayerFactory.Create(spec.Layers[i], shape, i);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Model spec layer {i} ({spec.Layers[i].GetType().Name.Replace("Spec", "")}) does not fit input {shape}: {e.Message}", e);
            }
            layer.Index = i;
            layer.Trainable = spec.Layers[i].Trainable != false;
            _layers[i] = layer;
            shape = layer.OutputShape;
        }
        // Layout: the frozen layers' parameters first, then the trainable ones, each group in layer order.
        // With nothing frozen, or a frozen prefix, that is plain layer order; in every case the trainable
        // parameters are one contiguous range [FrozenParameterCount, ParameterCount), which is all the
        // optimizer, the parameter server and the messages see.
        long total = 0;
        for (var pass = 0; pass < 2; pass++)
        {
            for (var i = 0; i < _layers.Length; i++)
            {
                if (_layers[i].Trainable != (pass == 1)) continue;
                _offsets[i] = (int)total;
                total += _layers[i].ParameterCount;
                if (total > int.MaxValue) throw new ArgumentException("The model has more than 2^31 parameters.");
            }
            if (pass == 0) FrozenParameterCount = (int)total;
        }
        _offsets[^1] = (int)total;
        OutputShape = shape;
        Parameters = new float[total];
        Gradients = new float[total];
        for (var i = 0; i < _layers.Length; i++)
        {
            var len = _layers[i].ParameterCount;
            _layers[i].Bind(Parameters.AsMemory(_offsets[i], len), Gradients.AsMemory(_offsets[i], len));
        }
        _activations = new float[]?[_layers.Length + 1];
        // Row-major data is already flat: a Flatten layer's output is its input, so it shares the buffer and
        // Forward/Backward skip it instead of copying the batch (a pass over N × C·H·W floats each way).
        _reshapes = new bool[_layers.Length];
        for (var i = 0; i < _layers.Length; i++) _reshapes[i] = _layers[i] is Flatten;
        var names = new HashSet<string>();
        foreach (var l in _layers)
            if (!names.Add(l.Name)) throw new ArgumentException($"Model spec has two layers named '{l.Name}'; layer names must be unique.");
    }

    public ModelSpec Spec { get; }

    public IGemm Gemm { get; }

    public IReadOnlyList<Layer> Layers => _layers;

    public TensorShape InputShape { get; }

    public TensorShape OutputShape { get; }

    /// <summary>The flat parameter buffer (all layers, in order).</summary>
    public float[] Parameters { get; private set; }

    /// <summary>
    /// Makes the layers read their parameters from <paramref name="external"/> (same layout) instead of
    /// this model's own buffer, without copying: a worker replica reads the parameters it was sent in
    /// place. The caller guarantees nobody writes them while this model computes. Gradients stay private.
    /// </summary>
    public void ShareParameters(float[] external)
    {
        ArgumentNullException.ThrowIfNull(external);
        if (external.Length != Parameters.Length)
            throw new ArgumentException($"Cannot share {external.Length} parameters with a model of {Parameters.Length}.");
        if (ReferenceEquals(external, Parameters)) return;
        for (var i = 0; i < _layers.Length; i++)
        {
            var len = _layers[i].ParameterCount;
            _layers[i].Bind(external.AsMemory(_offsets[i], len), Gradients.AsMemory(_offsets[i], len));
        }
        Parameters = external;
    }

    /// <summary>The flat gradient buffer, same layout as <see cref="Parameters"/>.</summary>
    public float[] Gradients { get; }

    public int ParameterCount => Parameters.Length;

    /// <summary>
    /// Parameters of the layers the spec freezes (<c>"trainable": false</c>); they lead the flat buffer and
    /// get no gradient. 0 when nothing is frozen.
    /// </summary>
    public int FrozenParameterCount { get; }

    /// <summary>Parameters that train: the range [FrozenParameterCount, ParameterCount) of the flat buffers.</summary>
    public int TrainableParameterCount => Parameters.Length - FrozenParameterCount;

    /// <summary>The trainable range of <see cref="Parameters"/> (all of it when nothing is frozen).</summary>
    public Span<float> TrainableParameters => Parameters.AsSpan(FrozenParameterCount);

    /// <summary>The trainable range of <see cref="Gradients"/>; the frozen range stays zero.</summary>
    public Span<float> TrainableGradients => Gradients.AsSpan(FrozenParameterCount);

    /// <summary>Offset of layer i's slice in the flat buffers.</summary>
    public int ParameterOffset(int layerIndex) => _offsets[layerIndex];

    /// <summary>Fills every layer's parameters from a generator seeded with <paramref name="seed"/>.</summary>
    public void InitializeParameters(ulong seed)
    {
        for (var i = 0; i < _layers.Length; i++)
        {
            var len = _layers[i].ParameterCount;
            if (len == 0) continue;
            var rng = new SplitMix64(CounterRandom.Hash(seed, 0x1A7E5, (ulong)i)).ToSystemRandom();
            _layers[i].InitializeParameters(Parameters.AsSpan(_offsets[i], len), rng);
        }
    }

    public void ZeroGradients() => Array.Clear(Gradients);

    /// <summary>
    /// The buffer <see cref="Forward"/> reads the batch from, sized for <paramref name="batchSize"/> samples
    /// (N × input). Writing a batch here and passing this span to Forward saves copying it; the span is
    /// valid until the next call with a larger batch.
    /// </summary>
    public Span<float> InputBuffer(int batchSize)
    {
        if (batchSize <= 0) throw new ArgumentException($"Batch size must be >= 1 (got {batchSize}).");
        EnsureBuffers(batchSize);
        return _activations[0].AsSpan(0, batchSize * InputShape.Size);
    }

    /// <summary>x (N, input) -> output (N, output). The returned span is valid until the next Forward.</summary>
    public ReadOnlySpan<float> Forward(ReadOnlySpan<float> input, in BatchContext ctx) => ForwardLayers(0, _layers.Length, input, ctx);

    /// <summary>
    /// The buffer that holds layer <paramref name="layer"/>'s input (<c>Layers.Count</c>: the model's output)
    /// for <paramref name="batchSize"/> samples. Writing there and passing the span to
    /// <see cref="ForwardLayers"/> saves a copy; valid until the next call with a larger batch.
    /// </summary>
    public Span<float> ActivationBuffer(int layer, int batchSize)
    {
        if ((uint)layer > (uint)_layers.Length) throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} is outside 0..{_layers.Length}");
        if (batchSize <= 0) throw new ArgumentException($"Batch size must be >= 1 (got {batchSize}).");
        EnsureBuffers(batchSize);
        return _activations[layer].AsSpan(0, batchSize * WidthAt(layer));
    }

    /// <summary>
    /// Runs layers [<paramref name="from"/>, <paramref name="to"/>) on <paramref name="input"/>, the input of
    /// layer <paramref name="from"/>: x (N, in of from) -> (N, out of to − 1). Running to the end makes a
    /// following <see cref="Backward"/> valid as long as every layer it reaches ran. The span is valid until the next Forward.
    /// </summary>
    public ReadOnlySpan<float> ForwardLayers(int from, int to, ReadOnlySpan<float> input, in BatchContext ctx)
    {
        if (from < 0 || to > _layers.Length || from >= to) throw new ArgumentOutOfRangeException(nameof(from), $"layers [{from}, {to}) are not a range of this model's {_layers.Length} layers");
        var n = ctx.BatchSize;
        if (n <= 0) throw new ArgumentException($"Batch size must be >= 1 (got {n}).");
        var inLen = n * WidthAt(from);
        if (input.Length < inLen)
            throw new ArgumentException($"Input holds {input.Length} values but a batch of {n} inputs to layer {from} ({WidthAt(from)} values each) needs {inLen}.");
        EnsureBuffers(n);
        var inputBuffer = _activations[from]!;
        // Already there when the caller filled InputBuffer(n) / ActivationBuffer(from, n).
        if (!Unsafe.AreSame(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetArrayDataReference(inputBuffer)))
            input[..inLen].CopyTo(inputBuffer);
        for (var i = from; i < to; i++)
        {
            if (_reshapes[i]) continue;
            var l = _layers[i];
            l.Forward(ctx, _activations[i].AsSpan(0, n * l.InputShape.Size), _activations[i + 1].AsSpan(0, n * l.OutputShape.Size), Gemm);
        }
        _lastBatch = to == _layers.Length ? n : -1;
        return _activations[to].AsSpan(0, n * WidthAt(to));
    }

    private int WidthAt(int layer) => layer == 0 ? InputShape.Size : _layers[layer - 1].OutputShape.Size;

    /// <summary>
    /// Index of the first layer whose parameters train; the layers before it are frozen or hold no parameters,
    /// so <see cref="Backward"/> never reaches them. <c>Layers.Count</c> when nothing trains.
    /// </summary>
    public int FirstTrainableLayer
    {
        get
        {
            for (var i = 0; i < _layers.Length; i++)
                if (_layers[i].Trainable && _layers[i].ParameterCount > 0) return i;
            return _layers.Length;
        }
    }

    /// <summary>
    /// Back-propagates dL/d(output) through every layer, accumulating into <see cref="Gradients"/>.
    /// Must follow a Forward with the same context.
    /// </summary>
    public void Backward(ReadOnlySpan<float> outputGradient, in BatchContext ctx)
    {
        var n = ctx.BatchSize;
        if (n != _lastBatch) throw new InvalidOperationException($"Backward for a batch of {n} follows a Forward of {_lastBatch}; call Forward first.");
        var outLen = n * OutputShape.Size;
        if (outputGradient.Length < outLen) throw new ArgumentException($"Output gradient holds {outputGradient.Length} values; {outLen} expected.");
        var first = FirstLayerNeedingInputGradient();
        outputGradient[..outLen].CopyTo(_gradA);
        var dy = _gradA!;
        var dx = _gradB!;
        for (var i = _layers.Length - 1; i >= 0; i--)
        {
            if (_reshapes[i])
            {
                // dL/d(input) of a reshape is dL/d(output), already in dy in the same layout.
                if (i <= first) break;
                continue;
            }
            var l = _layers[i];
            var dxSpan = i > first ? dx.AsSpan(0, n * l.InputShape.Size) : Span<float>.Empty;
            l.Backward(ctx, _activations[i].AsSpan(0, n * l.InputShape.Size), _activations[i + 1].AsSpan(0, n * l.OutputShape.Size),
                dy.AsSpan(0, n * l.OutputShape.Size), dxSpan, Gemm);
            if (i <= first) break;
            (dy, dx) = (dx, dy);
        }
    }

    // Layers before the first trainable one need no input gradient: backward stops there.
    private int FirstLayerNeedingInputGradient()
    {
        for (var i = 0; i < _layers.Length; i++)
            if (_layers[i].Trainable && _layers[i].ParameterCount > 0) return i;
        return _layers.Length - 1;
    }

    private void EnsureBuffers(int n)
    {
        var maxWidth = InputShape.Size;
        for (var i = 0; i <= _layers.Length; i++)
        {
            var width = i == 0 ? InputShape.Size : _layers[i - 1].OutputShape.Size;
            maxWidth = Math.Max(maxWidth, width);
            if (i > 0 && _reshapes[i - 1]) _activations[i] = _activations[i - 1];
            else if (_activations[i] is null || _activations[i]!.Length < n * width) _activations[i] = new float[n * width];
        }
        if (_gradA is null || _gradA.Length < n * maxWidth)
        {
            _gradA = new float[n * maxWidth];
            _gradB = new float[n * maxWidth];
        }
    }

    public ModelSummary Summary() => ModelSummary.Of(this);
}
