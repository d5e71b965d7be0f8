using DistTrain.Core.Checkpoints;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;

namespace DistTrain.Core.Tests.Models;

public class PredictorTests
{
    private static readonly ModelSpec Spec = new([3], [new DenseSpec(5), new ActivationSpec(ActivationKind.Tanh), new DenseSpec(4)]);

    private static Checkpoint MakeCheckpoint(LossKind loss = LossKind.SoftmaxCrossEntropy, Normalization? normalization = null, float[]? parameters = null)
    {
        var model = new Model(Spec);
        model.InitializeParameters(11);
        return new Checkpoint(Spec, parameters ?? model.Parameters, null, null,
            new CheckpointMetadata(3, 30, 11, ["a", "b", "c", "d"], loss, normalization));
    }

    [Fact]
    public void A_prediction_is_the_softmax_of_the_network_on_the_standardised_input()
    {
        var norm = new Normalization([1f, -2f, 10f], [2f, 0.5f, 4f]);
        var predictor = new Predictor(MakeCheckpoint(normalization: norm));
        float[] raw = [3f, -1.5f, 2f];

        var p = predictor.Predict(raw);

        // By hand: standardise, run a model with the same parameters, softmax, argmax.
        var model = new Model(Spec);
        model.InitializeParameters(11);
        float[] x = [(3f - 1f) / 2f, (-1.5f + 2f) / 0.5f, (2f - 10f) / 4f];
        var logits = model.Forward(x, BatchContext.Inference(1)).ToArray();
        var max = logits.Max();
        var exp = logits.Select(v => Math.Exp(v - max)).ToArray();
        var expected = exp.Select(e => (float)(e / exp.Sum())).ToArray();
        for (var k = 0; k < 4; k++) Assert.Equal(expected[k], p.Probabilities[k], 5);
        var best = Array.IndexOf(expected, expected.Max());
        Assert.Equal(best, p.ClassIndex);
        Assert.Equal(new[] { "a", "b", "c", "d" }[best], p.ClassName);
        Assert.True(predictor.Standardizes);
    }

    [Fact]
    public void Without_a_standardisation_the_input_goes_to_the_network_as_it_is()
    {
        var predictor = new Predictor(MakeCheckpoint());
        float[] x = [0.3f, -0.2f, 0.9f];
        var model = new Model(Spec);
        model.InitializeParameters(11);
        var logits = model.Forward(x, BatchContext.Inference(1)).ToArray();
        var p = predictor.Predict(x);
        Assert.False(predictor.Standardizes);
        Assert.Equal(Loss.ArgMax(logits), p.ClassIndex);
    }

    [Fact]
    public void A_batch_gives_the_predictions_of_its_samples_one_by_one()
    {
        var predictor = new Predictor(MakeCheckpoint(normalization: new Normalization([0.5f, 0f, -1f], [1.5f, 2f, 1f])));
        float[] batch = [0.1f, 0.2f, 0.3f, -4f, 2f, 7f, 1f, 1f, 1f];
        var together = predictor.Predict(batch, 3);
        for (var s = 0; s < 3; s++)
        {
            var alone = predictor.Predict(batch.AsSpan(s * 3, 3));
            Assert.Equal(alone.ClassIndex, together[s].ClassIndex);
            for (var k = 0; k < 4; k++) Assert.Equal(alone.Probabilities[k], together[s].Probabilities[k], 6);
        }
    }

    [Fact]
    public void A_mean_squared_error_model_reports_its_loss_s_probabilities()
    {
        var predictor = new Predictor(MakeCheckpoint(LossKind.MeanSquaredError));
        float[] x = [0.3f, -0.2f, 0.9f];
        var p = predictor.Predict(x);
        var model = new Model(Spec);
        model.InitializeParameters(11);
        var output = model.Forward(x, BatchContext.Inference(1));
        var expected = new float[4];
        Loss.Create(LossKind.MeanSquaredError).ToProbabilities(output, expected, 1, 4);
        Assert.Equal(expected, p.Probabilities);
    }

    [Fact]
    public void Wrong_sizes_and_non_finite_values_are_refused_with_what_the_model_takes()
    {
        var predictor = new Predictor(MakeCheckpoint());
        var e = Assert.Throws<ArgumentException>(() => predictor.Predict([1f, 2f]));
        Assert.Contains("takes 3 values per sample", e.Message);
        Assert.Contains("got 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => predictor.Predict(new float[7], 2));
        Assert.Contains("2 sample(s) need 6 values", e.Message);
        e = Assert.Throws<ArgumentException>(() => predictor.Predict([0f, 0f, 0f, 1f, float.NaN, 1f], 2));
        Assert.Contains("sample 1, value 1 is NaN", e.Message);
        Assert.Throws<ArgumentException>(() => predictor.Predict([1f, 2f, 3f], 0));
    }

    [Fact]
    public void A_checkpoint_that_does_not_fit_its_model_is_refused_naming_the_source()
    {
        var e = Assert.Throws<ArgumentException>(() => new Predictor(MakeCheckpoint(parameters: new float[7]), "checkpoint x.dtck"));
        Assert.Contains("checkpoint x.dtck holds 7 parameters", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Predictor(MakeCheckpoint(normalization: new Normalization([0f], [1f]))));
        Assert.Contains("standardisation has 1 features but the model takes 3", e.Message);
        var ck = MakeCheckpoint();
        e = Assert.Throws<ArgumentException>(() => new Predictor(ck with { Metadata = ck.Metadata with { ClassNames = ["a", "b"] } }));
        Assert.Contains("names 2 classes but its model has 4 outputs", e.Message);
    }

    [Fact]
    public void Load_reads_a_checkpoint_file_and_reports_a_missing_one()
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-test-").FullName;
        try
        {
            var path = Path.Combine(dir, "checkpoint.dtck");
            var ck = MakeCheckpoint(normalization: new Normalization([1f, 2f, 3f], [1f, 1f, 2f]));
            CheckpointFile.Write(path, ck);
            float[] x = [0.5f, 1.5f, 2.5f];
            Assert.Equal(new Predictor(ck).Predict(x).Probabilities, Predictor.Load(path).Predict(x).Probabilities);
            var missing = Path.Combine(dir, "nope.dtck");
            var e = Assert.Throws<FileNotFoundException>(() => Predictor.Load(missing));
            Assert.Contains(missing, e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
