using DistTrain.Core.Checkpoints;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using T = DistTrain.Core.Models.Transfer;

namespace DistTrain.Core.Tests.Transfer;

public sealed class TransferSpecTests
{
    // conv_0 relu_1 pool_2 dropout_3 flatten_4 dense_5 relu_6 dense_7
    private static readonly ModelSpec Base = new([1, 6, 6],
    [
        new Conv2DSpec(4, 3, Padding: 1), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2), new DropoutSpec(0.25f), new FlattenSpec(),
        new DenseSpec(16), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(5, Initializer.Glorot),
    ]);

    private static Checkpoint BaseCheckpoint(ulong seed)
    {
        var model = new Model(Base);
        model.InitializeParameters(seed);
        return new Checkpoint(Base, model.Parameters, null, null, new CheckpointMetadata(1, 10, seed, ["a", "b", "c", "d", "e"], LossKind.SoftmaxCrossEntropy));
    }

    [Fact]
    public void A_new_head_replaces_the_last_dense_layer_and_drops_dropout_from_the_kept_base()
    {
        var t = T.WithNewHead(Base, classes: 3, hidden: [8]);
        var kinds = t.Spec.Layers.Select(l => l.GetType().Name).ToArray();
        Assert.Equal(["Conv2DSpec", "ActivationSpec", "MaxPool2DSpec", "FlattenSpec", "DenseSpec", "ActivationSpec", "DenseSpec", "ActivationSpec", "DenseSpec"], kinds);
        Assert.Equal(["conv2d_0", "relu_1", "maxpool2d_2", "flatten_4", "dense_5", "relu_6"], t.BaseLayers);
        Assert.Equal(8, ((DenseSpec)t.Spec.Layers[6]).Units);
        Assert.Equal(3, ((DenseSpec)t.Spec.Layers[^1]).Units);
        Assert.Equal(3, new Model(t.Spec).OutputShape.Size);
    }

    [Fact]
    public void Head_layer_names_never_collide_with_base_layer_names()
    {
        var named = new ModelSpec([4], [new DenseSpec(6) { Name = "head_output" }, new DenseSpec(2)]);
        var t = T.WithNewHead(named, classes: 2, hidden: []);
        Assert.Equal(["head_output", "head_output_2"], t.Spec.Layers.Select(l => l.Name ?? "").ToArray());
    }

    [Fact]
    public void Freeze_selects_by_range_index_name_and_base_and_refuses_unknown_names()
    {
        var t = T.WithNewHead(Base, classes: 3, hidden: [8]);
        Assert.Equal([true, true, false, false, false, false, false, false, true], T.SelectLayers(t.Spec, "0-1, head_output"));
        Assert.Equal([true, true, true, true, true, true, false, false, false], T.SelectLayers(t.Spec, "base", t.BaseLayers));
        Assert.All(T.SelectLayers(t.Spec, "none"), Assert.False);
        var e = Assert.Throws<ArgumentException>(() => T.SelectLayers(t.Spec, "dense_99"));
        Assert.Contains("dense_99", e.Message);
        Assert.Throws<ArgumentException>(() => T.SelectLayers(t.Spec, "3-12"));
    }

    [Fact]
    public void Loading_a_base_copies_the_named_layers_and_hashes_what_it_copied()
    {
        var t = T.WithNewHead(Base, classes: 3, hidden: []);
        var spec = T.Freeze(t.Spec, "base", t.BaseLayers);
        var a = new Model(spec);
        a.InitializeParameters(9);
        var head = a.Parameters.AsSpan(a.ParameterOffset(a.Layers.Count - 1), a.Layers[^1].ParameterCount).ToArray();
        var ck = BaseCheckpoint(4);
        var sha = T.LoadBase(a, ck);

        var donor = new Model(Base);
        for (var i = 0; i < a.Layers.Count - 1; i++)
        {
            var d = donor.Layers.Single(l => l.Name == a.Layers[i].Name);
            Assert.Equal(ck.Parameters.AsSpan(donor.ParameterOffset(d.Index), d.ParameterCount).ToArray(),
                a.Parameters.AsSpan(a.ParameterOffset(i), a.Layers[i].ParameterCount).ToArray());
        }
        Assert.Equal(head, a.Parameters.AsSpan(a.ParameterOffset(a.Layers.Count - 1), head.Length).ToArray()); // the new head keeps its seeded values
        Assert.Equal(sha, T.LoadBase(new Model(spec), ck));
        Assert.NotEqual(sha, T.LoadBase(new Model(spec), BaseCheckpoint(5)));
    }

    [Fact]
    public void Loading_a_base_whose_layer_has_another_shape_names_the_layer()
    {
        var other = new ModelSpec([1, 6, 6], [new Conv2DSpec(8, 3, Padding: 1) { Name = "conv2d_0" }, new FlattenSpec(), new DenseSpec(3)]);
        var e = Assert.Throws<ArgumentException>(() => T.LoadBase(new Model(other), BaseCheckpoint(4)));
        Assert.Contains("conv2d_0", e.Message);
    }
}
