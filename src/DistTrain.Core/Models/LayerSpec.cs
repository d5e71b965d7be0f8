using System.Text.Json.Serialization;

namespace DistTrain.Core.Models;

public enum Initializer
{
    /// <summary>Kaiming normal, N(0, 2/fan_in): for layers followed by ReLU.</summary>
    He,
    /// <summary>Xavier uniform, U(±sqrt(6/(fan_in+fan_out))): for sigmoid/tanh.</summary>
    Glorot,
}

/// <summary>
/// A layer's description: plain data that crosses the wire and is stored in checkpoints, so a remote
/// worker can build an identical replica. <see cref="Name"/> is optional; the model names unnamed layers
/// "kind_index".
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(DenseSpec), "dense")]
[JsonDerivedType(typeof(Conv2DSpec), "conv2d")]
[JsonDerivedType(typeof(MaxPool2DSpec), "maxpool2d")]
[JsonDerivedType(typeof(DropoutSpec), "dropout")]
[JsonDerivedType(typeof(SpatialDropoutSpec), "spatial_dropout")]
[JsonDerivedType(typeof(FlattenSpec), "flatten")]
[JsonDerivedType(typeof(ActivationSpec), "activation")]
public abstract record LayerSpec
{
    public string? Name { get; init; }

    /// <summary>
    /// False freezes the layer: its parameters get no gradient and never leave the node (transfer learning).
    /// Omitted (null) or true: the layer trains. Part of the spec, so the spec hash covers the freeze set.
    /// </summary>
    public bool? Trainable { get; init; }
}

public sealed record DenseSpec(int Units, Initializer Init = Initializer.He) : LayerSpec;

/// <summary>Square kernels; zero padding on every side; the same stride in both directions.</summary>
public sealed record Conv2DSpec(int Filters, int KernelSize, int Stride = 1, int Padding = 0, Initializer Init = Initializer.He) : LayerSpec;

/// <summary>Max pooling over PoolSize×PoolSize windows; Stride defaults to PoolSize.</summary>
public sealed record MaxPool2DSpec(int PoolSize = 2, int? Stride = null) : LayerSpec;

/// <summary>Inverted dropout of single values, active only in training.</summary>
public sealed record DropoutSpec(float Rate) : LayerSpec;

/// <summary>Feature-map dropout: drops whole channels of a (C, H, W) input, active only in training.</summary>
public sealed record SpatialDropoutSpec(float Rate) : LayerSpec;

public sealed record FlattenSpec : LayerSpec;

public enum ActivationKind
{
    ReLU,
    Sigmoid,
    Tanh,
    Softmax,
}

public sealed record ActivationSpec(ActivationKind Kind) : LayerSpec;
