using DistTrain.Core.Models;

namespace DistTrain.Core.Tests.Models;

public class ModelSpecTests
{
    internal static ModelSpec EveryLayerKind() => new([1, 12, 10],
    [
        new Conv2DSpec(4, 3, Stride: 1, Padding: 1, Init: Initializer.Glorot) { Name = "conv_a" },
        new ActivationSpec(ActivationKind.Tanh),
        new SpatialDropoutSpec(0.25f),
        new MaxPool2DSpec(2),
        new Conv2DSpec(6, 3, Stride: 2, Padding: 0),
        new ActivationSpec(ActivationKind.ReLU),
        new MaxPool2DSpec(2, Stride: 1) { Name = "pool_overlap" },
        new FlattenSpec(),
        new DropoutSpec(0.5f),
        new DenseSpec(8, Initializer.Glorot),
        new ActivationSpec(ActivationKind.Sigmoid),
        new DenseSpec(3),
        new ActivationSpec(ActivationKind.Softmax) { Name = "probs" },
    ]);

    [Fact]
    public void ModelSpec_json_round_trip_keeps_every_layer_kind_and_setting()
    {
        var spec = EveryLayerKind();
        var json = spec.ToJson();
        var back = ModelSpec.FromJson(json, "round-trip");
        Assert.Equal(spec.InputShape, back.InputShape);
        Assert.Equal(spec.Layers.Count, back.Layers.Count);
        for (var i = 0; i < spec.Layers.Count; i++)
            Assert.Equal(spec.Layers[i], back.Layers[i]); // record value equality, type included
        Assert.Equal(json, back.ToJson());
        Assert.Contains("\"type\":\"spatial_dropout\"", json);
        Assert.Contains("\"kernel_size\":3", json);
    }

    [Fact]
    public void ModelSpec_hash_is_stable_across_a_round_trip_and_changes_with_the_architecture()
    {
        var spec = EveryLayerKind();
        var hash = spec.Hash;
        Assert.Matches("^[0-9a-f]{64}$", hash);
        Assert.Equal(hash, ModelSpec.FromJson(spec.ToJson(indented: true)).Hash);
        Assert.Equal(hash, EveryLayerKind().Hash);
        var layers = EveryLayerKind().Layers.ToList();
        layers[4] = new Conv2DSpec(7, 3, Stride: 2, Padding: 0);
        Assert.NotEqual(hash, new ModelSpec([1, 12, 10], layers).Hash);
        Assert.NotEqual(hash, new ModelSpec([1, 12, 11], EveryLayerKind().Layers).Hash);
    }

    [Theory]
    [InlineData("{\"input_shape\":[4],\"layers\":[")]
    [InlineData("{\"input_shape\":[4],\"layers\":[{\"type\":\"lstm\",\"units\":5}]}")]
    [InlineData("{\"input_shape\":[4],\"layers\":[{\"type\":\"dense\",\"unitz\":5}]}")]
    [InlineData("not json at all")]
    public void ModelSpec_from_malformed_json_throws_a_format_exception_naming_the_source(string json)
    {
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json, "specs/broken.json"));
        Assert.Contains("specs/broken.json", e.Message);
    }

    [Fact]
    public void LayerFactory_builds_the_layer_type_each_spec_names()
    {
        var model = new Model(EveryLayerKind());
        string[] kinds = ["Conv2D", "Tanh", "SpatialDropout", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dropout", "Dense", "Sigmoid", "Dense", "Softmax"];
        Assert.Equal(kinds, model.Layers.Select(l => l.Kind).ToArray());
        Assert.Equal("conv_a", model.Layers[0].Name);
        Assert.Equal("tanh_1", model.Layers[1].Name);
        Assert.Equal("spatial_dropout_2", model.Layers[2].Name);
        var pool = Assert.IsType<DistTrain.Core.Layers.MaxPool2D>(model.Layers[3]);
        Assert.Equal((2, 2), (pool.PoolSize, pool.Stride)); // stride defaults to the pool size
        var overlap = Assert.IsType<DistTrain.Core.Layers.MaxPool2D>(model.Layers[6]);
        Assert.Equal((2, 1), (overlap.PoolSize, overlap.Stride));
        var conv = Assert.IsType<DistTrain.Core.Layers.Conv2D>(model.Layers[4]);
        Assert.Equal((6, 3, 2, 0), (conv.Filters, conv.KernelSize, conv.Stride, conv.Padding));
        Assert.Equal(0.5f, Assert.IsType<DistTrain.Core.Layers.Dropout>(model.Layers[8]).Rate);
        Assert.Equal(0.25f, Assert.IsType<DistTrain.Core.Layers.SpatialDropout>(model.Layers[2]).Rate);
    }
}
