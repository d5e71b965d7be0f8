using System.Buffers;
using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Training;

/// <summary>
/// A labelled dataset the trainer can draw batches from. Implementations keep samples compactly (bytes
/// for images) and convert per batch into the caller's buffer; augmentation, when any, is applied in
/// <see cref="CopyInputs"/> from (ctx.Seed, ctx.Epoch, sample id) only when ctx.Training is true.
/// </summary>
public interface IDataset
{
    int Count { get; }

    TensorShape SampleShape { get; }

    IReadOnlyList<string> ClassNames { get; }

    int Label(int index);

    /// <summary>Writes the inputs of samples <paramref name="indices"/> into destination (row-major, N × SampleShape.Size).</summary>
    void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx);
}

/// <summary>
/// A view of a dataset restricted to a list of indices (a split). Stateless, so several workers in one
/// process may read the same view concurrently (as long as the inner dataset is stateless too).
/// </summary>
public sealed class DatasetView : IDataset
{
    private readonly IDataset _inner;
    private readonly int[] _indices;

    public DatasetView(IDataset inner, int[] indices)
    {
        _inner = inner;
        _indices = indices;
        foreach (var i in indices)
            if ((uint)i >= (uint)inner.Count) throw new ArgumentOutOfRangeException(nameof(indices), $"index {i} is outside the dataset of {inner.Count} samples");
    }

    public IDataset Inner => _inner;

    public IReadOnlyList<int> Indices => _indices;

    public int Count => _indices.Length;

    public TensorShape SampleShape => _inner.SampleShape;

    public IReadOnlyList<string> ClassNames => _inner.ClassNames;

    public int Label(int index) => _inner.Label(_indices[index]);

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
    {
        var mapped = ArrayPool<int>.Shared.Rent(indices.Length);
        try
        {
            for (var i = 0; i < indices.Length; i++) mapped[i] = _indices[indices[i]];
            _inner.CopyInputs(mapped.AsSpan(0, indices.Length), destination, ctx);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(mapped);
        }
    }
}
