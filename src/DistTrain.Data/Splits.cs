using DistTrain.Core.Randomness;
using DistTrain.Core.Training;

namespace DistTrain.Data;

/// <summary>Seeded train/validation/test splits that keep each class's proportions.</summary>
public static class Splits
{
    /// <summary>
    /// Splits sample indices 0..labels.Count−1 class by class: each class's indices are shuffled with a
    /// generator seeded from (seed, class) and cut at round(n·trainFraction) and round(n·validationFraction),
    /// so every split holds each class within one sample of the requested share. The three arrays are
    /// disjoint, together cover every index once, and are sorted ascending.
    /// </summary>
    public static (int[] Train, int[] Validation, int[] Test) Stratified(IReadOnlyList<int> labels, double trainFraction, double validationFraction, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (!(trainFraction >= 0 && trainFraction <= 1)) throw new ArgumentOutOfRangeException(nameof(trainFraction), trainFraction, "must be in [0, 1]");
        if (!(validationFraction >= 0 && validationFraction <= 1)) throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "must be in [0, 1]");
        if (trainFraction + validationFraction > 1 + 1e-9)
            throw new ArgumentException($"Train fraction {trainFraction} + validation fraction {validationFraction} exceed 1.");

        var byClass = new SortedDictionary<int, List<int>>();
        for (var i = 0; i < labels.Count; i++)
        {
            var label = labels[i];
            if (label < 0) throw new ArgumentException($"Label {label} of sample {i} is negative.", nameof(labels));
            if (!byClass.TryGetValue(label, out var list)) byClass.Add(label, list = []);
            list.Add(i);
        }

        var train = new List<int>();
        var validation = new List<int>();
        var test = new List<int>();
        foreach (var (label, members) in byClass)
        {
            var rng = new SplitMix64(CounterRandom.Hash(seed, 0x5B117UL, (ulong)label));
            for (var i = members.Count - 1; i > 0; i--)
            {
                var j = rng.NextInt(i + 1);
                (members[i], members[j]) = (members[j], members[i]);
            }
            var n = members.Count;
            var nTrain = (int)Math.Round(n * trainFraction, MidpointRounding.AwayFromZero);
            var nValidation = Math.Min(n - nTrain, (int)Math.Round(n * validationFraction, MidpointRounding.AwayFromZero));
            for (var i = 0; i < n; i++)
                (i < nTrain ? train : i < nTrain + nValidation ? validation : test).Add(members[i]);
        }
        var a = train.ToArray();
        var b = validation.ToArray();
        var c = test.ToArray();
        Array.Sort(a);
        Array.Sort(b);
        Array.Sort(c);
        return (a, b, c);
    }

    public static (int[] Train, int[] Validation, int[] Test) Stratified(IDataset data, double trainFraction, double validationFraction, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        var labels = new int[data.Count];
        for (var i = 0; i < labels.Length; i++) labels[i] = data.Label(i);
        return Stratified(labels, trainFraction, validationFraction, seed);
    }

    /// <summary>Views of <paramref name="data"/> for each part of a split.</summary>
    public static (DatasetView Train, DatasetView Validation, DatasetView Test) Views(IDataset data, (int[] Train, int[] Validation, int[] Test) split)
        => (new DatasetView(data, split.Train), new DatasetView(data, split.Validation), new DatasetView(data, split.Test));
}
