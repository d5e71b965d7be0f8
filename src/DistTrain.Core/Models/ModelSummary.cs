using System.Text;

namespace DistTrain.Core.Models;

public sealed record ModelSummaryRow(string Name, string Kind, int[] OutputShape, int Parameters, bool Trainable);

/// <summary>The Keras-style table: layer, output shape, parameter count, totals.</summary>
public sealed record ModelSummary(IReadOnlyList<ModelSummaryRow> Rows, int[] InputShape, int TotalParameters, int TrainableParameters, string SpecHash)
{
    public static ModelSummary Of(Model model)
    {
        var rows = model.Layers.Select(l => new ModelSummaryRow(l.Name, l.Kind, l.OutputShape.ToArray(), l.ParameterCount, l.Trainable)).ToList();
        var trainable = rows.Where(r => r.Trainable).Sum(r => r.Parameters);
        return new ModelSummary(rows, model.InputShape.ToArray(), model.ParameterCount, trainable, model.Spec.Hash);
    }

    public override string ToString()
    {
        static string Shape(int[] s) => "(None, " + string.Join(", ", s) + ")";
        var header = ("Layer (type)", "Output Shape", "Param #");
        var lines = Rows.Select(r => ($"{r.Name} ({r.Kind}){(r.Trainable || r.Parameters == 0 ? "" : " [frozen]")}", Shape(r.OutputShape), r.Parameters.ToString("N0", System.Globalization.CultureInfo.InvariantCulture))).ToList();
        var w1 = Math.Max(header.Item1.Length, lines.Count == 0 ? 0 : lines.Max(l => l.Item1.Length)) + 2;
        var w2 = Math.Max(header.Item2.Length, lines.Count == 0 ? 0 : lines.Max(l => l.Item2.Length)) + 2;
        var w3 = Math.Max(header.Item3.Length, lines.Count == 0 ? 0 : lines.Max(l => l.Item3.Length));
        var rule = new string('─', w1 + w2 + w3);
        var sb = new StringBuilder();
        sb.AppendLine($"Input: {Shape(InputShape)}");
        sb.AppendLine(rule);
        sb.AppendLine(header.Item1.PadRight(w1) + header.Item2.PadRight(w2) + header.Item3.PadLeft(w3));
        sb.AppendLine(new string('═', w1 + w2 + w3));
        foreach (var l in lines) sb.AppendLine(l.Item1.PadRight(w1) + l.Item2.PadRight(w2) + l.Item3.PadLeft(w3));
        sb.AppendLine(rule);
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        sb.AppendLine($"Total params: {TotalParameters.ToString("N0", inv)}");
        sb.AppendLine($"Trainable params: {TrainableParameters.ToString("N0", inv)}");
        sb.AppendLine($"Non-trainable params: {(TotalParameters - TrainableParameters).ToString("N0", inv)}");
        sb.Append($"Spec hash: {SpecHash[..16]}");
        return sb.ToString();
    }
}
