using System.Globalization;
using System.Text;
using DistTrain.Data.Csv;
using DistTrain.Data.Presets;

namespace DistTrain.Data.Tests.Fuzz;

// Inside the namespace: DistTrain.*.Tests.Fuzz would otherwise hide the Fuzz helper class.
using DistTrain.Tests.Shared;

/// <summary>
/// CsvDataset.Parse on generated malformed input: whatever the bytes, either a dataset comes back or a
/// DataFormatException naming the source; never another exception type, a hang or a silent bad value.
/// </summary>
public class CsvFuzzTests
{
    private static readonly CsvOptions[] OptionSets =
    [
        Penguins.Options,
        Penguins.Options with { Missing = MissingValues.Error },
        new CsvOptions(Penguins.LabelColumn, Penguins.FeatureColumns), // classes in order of appearance
    ];

    /// <summary>The header and the first 40 data rows of data/penguins.csv (includes an all-NA row).</summary>
    private static string PenguinsHead()
    {
        var lines = File.ReadAllLines(RepoPaths.PenguinsCsv());
        return string.Join("\n", lines.Take(41)) + "\n";
    }

    /// <summary>Parses <paramref name="text"/>; a returned dataset must be internally consistent.</summary>
    private static void ParseChecked(string text, string source, CsvOptions options, string what)
    {
        Fuzz.Expect<DataFormatException>(source, what, () =>
        {
            var d = CsvDataset.Parse(new StringReader(text), source, options);
            Assert.True(d.Count > 0, $"{what}: an empty dataset was returned");
            Assert.Equal(d.Count * d.FeatureCount, d.Features.Length);
            foreach (var v in d.Features) Assert.True(float.IsFinite(v), $"{what}: a non-finite feature value was accepted");
            for (var i = 0; i < d.Count; i++) Assert.InRange(d.Label(i), 0, d.ClassNames.Count - 1);
        });
    }

    [Fact]
    public void Random_text_gives_a_dataset_or_a_DataFormatException_naming_the_file()
    {
        var rng = new Random(5101);
        for (var i = 0; i < 600; i++)
        {
            // Half the cases start with a valid header so the row parser is reached, not just the header check.
            var text = (i % 2 == 0 ? "species,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g\n" : "") + Fuzz.RandomText(rng, 400);
            var source = $"random-{i}.csv";
            ParseChecked(text, source, OptionSets[i % OptionSets.Length], $"case {i} (seed 5101): '{Fuzz.Show(text)}'");
        }
    }

    [Fact]
    public void Random_bytes_decoded_as_UTF8_give_a_dataset_or_a_DataFormatException()
    {
        var rng = new Random(5102);
        for (var i = 0; i < 500; i++)
        {
            var bytes = new byte[rng.Next(0, 600)];
            rng.NextBytes(bytes);
            var source = $"bytes-{i}.csv";
            using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            var text = reader.ReadToEnd();
            ParseChecked(text, source, OptionSets[i % OptionSets.Length], $"case {i} (seed 5102): {Fuzz.Show(bytes)}");
        }
    }

    [Fact]
    public void Every_truncation_of_a_valid_penguins_file_parses_or_names_the_line_where_it_breaks()
    {
        var text = PenguinsHead();
        var errors = 0;
        for (var length = 0; length <= text.Length; length++)
        {
            var e = Fuzz.Expect<DataFormatException>("head.csv", $"truncated at {length} of {text.Length}", () =>
                CsvDataset.Parse(new StringReader(text[..length]), "head.csv", Penguins.Options));
            if (e is null) continue;
            errors++;
            Assert.Matches(@"^head\.csv: lines? \d+", e.Message);
        }
        // The cut lands inside the header for the first ~90 lengths and then in a row with too few fields
        // whenever it falls before a row's last comma: most truncations are errors, but not all.
        Assert.InRange(errors, 100, text.Length);
    }

    private static readonly string[] CellMutations =
    [
        "", "NA", "NaN", "nan", "Infinity", "-Infinity", "∞", "1e39", "-1e39", "3.4028236e38", "1e-50", "0x10", "1,5", "\"1,5\"",
        "\"", "\"\"", "\"unterminated", "\"a\"b", "12abc", " 12 ", "+1", "--1", "1.2.3", "١٢", "\u00a0", "\0", "Adelie\"", "adelie",
        "99999999999999999999999999999999999999999", "\"\"\"\"", "\r", "\n", "\r\n\r\n", ",", ",,", "\t",
    ];

    [Fact]
    public void Random_cell_mutations_of_a_valid_file_give_a_dataset_or_a_DataFormatException_naming_line_and_column()
    {
        var rng = new Random(5103);
        var rows = PenguinsHead().TrimEnd('\n').Split('\n');
        var errors = 0;
        for (var i = 0; i < 1500; i++)
        {
            var cells = rows.Select(r => r.Split(',').ToList()).ToList();
            var mutations = 1 + rng.Next(3);
            for (var m = 0; m < mutations; m++)
            {
                var r = cells[rng.Next(cells.Count)];
                switch (rng.Next(6))
                {
                    case 0: // extra separator (one more field)
                        r.Insert(rng.Next(r.Count + 1), "");
                        break;
                    case 1: // missing separator (two cells merged)
                        if (r.Count > 1) { var k = rng.Next(r.Count - 1); r[k] += r[k + 1]; r.RemoveAt(k + 1); }
                        break;
                    case 2: // a huge or tiny number
                        r[rng.Next(r.Count)] = (rng.NextDouble() * 2 - 1).ToString(CultureInfo.InvariantCulture) + "e" + rng.Next(-60, 60);
                        break;
                    default:
                        r[rng.Next(r.Count)] = CellMutations[rng.Next(CellMutations.Length)];
                        break;
                }
            }
            var text = string.Join(rng.Next(4) == 0 ? "\r\n" : "\n", cells.Select(c => string.Join(',', c)));
            var e = Fuzz.Expect<DataFormatException>("mutated.csv", $"case {i} (seed 5103): '{Fuzz.Show(text, 2000)}'", () =>
            {
                var d = CsvDataset.Parse(new StringReader(text), "mutated.csv", OptionSets[i % OptionSets.Length]);
                foreach (var v in d.Features) Assert.True(float.IsFinite(v), $"case {i}: a non-finite feature value was accepted");
            });
            if (e is null) continue;
            errors++;
            Assert.Matches(@"^mutated\.csv: lines? \d+", e.Message);
        }
        Assert.InRange(errors, 300, 1500); // the mutations must actually hit the parser's error paths
    }
}
