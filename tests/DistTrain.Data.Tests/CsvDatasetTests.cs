using System.Text;
using DistTrain.Core.Layers;
using DistTrain.Data.Csv;

namespace DistTrain.Data.Tests;

public sealed class CsvDatasetTests
{
    private static readonly CsvOptions XY = new("label", ["x", "y"]);

    private static CsvDataset Parse(string text, CsvOptions? options = null, string source = "test.csv")
        => CsvDataset.Parse(new StringReader(text), source, options ?? XY);

    private static DataFormatException ParseFails(string text, CsvOptions? options = null)
        => Assert.Throws<DataFormatException>(() => Parse(text, options, "bad.csv"));

    private static void AssertMessage(DataFormatException e, params string[] parts)
    {
        Assert.Equal("bad.csv", e.Source);
        Assert.StartsWith("bad.csv: ", e.Message);
        foreach (var part in parts) Assert.Contains(part, e.Message);
    }

    [Fact]
    public void Parse_handles_quoted_commas_doubled_quotes_CRLF_and_a_byte_order_mark()
    {
        var data = Parse("\uFEFFname,x,y,label\r\n\"Smith, J\",1.5,2,a\r\n\"say \"\"hi\"\"\",3,4e1,b\r\n");

        Assert.Equal(2, data.Count);
        Assert.Equal([1.5f, 2f, 3f, 40f], data.Features.ToArray());
        Assert.Equal([0, 1], data.Labels.ToArray());
        Assert.Equal(["a", "b"], data.ClassNames);
        Assert.Equal([2, 3], [data.LineOf(0), data.LineOf(1)]);
    }

    [Fact]
    public void Load_strips_a_UTF8_byte_order_mark_from_the_header_of_a_file()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bom.csv");
        File.WriteAllText(path, "x,y,label\n1,2,a\n", new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));

        var data = CsvDataset.Load(path, XY);

        Assert.Equal([1f, 2f], data.Features.ToArray());
        Assert.Equal(path, data.SourceName);
    }

    [Fact]
    public void A_quoted_field_may_span_lines_and_later_line_numbers_stay_physical()
    {
        var data = Parse("note,x,y,label\n\"two\nlines\",1,2,a\nplain,3,4,b\n\nlast,5,6,a\n");

        Assert.Equal(3, data.Count);
        Assert.Equal([2, 4, 6], [data.LineOf(0), data.LineOf(1), data.LineOf(2)]);
    }

    [Fact]
    public void Classes_are_numbered_by_first_appearance_unless_a_class_order_is_given()
    {
        const string text = "x,y,label\n1,1,cat\n2,2,dog\n3,3,cat\n4,4,emu\n";

        var byAppearance = Parse(text);
        var ordered = Parse(text, XY with { ClassOrder = ["emu", "dog", "cat"] });

        Assert.Equal(["cat", "dog", "emu"], byAppearance.ClassNames);
        Assert.Equal([0, 1, 0, 2], byAppearance.Labels.ToArray());
        Assert.Equal(["emu", "dog", "cat"], ordered.ClassNames);
        Assert.Equal([2, 1, 2, 0], ordered.Labels.ToArray());
    }

    [Fact]
    public void Drop_mode_skips_rows_with_NA_or_empty_cells_and_reports_their_lines()
    {
        var data = Parse("x,y,label,unused\n1,2,a,NA\nNA,3,a,z\n4,,b,z\n5,6,NA,z\n7,8,b,z\n");

        Assert.Equal(2, data.Count);
        Assert.Equal([1f, 2f, 7f, 8f], data.Features.ToArray());
        Assert.Equal([new DroppedRow(3, "x"), new DroppedRow(4, "y"), new DroppedRow(5, "label")], data.DroppedRows);
        Assert.Equal("dropped 3 rows with missing values (lines 3, 4, 5)", data.DescribeDroppedRows());
    }

    [Fact]
    public void Error_mode_rejects_a_missing_value_naming_line_and_column()
    {
        var e = ParseFails("x,y,label\n1,2,a\n3,NA,b\n", XY with { Missing = MissingValues.Error });

        AssertMessage(e, "line 3, column 'y'", "expected a value", "found the missing-value marker 'NA'");
        Assert.Equal("line 3, column 'y'", e.Location);
    }

    [Fact]
    public void An_empty_file_is_rejected()
    {
        AssertMessage(ParseFails(""), "line 1", "expected a header line", "found an empty file");
        AssertMessage(ParseFails("\n\r\n"), "expected a header line", "found an empty file");
    }

    [Fact]
    public void A_header_without_data_rows_is_rejected()
    {
        AssertMessage(ParseFails("x,y,label\n"), "line 2", "expected at least one data row", "found only the header");
    }

    [Fact]
    public void A_missing_column_is_rejected_listing_the_columns_found()
    {
        AssertMessage(ParseFails("x,z,label\n1,2,a\n"), "line 1 (header), column 'y'", "expected a column named 'y'", "found the columns 'x', 'z', 'label'");
    }

    [Fact]
    public void A_non_numeric_cell_is_rejected_naming_line_and_column()
    {
        var e = ParseFails("x,y,label\n1,2,a\n3,4,b\n5,abc,a\n");

        AssertMessage(e, "line 4, column 'y'", "expected a number", "found 'abc'");
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("1e39")]
    public void NaN_and_infinite_cells_are_rejected_even_in_drop_mode(string cell)
    {
        var e = ParseFails($"x,y,label\n1,2,a\n{cell},4,b\n", XY with { Missing = MissingValues.Drop });

        AssertMessage(e, "line 3, column 'x'", "expected a finite number", $"found '{cell}'");
    }

    [Fact]
    public void A_NaN_cell_is_rejected_even_when_its_row_also_has_a_missing_value()
    {
        AssertMessage(ParseFails("x,y,label\nNA,NaN,a\n1,2,b\n"), "line 2, column 'y'", "expected a finite number");
    }

    [Fact]
    public void A_ragged_row_is_rejected_with_expected_and_found_field_counts()
    {
        AssertMessage(ParseFails("x,y,label\n1,2,a\n3,4\n"), "line 3", "expected 3 fields", "found 2");
        AssertMessage(ParseFails("x,y,label\n1,2,a,extra\n"), "line 2", "expected 3 fields", "found 4");
    }

    [Fact]
    public void A_label_outside_the_class_order_is_rejected()
    {
        AssertMessage(ParseFails("x,y,label\n1,2,a\n3,4,c\n", XY with { ClassOrder = ["a", "b"] }),
            "line 3, column 'label'", "expected one of the classes a, b", "found 'c'");
    }

    [Fact]
    public void An_unterminated_quote_is_rejected()
    {
        AssertMessage(ParseFails("x,y,label\n1,2,\"a\n3,4,b\n"), "line 2", "expected a closing double quote", "found the end of the file");
    }

    [Fact]
    public void All_rows_missing_is_rejected_rather_than_giving_an_empty_dataset()
    {
        AssertMessage(ParseFails("x,y,label\nNA,1,a\n2,NA,b\n"), "lines 2-3", "expected at least one row without missing values");
    }

    [Fact]
    public void Errors_from_Load_name_the_file_path()
    {
        using var dir = new TempDirectory();
        var path = dir.File("broken.csv");
        File.WriteAllText(path, "x,y,label\n1,oops,a\n");

        var e = Assert.Throws<DataFormatException>(() => CsvDataset.Load(path, XY));

        Assert.Equal(path, e.Source);
        Assert.StartsWith(path + ": line 2, column 'y'", e.Message);
    }

    [Fact]
    public void CopyInputs_gathers_the_requested_rows_in_order()
    {
        var data = Parse("x,y,label\n1,2,a\n3,4,b\n5,6,a\n");
        var dst = new float[4];

        data.CopyInputs([2, 0], dst, BatchContext.Inference(2));

        Assert.Equal([5f, 6f, 1f, 2f], dst);
        Assert.Equal([2], data.SampleShape.ToArray());
    }
}
