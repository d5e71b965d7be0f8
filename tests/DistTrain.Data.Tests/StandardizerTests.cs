using DistTrain.Core.Layers;
using DistTrain.Core.Training;
using DistTrain.Data.Csv;
using DistTrain.Data.Presets;

namespace DistTrain.Data.Tests;

public sealed class StandardizerTests
{
    [Fact]
    public void Fit_computes_population_mean_and_std_over_the_given_rows_with_std_1_for_constant_features()
    {
        float[] features = [1, 10, 3, 10, 5, 10, 100, -4];

        var s = Standardizer.Fit(features, 2, [0, 1, 2]);

        Assert.Equal([3f, 10f], s.Mean);
        // population variance of {1, 3, 5} = (4 + 0 + 4) / 3
        Assert.Equal(MathF.Sqrt(8f / 3f), s.Std[0], 5);
        Assert.Equal(1f, s.Std[1]);
    }

    [Fact]
    public void Changing_a_row_outside_the_training_rows_does_not_change_the_statistics()
    {
        float[] a = [1, 2, 3, 4, 5, 6, 7, 8];
        var b = (float[])a.Clone();
        b[6] = 1000; b[7] = -1000; // row 3 is a test row
        int[] train = [0, 1, 2];

        var sa = Standardizer.Fit(a, 2, train);
        var sb = Standardizer.Fit(b, 2, train);
        var all = Standardizer.Fit(b, 2, [0, 1, 2, 3]);

        Assert.Equal(sa.Mean, sb.Mean);
        Assert.Equal(sa.Std, sb.Std);
        Assert.NotEqual(sa.Mean, all.Mean);
    }

    [Fact]
    public void Applied_to_penguins_the_training_rows_get_mean_0_and_std_1()
    {
        var data = Penguins.LoadEmbedded();
        var (train, _, _) = Splits.Stratified(data, 0.7, 0, 42);

        var s = Standardizer.Fit(data, train);
        var standardized = s.Apply(data);

        for (var f = 0; f < 4; f++)
        {
            double sum = 0, sq = 0;
            foreach (var r in train) sum += standardized.Row(r)[f];
            var mean = sum / train.Length;
            foreach (var r in train) sq += Math.Pow(standardized.Row(r)[f] - mean, 2);
            Assert.Equal(0, mean, 4);
            Assert.Equal(1, Math.Sqrt(sq / train.Length), 4);
        }
        Assert.Equal(data.Labels.ToArray(), standardized.Labels.ToArray());
        Assert.Equal(data.DroppedRows, standardized.DroppedRows);
    }

    [Fact]
    public void A_standardizer_rebuilt_from_saved_mean_and_std_transforms_batches_identically()
    {
        var data = Penguins.LoadEmbedded();
        var fitted = Standardizer.Fit(data, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var rebuilt = new Standardizer(fitted.Mean, fitted.Std);
        var view = new DatasetView(data, [7, 300, 12]); // not a CsvDataset: goes through the CopyInputs wrapper

        var expected = new float[12];
        fitted.Apply(data).CopyInputs([7, 300, 12], expected, BatchContext.Inference(3));
        var actual = new float[12];
        rebuilt.Apply(view).CopyInputs([0, 1, 2], actual, BatchContext.Inference(3));

        Assert.Equal(expected, actual);
        // hand check of one value: (x − mean) / std
        Assert.Equal((data.Row(300)[2] - fitted.Mean[2]) / fitted.Std[2], actual[4 + 2]);
    }

    [Fact]
    public void A_zero_or_mismatched_std_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => new Standardizer([0f, 1f], [1f, 0f]));
        Assert.Throws<ArgumentException>(() => new Standardizer([0f, 1f], [1f]));
        Assert.Throws<ArgumentException>(() => Standardizer.Fit(new float[] { 1, 2 }, 2, []));
    }

    [Fact]
    public void Applying_to_data_with_another_feature_count_is_rejected()
    {
        var s = new Standardizer([0f, 0f, 0f], [1f, 1f, 1f]);
        var data = new CsvDataset([1f, 2f], [0], ["a", "b"], ["c"]);

        Assert.Throws<ArgumentException>(() => s.Apply(data));
    }
}
