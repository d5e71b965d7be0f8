using DistTrain.Core.Kernels;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Layers;

/// <summary>
/// One layer: a forward/backward pair over row-major batches. Forward keeps exactly what backward needs
/// (in buffers allocated once and grown only when a larger batch arrives). Parameters and gradients are
/// views into the model's flat buffers, bound once by the model. Backward <b>accumulates</b> (+=) parameter
/// gradients and <b>overwrites</b> the input gradient dx.
/// </summary>
public abstract class Layer
{
    private Memory<float> _parameters;
    private Memory<float> _gradients;

    protected Layer(string name, TensorShape inputShape, TensorShape outputShape)
    {
        Name = name;
        InputShape = inputShape;
        OutputShape = outputShape;
    }

    public string Name { get; }

    /// <summary>Layer type as written in summaries and specs, e.g. "Dense".</summary>
    public abstract string Kind { get; }

    public TensorShape InputShape { get; }

    public TensorShape OutputShape { get; }

    /// <summary>Position in the model (0-based); set by the model, used to decorrelate random streams.</summary>
    public int Index { get; internal set; }

    /// <summary>A frozen layer (Trainable = false) accumulates no parameter gradients.</summary>
    public bool Trainable { get; set; } = true;

    public virtual int ParameterCount => 0;

    /// <summary>True when the layer draws random numbers in training (dropout): its training output is not a fixed function of its input.</summary>
    public virtual bool IsRandomInTraining => false;

    /// <summary>Names, shapes and offsets (relative to this layer's slice) of the parameter tensors.</summary>
    public virtual IReadOnlyList<ParameterTensor> ParameterTensors => [];

    protected Span<float> Parameters => _parameters.Span;

    protected Span<float> Gradients => _gradients.Span;

    internal void Bind(Memory<float> parameters, Memory<float> gradients)
    {
        if (parameters.Length != ParameterCount || gradients.Length != ParameterCount)
            throw new ArgumentException($"Layer {Name} needs {ParameterCount} parameters but was bound to {parameters.Length}/{gradients.Length}.");
        _parameters = parameters;
        _gradients = gradients;
    }

    /// <summary>Writes initial values into this layer's parameter slice (He or Glorot, from the seeded generator).</summary>
    public virtual void InitializeParameters(Span<float> parameters, Random random) { }

    /// <summary>x (N, in) -> y (N, out), N = ctx.BatchSize.</summary>
    public abstract void Forward(in BatchContext ctx, ReadOnlySpan<float> x, Span<float> y, IGemm gemm);

    /// <summary>
    /// Given x and y of the last Forward and dy = dL/dy, accumulates dL/dθ into the gradient view (when
    /// Trainable) and writes dx = dL/dx unless <paramref name="dx"/> is empty (first layer).
    /// </summary>
    public abstract void Backward(in BatchContext ctx, ReadOnlySpan<float> x, ReadOnlySpan<float> y,
        ReadOnlySpan<float> dy, Span<float> dx, IGemm gemm);

    /// <summary>Grows a scratch buffer when a larger batch arrives; never shrinks, so steady state allocates nothing.</summary>
    protected static float[] Ensure(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new float[length];
        return buffer;
    }

    protected static int[] Ensure(ref int[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new int[length];
        return buffer;
    }

    public override string ToString() => $"{Name} ({Kind}) {InputShape} -> {OutputShape}";
}
