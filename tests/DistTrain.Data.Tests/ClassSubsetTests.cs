using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;

namespace DistTrain.Data.Tests;

public sealed class ClassSubsetTests
{
    /// <summary>Ten samples, sample i has label i % 5 and the single input value i.</summary>
    private sealed class Numbers : IDataset
    {
        public int Count => 10;

        public TensorShape SampleShape { get; } = TensorShape.Of(1);

        public IReadOnlyList<string> ClassNames { get; } = ["zero", "one", "two", "three", "four"];

        public int Label(int index) => index % 5;

        public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
        {
            for (var i = 0; i < indices.Length; i++) destination[i] = indices[i];
        }
    }

    [Fact]
    public void A_class_subset_keeps_only_those_classes_relabelled_in_the_given_order_with_their_names()
    {
        var subset = new ClassSubset(new Numbers(), [3, 1]);
        Assert.Equal(4, subset.Count);
        Assert.Equal(["three", "one"], subset.ClassNames);
        var x = new float[4];
        subset.CopyInputs([0, 1, 2, 3], x, BatchContext.Inference(4));
        Assert.Equal([1f, 3f, 6f, 8f], x); // inner samples 1, 3, 6, 8 in their order
        Assert.Equal([1, 0, 1, 0], Enumerable.Range(0, 4).Select(subset.Label).ToArray());
    }

    [Fact]
    public void Class_lists_parse_ranges_and_lists_and_refuse_garbage()
    {
        Assert.Equal([5, 6, 7, 8, 9], ClassSubset.Parse("5-9"));
        Assert.Equal([0, 2, 4, 5], ClassSubset.Parse("0,2, 4-5"));
        Assert.Throws<FormatException>(() => ClassSubset.Parse("a-b"));
        Assert.Throws<FormatException>(() => ClassSubset.Parse(""));
    }

    [Fact]
    public void A_class_subset_refuses_a_class_the_data_does_not_have_or_a_repeated_class()
    {
        var e = Assert.Throws<ArgumentException>(() => new ClassSubset(new Numbers(), [2, 7]));
        Assert.Contains("class 7", e.Message);
        Assert.Throws<ArgumentException>(() => new ClassSubset(new Numbers(), [2, 2]));
    }
}
