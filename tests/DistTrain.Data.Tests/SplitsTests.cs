using DistTrain.Data.Presets;

namespace DistTrain.Data.Tests;

public sealed class SplitsTests
{
    private static int[] Labels(params int[] classSizes)
    {
        // classes interleaved so a split by position would not be stratified
        var labels = new List<int>();
        var left = (int[])classSizes.Clone();
        while (left.Any(n => n > 0))
            for (var c = 0; c < left.Length; c++)
                if (left[c]-- > 0) labels.Add(c);
        return [.. labels];
    }

    [Theory]
    [InlineData(0.7, 0.15)]
    [InlineData(0.8, 0.0)]
    [InlineData(0.5, 0.5)]
    [InlineData(1.0, 0.0)]
    public void Each_class_keeps_its_proportion_within_one_sample_and_the_parts_cover_every_index_once(double train, double validation)
    {
        var labels = Labels(152, 124, 68, 1);

        var (tr, va, te) = Splits.Stratified(labels, train, validation, seed: 7);

        var all = tr.Concat(va).Concat(te).OrderBy(i => i).ToArray();
        Assert.Equal(Enumerable.Range(0, labels.Length), all); // disjoint and covering
        for (var c = 0; c < 4; c++)
        {
            var n = labels.Count(y => y == c);
            Assert.InRange(tr.Count(i => labels[i] == c), n * train - 1, n * train + 1);
            Assert.InRange(va.Count(i => labels[i] == c), n * validation - 1, n * validation + 1);
            Assert.InRange(te.Count(i => labels[i] == c), n * (1 - train - validation) - 1, n * (1 - train - validation) + 1);
        }
    }

    [Fact]
    public void The_split_is_reproducible_from_its_seed_and_changes_with_it()
    {
        var labels = Labels(50, 50);

        var a = Splits.Stratified(labels, 0.6, 0.2, seed: 1);
        var b = Splits.Stratified(labels, 0.6, 0.2, seed: 1);
        var c = Splits.Stratified(labels, 0.6, 0.2, seed: 2);

        Assert.Equal(a.Train, b.Train);
        Assert.Equal(a.Validation, b.Validation);
        Assert.Equal(a.Test, b.Test);
        Assert.NotEqual(a.Train, c.Train);
    }

    [Fact]
    public void Splitting_a_dataset_equals_splitting_its_labels()
    {
        var data = Penguins.LoadEmbedded();

        var fromData = Splits.Stratified(data, 0.7, 0.1, 3);
        var fromLabels = Splits.Stratified(data.Labels.ToArray(), 0.7, 0.1, 3);
        var (train, _, _) = Splits.Views(data, fromData);

        Assert.Equal(fromLabels.Train, fromData.Train);
        Assert.Equal(fromLabels.Test, fromData.Test);
        Assert.Equal(fromData.Train.Length, train.Count);
        Assert.Equal(data.Label(fromData.Train[5]), train.Label(5));
    }

    [Theory]
    [InlineData(-0.1, 0.0)]
    [InlineData(0.7, 0.4)]
    [InlineData(double.NaN, 0.0)]
    public void Invalid_fractions_are_rejected(double train, double validation)
    {
        Assert.ThrowsAny<ArgumentException>(() => Splits.Stratified([0, 1, 0, 1], train, validation, 0));
    }
}
