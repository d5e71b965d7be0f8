using DistTrain.Core.Layers;
using DistTrain.Core.Models;

namespace DistTrain.Interchange.Tests;

/// <summary>The models the interchange tests export, and seeded random parameters and inputs for them.</summary>
internal static class TestModels
{
    /// <summary>Penguins-shaped MLP: 4 measurements → 5 → 5 → 3 classes (logits).</summary>
    public static ModelSpec PenguinsMlp { get; } = new([4],
    [
        new DenseSpec(5), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(5), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(3, Initializer.Glorot),
    ]);

    /// <summary>A bigger MLP on 1×12×12 images with every activation, dropout and a softmax layer.</summary>
    public static ModelSpec BigMlp { get; } = new([1, 12, 12],
    [
        new FlattenSpec(),
        new DenseSpec(64), new ActivationSpec(ActivationKind.ReLU),
        new DropoutSpec(0.3f),
        new DenseSpec(48, Initializer.Glorot), new ActivationSpec(ActivationKind.Tanh),
        new DenseSpec(32, Initializer.Glorot), new ActivationSpec(ActivationKind.Sigmoid),
        new DenseSpec(10, Initializer.Glorot), new ActivationSpec(ActivationKind.Softmax),
    ]);

    /// <summary>
    /// CNN on 3×11×11: conv (padding 1, stride 2) → ReLU → conv (padding 2) → maxpool 3 stride 2 (overlapping
    /// windows) → spatial dropout → flatten → dense → softmax. 11 → 6 → 8 → 3.
    /// </summary>
    public static ModelSpec Cnn { get; } = new([3, 11, 11],
    [
        new Conv2DSpec(4, 3, Stride: 2, Padding: 1), new ActivationSpec(ActivationKind.ReLU),
        new Conv2DSpec(5, 3, Stride: 1, Padding: 2), new ActivationSpec(ActivationKind.Tanh),
        new MaxPool2DSpec(3, 2),
        new SpatialDropoutSpec(0.25f),
        new FlattenSpec(),
        new DenseSpec(7), new ActivationSpec(ActivationKind.ReLU),
        new DenseSpec(4, Initializer.Glorot), new ActivationSpec(ActivationKind.Softmax),
    ]);

    /// <summary>Every parameter (biases included, which initialisation leaves at zero) uniform in ±0.5.</summary>
    public static float[] RandomParameters(ModelSpec spec, int seed)
    {
        var model = new Model(spec);
        var rng = new Random(seed);
        var p = new float[model.ParameterCount];
        for (var i = 0; i < p.Length; i++) p[i] = (float)(rng.NextDouble() - 0.5);
        return p;
    }

    public static float[] RandomInputs(ModelSpec spec, int batch, int seed)
    {
        var size = 1;
        foreach (var d in spec.InputShape) size *= d;
        var rng = new Random(seed);
        var x = new float[batch * size];
        for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 2);
        return x;
    }

    /// <summary>DistTrain's own inference output for a batch.</summary>
    public static float[] Forward(ModelSpec spec, float[] parameters, float[] inputs, int batch)
    {
        var model = new Model(spec);
        parameters.CopyTo(model.Parameters, 0);
        return model.Forward(inputs, BatchContext.Inference(batch)).ToArray();
    }

    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        var max = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            var d = MathF.Abs(a[i] - b[i]);
            if (!(d <= max)) max = float.IsNaN(d) ? float.PositiveInfinity : d;
        }
        return max;
    }
}
