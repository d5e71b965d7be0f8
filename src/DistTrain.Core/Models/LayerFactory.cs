using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Models;

/// <summary>Turns a <see cref="LayerSpec"/> into a layer for a given input shape.</summary>
public static class LayerFactory
{
    public static Layer Create(LayerSpec spec, TensorShape input, int index)
    {
        var name = spec.Name ?? DefaultName(spec, index);
        return spec switch
        {
            DenseSpec d => new Dense(name, input, d.Units, d.Init),
            FlattenSpec => new Flatten(name, input),
            ActivationSpec { Kind: ActivationKind.ReLU } => new ReLU(name, input),
            ActivationSpec { Kind: ActivationKind.Softmax } => new Softmax(name, input),
            ActivationSpec { Kind: ActivationKind.Sigmoid } => new Sigmoid(name, input),
            ActivationSpec { Kind: ActivationKind.Tanh } => new Tanh(name, input),
            Conv2DSpec c => new Conv2D(name, input, c.Filters, c.KernelSize, c.Stride, c.Padding, c.Init),
            MaxPool2DSpec m => new MaxPool2D(name, input, m.PoolSize, m.Stride ?? m.PoolSize),
            DropoutSpec d => new Dropout(name, input, d.Rate),
            SpatialDropoutSpec s => new SpatialDropout(name, input, s.Rate),
            // LAYER-FACTORY-CASES (one line per layer type)
            _ => throw new NotSupportedException($"Layer {index} ({spec.GetType().Name}) is not supported by this build."),
        };
    }

    public static string DefaultName(LayerSpec spec, int index)
    {
        var kind = spec switch
        {
            DenseSpec => "dense",
            Conv2DSpec => "conv2d",
            MaxPool2DSpec => "maxpool2d",
            DropoutSpec => "dropout",
            SpatialDropoutSpec => "spatial_dropout",
            FlattenSpec => "flatten",
            ActivationSpec a => a.Kind.ToString().ToLowerInvariant(),
            _ => "layer",
        };
        return $"{kind}_{index}";
    }
}
