using System.Text;
using DistTrain.Core.Models;
using DistTrain.Data.Csv;

namespace DistTrain.Data.Presets;

/// <summary>
/// Palmer penguins (data/penguins.csv, CC0): four measurements → species. Class order is fixed as
/// Adelie, Gentoo, Chinstrap, so a model's output is [P(Adelie), P(Gentoo), P(Chinstrap)]. The two rows
/// with all measurements NA are dropped, leaving 342 samples (151 Adelie, 123 Gentoo, 68 Chinstrap).
/// </summary>
public static class Penguins
{
    public const string LabelColumn = "species";

    /// <summary>Name of the copy of data/penguins.csv embedded in this assembly.</summary>
    public const string ResourceName = "penguins.csv";

    public static IReadOnlyList<string> FeatureColumns { get; } = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"];

    public static IReadOnlyList<string> ClassOrder { get; } = ["Adelie", "Gentoo", "Chinstrap"];

    public static CsvOptions Options { get; } = new(LabelColumn, FeatureColumns, MissingValues.Drop, ClassOrder);

    /// <summary>
    /// The course-notes network: 4 inputs, two hidden layers of five ReLU neurons, 3 outputs (logits, for
    /// softmax cross-entropy).
    /// </summary>
    public static ModelSpec DefaultModel { get; } = new(
        [4],
        [
            new DenseSpec(5),
            new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(5),
            new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(3, Initializer.Glorot),
        ]);

    public static CsvDataset Load(string path) => CsvDataset.Load(path, Options);

    /// <summary>The copy of data/penguins.csv built into DistTrain.Data.</summary>
    public static CsvDataset LoadEmbedded()
    {
        using var stream = typeof(Penguins).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Resource '{ResourceName}' is missing from {typeof(Penguins).Assembly.GetName().Name}; the project must embed data/penguins.csv.");
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return CsvDataset.Parse(reader, "penguins.csv (embedded)", Options);
    }
}
