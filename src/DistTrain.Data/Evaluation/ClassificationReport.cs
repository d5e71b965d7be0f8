using System.Globalization;
using System.Text;

namespace DistTrain.Data.Evaluation;

/// <summary>
/// Accuracy, per-class precision / recall / F1 and the confusion matrix (rows = true class, columns =
/// predicted class). A ratio whose denominator is zero (a class never predicted, or never present) is
/// reported as 0, as scikit-learn does with zero_division=0. Macro averages are plain means over classes.
/// </summary>
public sealed class ClassificationReport
{
    private readonly string[] _classNames;

    public ClassificationReport(ReadOnlySpan<int> labels, ReadOnlySpan<int> predictions, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        if (labels.Length != predictions.Length)
            throw new ArgumentException($"Got {labels.Length} labels but {predictions.Length} predictions.", nameof(predictions));
        var k = classNames.Count;
        if (k == 0) throw new ArgumentException("Need at least one class.", nameof(classNames));
        _classNames = [.. classNames];
        var matrix = new int[k, k];
        var correct = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)k) throw new ArgumentException($"Label {labels[i]} of sample {i} is outside the {k} classes.", nameof(labels));
            if ((uint)predictions[i] >= (uint)k) throw new ArgumentException($"Prediction {predictions[i]} of sample {i} is outside the {k} classes.", nameof(predictions));
            matrix[labels[i], predictions[i]]++;
            if (labels[i] == predictions[i]) correct++;
        }
        ConfusionMatrix = matrix;
        Total = labels.Length;
        Accuracy = Total == 0 ? 0 : (double)correct / Total;
        Precision = new double[k];
        Recall = new double[k];
        F1 = new double[k];
        Support = new int[k];
        for (var c = 0; c < k; c++)
        {
            int tp = matrix[c, c], predicted = 0, actual = 0;
            for (var j = 0; j < k; j++)
            {
                predicted += matrix[j, c];
                actual += matrix[c, j];
            }
            Support[c] = actual;
            Precision[c] = predicted == 0 ? 0 : (double)tp / predicted;
            Recall[c] = actual == 0 ? 0 : (double)tp / actual;
            var sum = Precision[c] + Recall[c];
            F1[c] = sum == 0 ? 0 : 2 * Precision[c] * Recall[c] / sum;
        }
        MacroPrecision = Precision.Average();
        MacroRecall = Recall.Average();
        MacroF1 = F1.Average();
    }

    public IReadOnlyList<string> ClassNames => _classNames;

    public int Total { get; }

    public double Accuracy { get; }

    public double[] Precision { get; }

    public double[] Recall { get; }

    public double[] F1 { get; }

    /// <summary>Number of samples whose true class is each class.</summary>
    public int[] Support { get; }

    public double MacroPrecision { get; }

    public double MacroRecall { get; }

    public double MacroF1 { get; }

    /// <summary>[true class, predicted class] counts.</summary>
    public int[,] ConfusionMatrix { get; }

    public override string ToString()
    {
        var k = _classNames.Length;
        var nameWidth = Math.Max(5, _classNames.Max(n => n.Length));
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("class".PadRight(nameWidth)).Append("  precision     recall         f1    support\n");
        for (var c = 0; c < k; c++)
            sb.Append(_classNames[c].PadRight(nameWidth))
              .Append(string.Format(inv, "  {0,9:F3}  {1,9:F3}  {2,9:F3}  {3,9}\n", Precision[c], Recall[c], F1[c], Support[c]));
        sb.Append("macro avg".PadRight(nameWidth))
          .Append(string.Format(inv, "  {0,9:F3}  {1,9:F3}  {2,9:F3}  {3,9}\n", MacroPrecision, MacroRecall, MacroF1, Total));
        sb.Append(string.Format(inv, "accuracy {0:F4} ({1} samples)\n", Accuracy, Total));
        sb.Append("confusion matrix (rows = true, columns = predicted)\n");
        var cell = Math.Max(6, ConfusionMatrix.Cast<int>().Max().ToString(inv).Length + 1);
        sb.Append(new string(' ', nameWidth));
        for (var j = 0; j < k; j++) sb.Append(' ').Append(Abbreviate(_classNames[j], cell).PadLeft(cell));
        sb.Append('\n');
        for (var i = 0; i < k; i++)
        {
            sb.Append(_classNames[i].PadRight(nameWidth));
            for (var j = 0; j < k; j++) sb.Append(' ').Append(ConfusionMatrix[i, j].ToString(inv).PadLeft(cell));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static string Abbreviate(string name, int width) => name.Length <= width ? name : name[..width];
}
