using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Randomness;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;

namespace DistTrain.Core.Tests.Transfer;

/// <summary>Small seeded 1×6×6 images in three classes; counts how often each sample's input is read.</summary>
internal sealed class CountingImages : IDataset
{
    private readonly float[] _x;
    private readonly int[] _labels;

    public CountingImages(int count, ulong seed)
    {
        _x = new float[count * 36];
        _labels = new int[count];
        Reads = new int[count];
        var rng = new SplitMix64(seed);
        for (var i = 0; i < count; i++)
        {
            var c = i % 3;
            _labels[i] = c;
            for (var p = 0; p < 36; p++)
            {
                // Class c brightens row band c; noise everywhere.
                var band = p / 6 / 2 == c ? 1f : 0f;
                _x[i * 36 + p] = band + 0.3f * (float)(rng.NextDouble() - 0.5);
            }
        }
    }

    public int[] Reads { get; }

    public int Count => _labels.Length;

    public TensorShape SampleShape { get; } = TensorShape.Of(1, 6, 6);

    public IReadOnlyList<string> ClassNames { get; } = ["top", "middle", "bottom"];

    public int Label(int index) => _labels[index];

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
    {
        for (var i = 0; i < indices.Length; i++)
        {
            Reads[indices[i]]++;
            _x.AsSpan(indices[i] * 36, 36).CopyTo(destination.Slice(i * 36, 36));
        }
    }
}

public sealed class FrozenLayerTests
{
    // conv → relu → pool → flatten → dense 16 → relu | dense 8 → relu → dense 3
    private static ModelSpec Net(bool freezePrefix, bool dropoutInPrefix = false)
    {
        LayerSpec F(LayerSpec l) => freezePrefix ? l with { Trainable = false } : l;
        var layers = new List<LayerSpec>
        {
            F(new Conv2DSpec(4, 3, Padding: 1)), new ActivationSpec(ActivationKind.ReLU), new MaxPool2DSpec(2), new FlattenSpec(),
            F(new DenseSpec(16)), new ActivationSpec(ActivationKind.ReLU),
        };
        if (dropoutInPrefix) layers.Insert(3, new DropoutSpec(0.25f));
        layers.AddRange([new DenseSpec(8), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(3, Initializer.Glorot)]);
        return new ModelSpec([1, 6, 6], layers);
    }

    private static (Trainer Trainer, GradientComputer Computer) NewTrainer(ModelSpec spec, bool cache, int epochs = 3)
    {
        var model = new Model(spec);
        model.InitializeParameters(5);
        var computer = new GradientComputer(model, Loss.Create(LossKind.SoftmaxCrossEntropy));
        if (cache) Assert.True(computer.EnableFeatureCache());
        var optimizer = Optimizer.Create(new OptimizerSpec(OptimizerKind.Adam, 0.01f), model.TrainableParameterCount);
        return (new Trainer(computer, optimizer, new TrainingOptions(epochs, 16, Seed: 3)), computer);
    }

    [Fact]
    public void A_spec_without_trainable_flags_keeps_its_json_and_hash_and_the_layer_order_layout()
    {
        var spec = Net(freezePrefix: false);
        Assert.DoesNotContain("trainable", spec.ToJson());
        var model = new Model(spec);
        Assert.Equal(0, model.FrozenParameterCount);
        Assert.Equal(model.ParameterCount, model.TrainableParameterCount);
        var expected = 0;
        for (var i = 0; i < model.Layers.Count; i++)
        {
            Assert.Equal(expected, model.ParameterOffset(i));
            expected += model.Layers[i].ParameterCount;
        }
    }

    [Fact]
    public void Freezing_a_layer_changes_the_spec_hash()
    {
        var free = Net(freezePrefix: false);
        var frozen = DistTrain.Core.Models.Transfer.Freeze(free, "4");
        Assert.NotEqual(free.Hash, frozen.Hash);
        Assert.Contains("\"trainable\":false", frozen.ToJson());
        Assert.Equal(frozen.Hash, ModelSpec.FromJson(frozen.ToJson()).Hash);
    }

    [Fact]
    public void A_frozen_middle_layer_moves_to_the_front_so_the_trainable_parameters_are_one_range()
    {
        var spec = DistTrain.Core.Models.Transfer.Freeze(Net(freezePrefix: false), "dense_4");
        var model = new Model(spec);
        var dense = model.Layers[4];
        Assert.False(dense.Trainable);
        Assert.Equal(dense.ParameterCount, model.FrozenParameterCount);
        Assert.Equal(0, model.ParameterOffset(4));
        Assert.Equal(model.FrozenParameterCount, model.ParameterOffset(0)); // the conv, trainable, follows
        Assert.Equal(model.ParameterCount - dense.ParameterCount, model.TrainableParameterCount);
    }

    [Fact]
    public void Frozen_layers_get_no_gradient_and_keep_their_values_while_the_head_trains()
    {
        var (trainer, _) = NewTrainer(Net(freezePrefix: true), cache: false);
        var model = trainer.Model;
        var before = (float[])model.Parameters.Clone();
        var data = new CountingImages(48, 1);
        trainer.Step(data, [0, 1, 2, 3, 4, 5], epoch: 0);
        var f = model.FrozenParameterCount;
        Assert.True(f > 0);
        Assert.All(model.Gradients.AsSpan(0, f).ToArray(), g => Assert.Equal(0f, g));
        Assert.Contains(model.TrainableGradients.ToArray(), g => g != 0f);
        trainer.Run(data, null);
        Assert.Equal(before.AsSpan(0, f).ToArray(), model.Parameters.AsSpan(0, f).ToArray());
        Assert.False(before.AsSpan(f).SequenceEqual(model.Parameters.AsSpan(f)));
    }

    [Fact]
    public void Cached_frozen_features_train_bit_identically_and_run_the_prefix_once_per_sample()
    {
        var spec = Net(freezePrefix: true);
        var plainData = new CountingImages(60, 2);
        var cachedData = new CountingImages(60, 2);
        var (plain, _) = NewTrainer(spec, cache: false);
        var (cached, computer) = NewTrainer(spec, cache: true);
        plain.Run(plainData, null);
        cached.Run(cachedData, null);

        Assert.Equal(plain.Model.Parameters, cached.Model.Parameters); // exact float equality, element by element
        Assert.Equal(60, computer.FeatureCache!.PrefixForwards);
        Assert.All(cachedData.Reads, r => Assert.Equal(1, r));
        Assert.All(plainData.Reads, r => Assert.Equal(3, r));
        Assert.Equal(6, computer.FeatureCache.PrefixLength); // conv, relu, pool, flatten, dense, relu
    }

    [Fact]
    public void Features_cached_from_a_one_sample_batch_equal_those_of_a_large_batch()
    {
        // A frozen dense layer 3136 -> 128 (the fashion CNN's): OpenBLAS multiplies a 1-row matrix with another
        // kernel, which rounds differently.
        var spec = new ModelSpec([3136], [new DenseSpec(128) { Trainable = false }, new ActivationSpec(ActivationKind.ReLU), new DenseSpec(3)]);
        var rng = new SplitMix64(8);
        var x = new float[12 * 3136];
        for (var i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var data = new Rows(x, 3136);
        GradientComputer New(bool cache)
        {
            var model = new Model(spec);
            model.InitializeParameters(2);
            var c = new GradientComputer(model, Loss.Create(LossKind.SoftmaxCrossEntropy));
            if (cache) Assert.True(c.EnableFeatureCache());
            return c;
        }
        int[] batch = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        var cached = New(cache: true);
        cached.Compute(data, [0], seed: 1, epoch: 0); // sample 0 alone: its features come from a short batch
        cached.Compute(data, batch, seed: 1, epoch: 1);
        var plain = New(cache: false);
        plain.Compute(data, batch, seed: 1, epoch: 1);
        Assert.Equal(plain.Model.Gradients, cached.Model.Gradients);
    }

    /// <summary>Rows of a matrix as samples; labels cycle through three classes.</summary>
    private sealed class Rows(float[] x, int width) : IDataset
    {
        public int Count => x.Length / width;

        public TensorShape SampleShape { get; } = TensorShape.Of(width);

        public IReadOnlyList<string> ClassNames { get; } = ["a", "b", "c"];

        public int Label(int index) => index % 3;

        public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx)
        {
            for (var i = 0; i < indices.Length; i++) x.AsSpan(indices[i] * width, width).CopyTo(destination.Slice(i * width, width));
        }
    }

    [Fact]
    public void No_feature_cache_when_nothing_is_frozen_or_a_dropout_layer_sits_in_the_frozen_prefix()
    {
        Assert.Null(FeatureCache.For(new Model(Net(freezePrefix: false))));
        Assert.Null(FeatureCache.For(new Model(Net(freezePrefix: true, dropoutInPrefix: true))));
        Assert.NotNull(FeatureCache.For(new Model(Net(freezePrefix: true))));
    }

    [Fact]
    public void A_feature_cache_over_its_size_limit_falls_back_to_computing_every_time()
    {
        var model = new Model(Net(freezePrefix: true));
        model.InitializeParameters(5);
        var computer = new GradientComputer(model, Loss.Create(LossKind.SoftmaxCrossEntropy));
        Assert.True(computer.EnableFeatureCache(maxBytes: 100));
        var data = new CountingImages(30, 3);
        computer.Compute(data, [0, 1, 2], 1, 0);
        computer.Compute(data, [0, 1, 2], 1, 1);
        Assert.Equal(0, computer.FeatureCache!.PrefixForwards);
        Assert.Equal(2, data.Reads[0]);
    }
}
