using DistTrain.Core.Models;
using DistTrain.Data.Csv;
using DistTrain.Data.Presets;

namespace DistTrain.Data.Tests;

public sealed class PenguinsTests
{
    [Fact]
    public void Embedded_penguins_drop_the_two_unmeasured_rows_leaving_342_samples_151_123_68()
    {
        var data = Penguins.LoadEmbedded();

        Assert.Equal(342, data.Count);
        Assert.Equal(["Adelie", "Gentoo", "Chinstrap"], data.ClassNames);
        var counts = new int[3];
        foreach (var y in data.Labels) counts[y]++;
        // 152 Adelie, 124 Gentoo, 68 Chinstrap in the file; line 5 (Adelie) and line 273 (Gentoo) have no measurements.
        Assert.Equal([151, 123, 68], counts);
        Assert.Equal([new DroppedRow(5, "bill_length_mm"), new DroppedRow(273, "bill_length_mm")], data.DroppedRows);
    }

    [Fact]
    public void Embedded_penguins_read_the_measurement_columns_in_the_documented_order()
    {
        var data = Penguins.LoadEmbedded();

        Assert.Equal(["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"], data.FeatureNames);
        // First data line: Adelie,Torgersen,39.1,18.7,181,3750,male,2007
        Assert.Equal([39.1f, 18.7f, 181f, 3750f], data.Row(0).ToArray());
        Assert.Equal(0, data.Label(0));
        // Last line: Chinstrap,Dream,50.2,18.7,198,3775,female,2009
        Assert.Equal([50.2f, 18.7f, 198f, 3775f], data.Row(data.Count - 1).ToArray());
        Assert.Equal(2, data.Label(data.Count - 1));
    }

    [Fact]
    public void Loading_the_repository_file_gives_the_same_data_as_the_embedded_copy()
    {
        var fromFile = Penguins.Load(RepoPaths.PenguinsCsv());
        var embedded = Penguins.LoadEmbedded();

        Assert.Equal(embedded.Features.ToArray(), fromFile.Features.ToArray());
        Assert.Equal(embedded.Labels.ToArray(), fromFile.Labels.ToArray());
    }

    [Fact]
    public void Error_mode_on_the_penguins_file_stops_at_the_first_unmeasured_row()
    {
        var path = RepoPaths.PenguinsCsv();

        var e = Assert.Throws<DataFormatException>(() => CsvDataset.Load(path, Penguins.Options with { Missing = MissingValues.Error }));

        Assert.Equal("line 5, column 'bill_length_mm'", e.Location);
        Assert.Contains("penguins.csv", e.Message);
    }

    [Fact]
    public void Default_model_is_4_inputs_two_hidden_layers_of_five_and_3_outputs()
    {
        var model = new Model(Penguins.DefaultModel);

        Assert.Equal([4], model.InputShape.ToArray());
        Assert.Equal([3], model.OutputShape.ToArray());
        // (4·5 + 5) + (5·5 + 5) + (5·3 + 3) = 25 + 30 + 18
        Assert.Equal(73, model.ParameterCount);
    }
}
