using DistTrain.Data.Evaluation;

namespace DistTrain.Data.Tests;

public sealed class ClassificationReportTests
{
    // true:  0 0 0 1 1 2 2 2 2 0
    // pred:  0 1 0 1 2 2 2 0 2 2
    // confusion (rows true, cols predicted): [2 1 1; 0 1 1; 1 0 3; 0 0 0] — class 3 never occurs
    private static readonly int[] Truth = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0];
    private static readonly int[] Predicted = [0, 1, 0, 1, 2, 2, 2, 0, 2, 2];
    private static readonly string[] Names = ["cat", "dog", "emu", "yak"];

    [Fact]
    public void Report_matches_the_hand_computed_example()
    {
        var r = new ClassificationReport(Truth, Predicted, Names);

        Assert.Equal(0.6, r.Accuracy, 12);
        int[,] expected = { { 2, 1, 1, 0 }, { 0, 1, 1, 0 }, { 1, 0, 3, 0 }, { 0, 0, 0, 0 } };
        Assert.Equal(expected, r.ConfusionMatrix);
        Assert.Equal([4, 2, 4, 0], r.Support);
        double[] precision = [2.0 / 3, 0.5, 0.6, 0];
        double[] recall = [0.5, 0.5, 0.75, 0];
        double[] f1 = [4.0 / 7, 0.5, 2.0 / 3, 0];
        for (var c = 0; c < 4; c++)
        {
            Assert.Equal(precision[c], r.Precision[c], 12);
            Assert.Equal(recall[c], r.Recall[c], 12);
            Assert.Equal(f1[c], r.F1[c], 12);
        }
        Assert.Equal((4.0 / 7 + 0.5 + 2.0 / 3) / 4, r.MacroF1, 12);
    }

    [Fact]
    public void Undefined_ratios_are_reported_as_zero()
    {
        // class 1 is present but never predicted: precision 0/0 → 0, recall 0, F1 0
        var r = new ClassificationReport([0, 1], [0, 0], ["a", "b"]);

        Assert.Equal(0.5, r.Precision[0]);
        Assert.Equal(0, r.Precision[1]);
        Assert.Equal(0, r.Recall[1]);
        Assert.Equal(0, r.F1[1]);
    }

    [Fact]
    public void ToString_shows_each_class_the_accuracy_and_the_confusion_matrix()
    {
        var text = new ClassificationReport(Truth, Predicted, Names).ToString();

        Assert.Contains("accuracy 0.6000 (10 samples)", text);
        var catLine = text.Split('\n').First(l => l.StartsWith("cat"));
        Assert.Contains("0.667", catLine);
        Assert.Contains("0.500", catLine);
        Assert.Contains("0.571", catLine);
        Assert.Contains("rows = true, columns = predicted", text);
        var emuRow = text.Split('\n').Last(l => l.StartsWith("emu"));
        Assert.Equal(["1", "0", "3", "0"], emuRow[3..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Mismatched_lengths_and_out_of_range_classes_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new ClassificationReport([0, 1], [0], ["a", "b"]));
        Assert.Throws<ArgumentException>(() => new ClassificationReport([0, 2], [0, 1], ["a", "b"]));
        Assert.Throws<ArgumentException>(() => new ClassificationReport([0, 1], [0, -1], ["a", "b"]));
    }
}
