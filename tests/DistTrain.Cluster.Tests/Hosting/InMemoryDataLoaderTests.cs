using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;
using DistTrain.Data.Csv;
using DistTrain.Data.Presets;

namespace DistTrain.Cluster.Tests.Hosting;

public class InMemoryDataLoaderTests
{
    private static TrainingJob Job(ModelSpec? model = null, int? limit = null) =>
        new("mem", new DataSpec("in-memory", Limit: limit), model ?? Penguins.DefaultModel, LossKind.SoftmaxCrossEntropy,
            new OptimizerSpec(OptimizerKind.Adam, 0.01f), Epochs: 2, BatchSize: 16, Seed: 5);

    [Fact]
    public void A_table_is_split_and_standardised_exactly_as_the_penguins_preset_does()
    {
        var preset = Presets.Get("penguins", seed: 5);
        var fromPreset = new PresetDataLoader().Load(preset);
        var fromMemory = new InMemoryDataLoader(Penguins.LoadEmbedded()).Load(preset);

        Assert.Equal(fromPreset.Fingerprint, fromMemory.Fingerprint);
        Assert.Equal(fromPreset.Normalization!.Mean, fromMemory.Normalization!.Mean);
        Assert.Equal(fromPreset.Normalization.Std, fromMemory.Normalization.Std);
        Assert.Equal(fromPreset.ClassNames, fromMemory.ClassNames);
    }

    [Fact]
    public void Arrays_become_a_table_and_each_job_s_seed_picks_its_split()
    {
        var table = Penguins.LoadEmbedded();
        var loader = new InMemoryDataLoader(table.Features.ToArray(), table.Labels.ToArray(), table.FeatureNames, table.ClassNames);
        var a = loader.Load(Job());
        Assert.Equal(a.Fingerprint, loader.Load(Job()).Fingerprint);
        Assert.NotEqual(a.Fingerprint, loader.Load(Job() with { Seed = 6 }).Fingerprint);
        Assert.Equal(342, a.Train.Count + a.Validation.Count + a.Test.Count);
        Assert.Equal(10, loader.Load(Job(limit: 10)).Train.Count);
    }

    [Fact]
    public void Without_standardisation_the_inputs_stay_raw_and_no_normalization_is_recorded()
    {
        var table = Penguins.LoadEmbedded();
        var data = new InMemoryDataLoader(table, standardize: false).Load(Job());
        Assert.Null(data.Normalization);
        var x = new float[4];
        data.Train.CopyInputs([0], x, BatchContext.Inference(1));
        Assert.True(x[3] > 2000, $"body mass {x[3]} should be in grams");
    }

    [Fact]
    public void A_NaN_or_infinite_feature_is_refused_naming_the_sample_and_the_feature()
    {
        float[] features = [1, 2, 3, 4, float.NaN, 6];
        var e = Assert.Throws<ArgumentException>(() => new InMemoryDataLoader(features, [0, 1, 0], ["x", "y"], ["no", "yes"]));
        Assert.Contains("sample 2, feature 'x' is NaN", e.Message);
        features[4] = float.PositiveInfinity;
        e = Assert.Throws<ArgumentException>(() => new InMemoryDataLoader(features, [0, 1, 0], ["x", "y"], ["no", "yes"]));
        Assert.Contains("sample 2, feature 'x' is Infinity", e.Message);
        e = Assert.Throws<ArgumentException>(() => new InMemoryDataLoader([1, 2, 3], [0, 1], ["x", "y"], ["no", "yes"]));
        Assert.Contains("2 labels × 2 features need 4 feature values but got 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => new InMemoryDataLoader([1, 2], [0, 2], ["x"], ["no", "yes"]));
        Assert.Contains("Label 2 of sample 1 is outside the 2 classes", e.Message);
    }

    [Fact]
    public void Splits_are_used_as_given_and_must_agree_with_each_other()
    {
        var train = new CsvDataset([1, 2, 3, 4], [0, 1], ["x", "y"], ["no", "yes"]);
        var test = new CsvDataset([5, 6], [1], ["x", "y"], ["no", "yes"]);
        var empty = new CsvDataset([], [], ["x", "y"], ["no", "yes"]);
        var norm = new Normalization([1f, 1f], [2f, 2f]);
        var data = new InMemoryDataLoader(train, empty, test, norm).Load(Job());
        Assert.Same(train, data.Train);
        Assert.Same(test, data.Test);
        Assert.Same(norm, data.Normalization);

        var wide = new CsvDataset([1, 2, 3], [0], ["x", "y", "z"], ["no", "yes"]);
        Assert.Contains("the test split's samples have shape [3] but the training split's have [2]",
            Assert.Throws<ArgumentException>(() => new InMemoryDataLoader(train, empty, wide)).Message);
        var other = new CsvDataset([1, 2], [0], ["x", "y"], ["cat", "dog"]);
        Assert.Contains("the validation split's classes [cat, dog] differ from the training split's [no, yes]",
            Assert.Throws<ArgumentException>(() => new InMemoryDataLoader(train, other, test)).Message);
        var bad = new CsvDataset([1, float.NaN], [0], ["x", "y"], ["no", "yes"]);
        Assert.Contains("the test split's sample 0, value 1 is NaN", Assert.Throws<ArgumentException>(() => new InMemoryDataLoader(train, empty, bad)).Message);
        Assert.Contains("training split has no samples", Assert.Throws<ArgumentException>(() => new InMemoryDataLoader(empty, empty, test)).Message);
        Assert.Contains("normalization has 1 means",
            Assert.Throws<ArgumentException>(() => new InMemoryDataLoader(train, empty, test, new Normalization([0f], [1f]))).Message);
    }

    [Fact]
    public async Task A_model_whose_input_does_not_fit_the_data_fails_the_job_with_a_message_naming_both()
    {
        var wrong = new ModelSpec([5], [new DenseSpec(3)]);
        var e = await Assert.ThrowsAsync<TrainingFailedException>(() =>
            LocalMode.RunAsync(Job(wrong), 1, new InMemoryDataLoader(Penguins.LoadEmbedded())).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("[5]", e.Message);
        Assert.Contains("[4]", e.Message);
    }
}
