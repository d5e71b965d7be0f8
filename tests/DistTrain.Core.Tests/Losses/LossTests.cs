using DistTrain.Core.Losses;
using DistTrain.Core.Tests.Optimizers;

namespace DistTrain.Core.Tests.Losses;

public sealed class LossTests
{
    private static (float[] Outputs, int[] Labels) RandomBatch(int batch, int classes, int seed, float scale)
    {
        var rng = new Random(seed);
        var outputs = new float[batch * classes];
        for (var i = 0; i < outputs.Length; i++) outputs[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        var labels = new int[batch];
        for (var i = 0; i < batch; i++) labels[i] = rng.Next(classes);
        return (outputs, labels);
    }

    // Central differences of the summed loss against the analytic gradient of that sum, entry by entry.
    private static void CheckGradient(Loss loss, int batch, int classes, int seed, float scale)
    {
        var (outputs, labels) = RandomBatch(batch, classes, seed, scale);
        var gradient = new float[outputs.Length];
        loss.Compute(outputs, labels, batch, classes, gradient);
        var scratch = new float[outputs.Length];
        const float h = 1e-2f;
        for (var i = 0; i < outputs.Length; i++)
        {
            var saved = outputs[i];
            outputs[i] = saved + h;
            var plus = loss.Compute(outputs, labels, batch, classes, scratch);
            var up = outputs[i];
            outputs[i] = saved - h;
            var minus = loss.Compute(outputs, labels, batch, classes, scratch);
            var down = outputs[i];
            outputs[i] = saved;
            var numeric = (plus - minus) / ((double)up - down);
            Approx.Equal(numeric, gradient[i], 1e-3, 1e-4, $"{loss.Kind} d(sum)/d(output {i}) (batch {batch}, K {classes})");
        }
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(1, 10)]
    [InlineData(5, 3)]
    [InlineData(5, 10)]
    public void SoftmaxCrossEntropy_gradient_matches_finite_differences_of_the_summed_loss(int batch, int classes)
        => CheckGradient(new SoftmaxCrossEntropyLoss(), batch, classes, seed: 17 * batch + classes, scale: 3f);

    [Theory]
    [InlineData(1, 3)]
    [InlineData(1, 10)]
    [InlineData(5, 3)]
    [InlineData(5, 10)]
    public void MeanSquaredError_gradient_matches_finite_differences_of_the_summed_loss(int batch, int classes)
        => CheckGradient(new MeanSquaredErrorLoss(), batch, classes, seed: 31 * batch + classes, scale: 1f);

    [Theory]
    [InlineData(LossKind.SoftmaxCrossEntropy)]
    [InlineData(LossKind.MeanSquaredError)]
    public void Compute_returns_the_sum_of_per_sample_losses_and_their_gradients(LossKind kind)
    {
        var loss = Loss.Create(kind);
        const int batch = 5, classes = 4;
        var (outputs, labels) = RandomBatch(batch, classes, seed: 5, scale: 2f);
        var gradient = new float[batch * classes];
        var total = loss.Compute(outputs, labels, batch, classes, gradient);
        var sum = 0.0;
        var row = new float[classes];
        for (var r = 0; r < batch; r++)
        {
            sum += loss.Compute(outputs.AsSpan(r * classes, classes), labels.AsSpan(r, 1), 1, classes, row);
            Approx.Identical(row, gradient.AsSpan(r * classes, classes), $"{kind} gradient of row {r}");
        }
        Approx.Equal(sum, total, 1e-12, 0, $"{kind} batch loss");
    }

    [Fact]
    public void MeanSquaredError_reproduces_the_course_notes_worked_example()
    {
        // Prediction [0.4, 0.3, 0.3] against one-hot [1, 0, 0]: |difference| [0.6, 0.3, 0.3], loss (0.36 + 0.09 + 0.09) / 3 = 0.18.
        float[] prediction = [0.4f, 0.3f, 0.3f];
        var gradient = new float[3];
        var value = new MeanSquaredErrorLoss().Compute(prediction, [0], 1, 3, gradient);
        Approx.Equal(0.18, value, 1e-6, 0, "mean squared loss");
        // gradient = 2 (o − t) / K, so |difference| = |gradient| · K / 2 and the sign says which way.
        float[] difference = [gradient[0] * 1.5f, gradient[1] * 1.5f, gradient[2] * 1.5f];
        Approx.Equal([-0.6f, 0.3f, 0.3f], difference, 1e-6, 0, "prediction − target");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(10)]
    public void CrossEntropy_of_equal_logits_is_ln_K_per_sample(int classes)
    {
        const int batch = 4;
        var logits = new float[batch * classes];
        Array.Fill(logits, 7.5f);
        var labels = new int[batch];
        for (var r = 0; r < batch; r++) labels[r] = r % classes;
        var gradient = new float[logits.Length];
        var value = new SoftmaxCrossEntropyLoss().Compute(logits, labels, batch, classes, gradient);
        Approx.Equal(batch * Math.Log(classes), value, 1e-9, 0, $"loss of {batch} uniform rows over {classes} classes");
        for (var r = 0; r < batch; r++)
            for (var j = 0; j < classes; j++)
                Approx.Equal(1.0 / classes - (j == labels[r] ? 1 : 0), gradient[r * classes + j], 1e-6, 0, $"gradient[{r},{j}]");
    }

    [Fact]
    public void CrossEntropy_of_extreme_logits_is_finite_and_exact()
    {
        float[] logits = [1000f, -1000f, 0f, -1000f, -1000f, -1000f, 1000f, 1000f, -1000f];
        int[] labels = [1, 0, 0];
        var gradient = new float[logits.Length];
        var value = new SoftmaxCrossEntropyLoss().Compute(logits, labels, 3, 3, gradient);
        Assert.True(double.IsFinite(value), $"loss {value} is not finite");
        Assert.True(Approx.AllFinite(gradient), "gradient has a non-finite value");
        // Row 0: 1000 − (−1000) = 2000. Row 1: all equal → ln 3. Row 2: two logits tie at the top → ln 2 for the winner.
        Approx.Equal(2000 + Math.Log(3) + Math.Log(2), value, 1e-9, 0, "loss");
        Approx.Equal([1f, -1f, 0f], gradient.AsSpan(0, 3), 0, 1e-7, "gradient of row 0");
        Approx.Equal([1f / 3 - 1, 1f / 3, 1f / 3], gradient.AsSpan(3, 3), 1e-6, 0, "gradient of row 1");
        Approx.Equal([-0.5f, 0.5f, 0f], gradient.AsSpan(6, 3), 1e-6, 0, "gradient of row 2");
    }

    [Fact]
    public void MeanSquaredError_of_extreme_outputs_is_finite()
    {
        float[] outputs = [1000f, -1000f, 0f];
        var gradient = new float[3];
        var value = new MeanSquaredErrorLoss().Compute(outputs, [1], 1, 3, gradient);
        Approx.Equal((1000.0 * 1000 + 1001.0 * 1001) / 3, value, 1e-9, 0, "loss");
        Approx.Equal([2000f / 3, -2002f / 3, 0f], gradient, 1e-6, 0, "gradient");
    }

    [Theory]
    [InlineData(LossKind.SoftmaxCrossEntropy, 3)]
    [InlineData(LossKind.SoftmaxCrossEntropy, -1)]
    [InlineData(LossKind.MeanSquaredError, 3)]
    [InlineData(LossKind.MeanSquaredError, -1)]
    public void A_label_outside_the_classes_throws_naming_the_row(LossKind kind, int bad)
    {
        var outputs = new float[4 * 3];
        int[] labels = [0, 1, bad, 2];
        var e = Assert.Throws<ArgumentException>(() => Loss.Create(kind).Compute(outputs, labels, 4, 3, new float[12]));
        Assert.Contains("batch row 2", e.Message);
        Assert.Contains($"Label {bad}", e.Message);
        Assert.Contains("3 classes", e.Message);
    }

    [Fact]
    public void CrossEntropy_probabilities_are_a_distribution_that_keeps_the_order_of_the_logits()
    {
        const int batch = 6, classes = 10;
        var (logits, _) = RandomBatch(batch, classes, seed: 3, scale: 20f);
        logits[0] = 1000f; // an extreme row as well
        var p = new float[logits.Length];
        new SoftmaxCrossEntropyLoss().ToProbabilities(logits, p, batch, classes);
        for (var r = 0; r < batch; r++)
        {
            var row = p.AsSpan(r * classes, classes);
            var sum = 0.0;
            foreach (var v in row) { Assert.InRange(v, 0f, 1f); sum += v; }
            Approx.Equal(1.0, sum, 1e-6, 0, $"sum of probabilities of row {r}");
            Assert.Equal(Loss.ArgMax(logits.AsSpan(r * classes, classes)), Loss.ArgMax(row));
        }
    }

    [Fact]
    public void MeanSquaredError_probabilities_are_the_outputs_unchanged()
    {
        float[] outputs = [0.4f, 0.3f, 0.3f, 0.1f, 0.7f, 0.2f];
        var p = new float[6];
        new MeanSquaredErrorLoss().ToProbabilities(outputs, p, 2, 3);
        Approx.Identical(outputs, p, "probabilities");
    }

    [Theory]
    [InlineData("cross-entropy", LossKind.SoftmaxCrossEntropy)]
    [InlineData(" CE ", LossKind.SoftmaxCrossEntropy)]
    [InlineData("MSE", LossKind.MeanSquaredError)]
    [InlineData("mean-squared-error", LossKind.MeanSquaredError)]
    public void Parse_accepts_the_usual_names(string name, LossKind expected) => Assert.Equal(expected, Loss.Parse(name));

    [Fact]
    public void Parse_of_an_unknown_name_says_which_names_work()
    {
        var e = Assert.Throws<ArgumentException>(() => Loss.Parse("hinge"));
        Assert.Contains("'hinge'", e.Message);
        Assert.Contains("mse", e.Message);
    }
}
