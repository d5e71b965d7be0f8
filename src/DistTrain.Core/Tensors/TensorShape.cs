namespace DistTrain.Core.Tensors;

/// <summary>
/// The shape of one sample (the batch dimension is never part of it): <c>[features]</c> for vectors,
/// <c>[C, H, W]</c> for images (row-major, NCHW once batched). Immutable; compares by value.
/// </summary>
public sealed class TensorShape : IEquatable<TensorShape>
{
    private readonly int[] _dims;

    public TensorShape(params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        if (dims.Length == 0) throw new ArgumentException("A tensor shape needs at least one dimension.", nameof(dims));
        long size = 1;
        foreach (var d in dims)
        {
            if (d <= 0) throw new ArgumentException($"Shape [{string.Join(", ", dims)}] has a non-positive dimension; every dimension must be >= 1.", nameof(dims));
            size *= d;
            if (size > int.MaxValue) throw new ArgumentException($"Shape [{string.Join(", ", dims)}] has more than {int.MaxValue} elements.", nameof(dims));
        }
        _dims = (int[])dims.Clone();
        Size = (int)size;
    }

    public static TensorShape Of(params int[] dims) => new(dims);

    /// <summary>Number of elements in one sample.</summary>
    public int Size { get; }

    public int Rank => _dims.Length;

    public int this[int axis] => _dims[axis];

    public ReadOnlySpan<int> Dims => _dims;

    public int[] ToArray() => (int[])_dims.Clone();

    /// <summary>Channels, height, width of an image shape; throws with the shape when it is not rank 3.</summary>
    public (int C, int H, int W) AsImage()
    {
        if (Rank != 3) throw new ArgumentException($"Expected an image shape [C, H, W] but got {this}.");
        return (_dims[0], _dims[1], _dims[2]);
    }

    public bool Equals(TensorShape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);

    public override bool Equals(object? obj) => obj is TensorShape s && Equals(s);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in _dims) h.Add(d);
        return h.ToHashCode();
    }

    public override string ToString() => "[" + string.Join(", ", _dims) + "]";
}
