using System.Globalization;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Tensors;

namespace DistTrain.Core.Models;

/// <summary>One sample's prediction: the most likely class and every class's probability (in class order).</summary>
public sealed record Prediction(int ClassIndex, string ClassName, float[] Probabilities);

/// <summary>
/// A trained model ready to classify: the network, parameters, class names and input standardisation of a
/// checkpoint (<c>checkpoint.dtck</c>). Inputs are raw samples, as the data held them before training
/// standardised them: the predictor applies the checkpoint's standardisation itself. This is what
/// <c>disttrain predict</c> runs.
/// Not thread-safe (the model reuses its buffers): use one predictor per thread.
/// </summary>
public sealed class Predictor
{
    private readonly Loss _loss;
    private readonly Normalization? _normalization;
    private float[] _inputs = [];
    private float[] _probabilities = [];

    /// <exception cref="ArgumentException">The checkpoint's parameters, classes or standardisation do not fit its model (the message names <paramref name="source"/>).</exception>
    public Predictor(Checkpoint checkpoint, string source = "checkpoint")
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        Model = new Model(checkpoint.Spec);
        if (checkpoint.Parameters.Length != Model.ParameterCount)
            throw new ArgumentException($"{source} holds {checkpoint.Parameters.Length} parameters but its model spec needs {Model.ParameterCount}");
        checkpoint.Parameters.CopyTo(Model.Parameters, 0);
        ClassNames = checkpoint.Metadata.ClassNames;
        if (ClassNames.Count != Model.OutputShape.Size)
            throw new ArgumentException($"{source} names {ClassNames.Count} classes but its model has {Model.OutputShape.Size} outputs");
        _normalization = checkpoint.Metadata.Normalization;
        if (_normalization is { } n && (n.Mean.Length != InputShape.Size || n.Std.Length != InputShape.Size))
            throw new ArgumentException($"{source}: the standardisation has {n.Mean.Length} features but the model takes {InputShape.Size}");
        _loss = Loss.Create(checkpoint.Metadata.Loss);
    }

    /// <summary>Reads a checkpoint file (<see cref="CheckpointFile.Read"/>).</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="checkpointPath"/>.</exception>
    /// <exception cref="CheckpointFormatException">The file is not a valid checkpoint.</exception>
    public static Predictor Load(string checkpointPath)
    {
        ArgumentNullException.ThrowIfNull(checkpointPath);
        if (!File.Exists(checkpointPath)) throw new FileNotFoundException($"no checkpoint at {checkpointPath}", checkpointPath);
        return new Predictor(CheckpointFile.Read(checkpointPath), $"checkpoint {checkpointPath}");
    }

    /// <summary>The network with the checkpoint's parameters.</summary>
    public Model Model { get; }

    /// <summary>The shape of one input sample (e.g. [4], or [1, 28, 28] for an image).</summary>
    public TensorShape InputShape => Model.InputShape;

    /// <summary>Class names in output order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Whether inputs are standardised (with the training split's mean and std) before the network sees them.</summary>
    public bool Standardizes => _normalization is not null;

    /// <summary>Classifies one sample of <see cref="InputShape"/>.Size raw values.</summary>
    /// <exception cref="ArgumentException">Wrong number of values, or a NaN or infinite one.</exception>
    public Prediction Predict(ReadOnlySpan<float> input) => Predict(input, 1)[0];

    /// <summary>Classifies <paramref name="count"/> samples stored row-major in <paramref name="inputs"/> in one forward pass.</summary>
    /// <exception cref="ArgumentException">The length is not count × <see cref="InputShape"/>.Size, or a value is NaN or infinite.</exception>
    public Prediction[] Predict(ReadOnlySpan<float> inputs, int count)
    {
        if (count < 1) throw new ArgumentException($"count must be >= 1 (got {count})", nameof(count));
        var size = InputShape.Size;
        if (inputs.Length != (long)count * size)
            throw new ArgumentException($"the model takes {size} values per sample (shape {InputShape}), so {count} sample(s) need {(long)count * size} values, but got {inputs.Length}", nameof(inputs));
        for (var i = 0; i < inputs.Length; i++)
            if (!float.IsFinite(inputs[i]))
                throw new ArgumentException($"sample {i / size}, value {i % size} is {inputs[i].ToString(CultureInfo.InvariantCulture)}; the model needs finite inputs", nameof(inputs));
        if (_inputs.Length < inputs.Length) _inputs = new float[inputs.Length];
        var x = _inputs.AsSpan(0, inputs.Length);
        inputs.CopyTo(x);
        if (_normalization is { } norm)
            for (var i = 0; i < x.Length; i++)
            {
                var j = i % size;
                x[i] = (x[i] - norm.Mean[j]) / norm.Std[j];
            }
        var k = Model.OutputShape.Size;
        var output = Model.Forward(x, BatchContext.Inference(count));
        if (_probabilities.Length < count * k) _probabilities = new float[count * k];
        var probabilities = _probabilities.AsSpan(0, count * k);
        _loss.ToProbabilities(output, probabilities, count, k);
        var result = new Prediction[count];
        for (var s = 0; s < count; s++)
        {
            var row = probabilities.Slice(s * k, k).ToArray();
            var best = Loss.ArgMax(row);
            result[s] = new Prediction(best, ClassNames[best], row);
        }
        return result;
    }
}
