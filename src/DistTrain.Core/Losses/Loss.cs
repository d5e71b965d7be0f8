namespace DistTrain.Core.Losses;

public enum LossKind
{
    /// <summary>Softmax fused with cross-entropy: the model outputs logits.</summary>
    SoftmaxCrossEntropy,
    /// <summary>Mean over classes of (output − one-hot)²: the model outputs what is compared (e.g. probabilities).</summary>
    MeanSquaredError,
}

/// <summary>
/// A loss over a batch of model outputs (N, K) and integer class labels (N). <see cref="Compute"/> returns
/// the <b>sum</b> over samples of the per-sample loss and writes the gradient of that sum, so gradients
/// from several workers add up exactly and the parameter server divides once by the global sample count.
/// </summary>
public abstract class Loss
{
    public abstract LossKind Kind { get; }

    public abstract double Compute(ReadOnlySpan<float> outputs, ReadOnlySpan<int> labels, int batch, int classes, Span<float> outputGradient);

    /// <summary>Turns outputs into class probabilities for reporting (softmax of logits, or the outputs as they are).</summary>
    public abstract void ToProbabilities(ReadOnlySpan<float> outputs, Span<float> probabilities, int batch, int classes);

    public static Loss Create(LossKind kind) => kind switch
    {
        LossKind.SoftmaxCrossEntropy => new SoftmaxCrossEntropyLoss(),
        LossKind.MeanSquaredError => new MeanSquaredErrorLoss(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown loss"),
    };

    public static LossKind Parse(string name) => name.Trim().ToLowerInvariant().Replace("-", "_") switch
    {
        "cross_entropy" or "softmax_cross_entropy" or "ce" or "crossentropy" => LossKind.SoftmaxCrossEntropy,
        "mse" or "mean_squared_error" => LossKind.MeanSquaredError,
        _ => throw new ArgumentException($"Unknown loss '{name}'; use cross-entropy or mse."),
    };

    protected static void CheckLabel(int label, int classes, int row)
    {
        if ((uint)label >= (uint)classes)
            throw new ArgumentException($"Label {label} of batch row {row} is outside the {classes} classes (0..{classes - 1}).");
    }

    /// <summary>Index of the largest value in each row (first on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var j = 1; j < row.Length; j++) if (row[j] > row[best]) best = j;
        return best;
    }
}

public sealed class SoftmaxCrossEntropyLoss : Loss
{
    public override LossKind Kind => LossKind.SoftmaxCrossEntropy;

    // loss_i = logsumexp(z_i) − z_i[y_i];  d loss_i / d z_i = softmax(z_i) − onehot(y_i)
    public override double Compute(ReadOnlySpan<float> outputs, ReadOnlySpan<int> labels, int batch, int classes, Span<float> outputGradient)
    {
        var sum = 0.0;
        for (var r = 0; r < batch; r++)
        {
            var z = outputs.Slice(r * classes, classes);
            var g = outputGradient.Slice(r * classes, classes);
            var y = labels[r];
            CheckLabel(y, classes, r);
            var max = float.NegativeInfinity;
            for (var j = 0; j < classes; j++) if (z[j] > max) max = z[j];
            var s = 0.0;
            for (var j = 0; j < classes; j++) { var e = Math.Exp(z[j] - max); g[j] = (float)e; s += e; }
            var inv = 1.0 / s;
            for (var j = 0; j < classes; j++) g[j] = (float)(g[j] * inv);
            g[y] -= 1f;
            sum += Math.Log(s) + max - z[y];
        }
        return sum;
    }

    public override void ToProbabilities(ReadOnlySpan<float> outputs, Span<float> probabilities, int batch, int classes)
        => Layers.Softmax.Rows(outputs, probabilities, batch, classes);
}

public sealed class MeanSquaredErrorLoss : Loss
{
    public override LossKind Kind => LossKind.MeanSquaredError;

    // loss_i = (1/K) Σ_j (o_ij − t_ij)², t = onehot(y);  d loss_i / d o_ij = 2 (o_ij − t_ij) / K
    public override double Compute(ReadOnlySpan<float> outputs, ReadOnlySpan<int> labels, int batch, int classes, Span<float> outputGradient)
    {
        var sum = 0.0;
        var scale = 2f / classes;
        for (var r = 0; r < batch; r++)
        {
            var o = outputs.Slice(r * classes, classes);
            var g = outputGradient.Slice(r * classes, classes);
            var y = labels[r];
            CheckLabel(y, classes, r);
            var s = 0.0;
            for (var j = 0; j < classes; j++)
            {
                var d = o[j] - (j == y ? 1f : 0f);
                s += (double)d * d;
                g[j] = scale * d;
            }
            sum += s / classes;
        }
        return sum;
    }

    public override void ToProbabilities(ReadOnlySpan<float> outputs, Span<float> probabilities, int batch, int classes)
        => outputs[..(batch * classes)].CopyTo(probabilities);
}
