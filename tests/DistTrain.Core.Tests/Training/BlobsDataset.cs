using DistTrain.Core.Layers;
using DistTrain.Core.Randomness;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;

namespace DistTrain.Core.Tests.Training;

/// <summary>Three Gaussian blobs in the plane (σ = 0.7 around well separated centres), labels balanced, fully seeded.</summary>
internal sealed class BlobsDataset : IDataset
{
    private static readonly (float X, float Y)[] Centres = [(-2.5f, 0f), (2.5f, 0f), (0f, 3f)];
    private readonly float[] _x;
    private readonly int[] _labels;

    public BlobsDataset(int count, ulong seed)
    {
        _x = new float[2 * count];
        _labels = new int[count];
        var rng = new SplitMix64(seed);
        for (var i = 0; i < count; i++)
        {
            var label = i % 3;
            _labels[i] = label;
            // Box–Muller: two independent standard normals.
            var u1 = 1.0 - rng.NextDouble();
            var u2 = rng.NextDouble();
            var r = Math.Sqrt(-2 * Math.Log(u1));
            _x[2 * i] = Centres[label].X + 0.7f * (float)(r * Math.Cos(2 * Math.PI * u2));
            _x[2 * i + 1] = Centres[label].Y + 0.7f * (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }

    public int Count => _labels.Length;

    public TensorShape SampleShape { get; } = TensorShape.Of(2);

    public IReadOnlyList<string> ClassNames { get; } = ["west", "east", "north"];

    public int Label(int index) => _labels[index];

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
    {
        for (var i = 0; i < indices.Length; i++)
        {
            destination[2 * i] = _x[2 * indices[i]];
            destination[2 * i + 1] = _x[2 * indices[i] + 1];
        }
    }
}

/// <summary>The same inputs with every label moved to the next class: a validation set the model gets worse on as it learns.</summary>
internal sealed class ShiftedLabels(IDataset inner) : IDataset
{
    public int Count => inner.Count;

    public TensorShape SampleShape => inner.SampleShape;

    public IReadOnlyList<string> ClassNames => inner.ClassNames;

    public int Label(int index) => (inner.Label(index) + 1) % inner.ClassNames.Count;

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx) => inner.CopyInputs(indices, destination, ctx);
}
