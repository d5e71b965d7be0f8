using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;

namespace DistTrain.Onnx;

/// <summary>
/// Precomputed feature vectors (N × D floats, row-major) with labels: the frozen-feature cache a head trains
/// on. Stateless after construction, so several workers may read it at once.
/// </summary>
public sealed class FeatureDataset : IDataset
{
    private readonly float[] _features;
    private readonly int[] _labels;
    private readonly int _dim;

    public FeatureDataset(float[] features, int[] labels, int dim, IReadOnlyList<string> classNames)
    {
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "feature dimension must be >= 1");
        if (features.Length != (long)labels.Length * dim)
            throw new ArgumentException($"expected {labels.Length} x {dim} = {(long)labels.Length * dim} features, found {features.Length}");
        _features = features;
        _labels = labels;
        _dim = dim;
        ClassNames = classNames;
        SampleShape = new TensorShape(dim);
    }

    public int Count => _labels.Length;

    public TensorShape SampleShape { get; }

    public IReadOnlyList<string> ClassNames { get; }

    public int Label(int index) => _labels[index];

    public ReadOnlySpan<float> Features(int index) => _features.AsSpan(index * _dim, _dim);

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
    {
        // features (N_all, D) gathered at indices -> destination (n, D)
        for (var i = 0; i < indices.Length; i++)
            _features.AsSpan(indices[i] * _dim, _dim).CopyTo(destination.Slice(i * _dim, _dim));
    }
}
