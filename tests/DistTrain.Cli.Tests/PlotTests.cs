using System.Buffers.Binary;
using DistTrain.Cli.Output;
using DistTrain.Core.Training;
using SkiaSharp;

namespace DistTrain.Cli.Tests;

public class PlotTests
{
    private static readonly string[] FashionNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    internal static List<EpochMetrics> History(int epochs, bool validation = true)
    {
        var h = new List<EpochMetrics>();
        for (var e = 1; e <= epochs; e++)
            h.Add(new EpochMetrics(e, 1.2 / e, 1 - 0.5 / e, validation ? 1.3 / e + 0.05 : null, validation ? 0.97 - 0.5 / e : null,
                10000 + e, 1.5, 100L * e, 0.001f));
        return h;
    }

    /// <summary>A 10-class matrix with a strong diagonal and a few confusions (rows: true class).</summary>
    internal static int[,] Confusion(int n)
    {
        var m = new int[n, n];
        for (var r = 0; r < n; r++)
            for (var c = 0; c < n; c++)
                m[r, c] = r == c ? 800 + 17 * r : (r * 7 + c * 3) % 11 * (Math.Abs(r - c) == 1 ? 9 : 1);
        return m;
    }

    /// <summary>Width and height from the IHDR chunk, after checking the 8-byte PNG signature.</summary>
    private static (int Width, int Height) PngSize(byte[] png)
    {
        Assert.True(png.Length > 33, $"a PNG is at least 33 bytes; got {png.Length}");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    /// <summary>Fraction of pixels inside a rectangle that are dark (text, axes).</summary>
    private static double Ink(SKBitmap bmp, int x0, int y0, int x1, int y1)
    {
        int dark = 0, total = 0;
        for (var y = y0; y < y1; y++)
            for (var x = x0; x < x1; x++)
            {
                var p = bmp.GetPixel(x, y);
                var luma = (p.Red * 299 + p.Green * 587 + p.Blue * 114) / 1000;
                if (luma < 100) dark++;
                total++;
            }
        return (double)dark / total;
    }

    [Fact]
    public void WritePlots_writes_three_png_files_larger_than_100_pixels_and_several_kilobytes()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);

        var written = output.WritePlots(History(5), Confusion(10), FashionNames);

        string[] names = [RunOutput.LossPlotFile, RunOutput.AccuracyPlotFile, RunOutput.ConfusionPlotFile];
        Assert.Equal(names, written.Select(Path.GetFileName));
        foreach (var name in names)
        {
            var png = File.ReadAllBytes(dir.File(name));
            var (w, h) = PngSize(png);
            Assert.True(w > 100 && h > 100, $"{name} is {w}×{h}");
            Assert.True(png.Length > 10_000, $"{name} is only {png.Length} bytes: a blank image?");
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*" + AtomicFile.TempSuffix));
        Assert.Empty(Directory.GetFiles(dir.Path, ".*"));
    }

    [Fact]
    public void Loss_plot_has_text_in_its_title_band_and_two_coloured_curves()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.WritePlots(History(8), Confusion(3), ["a", "b", "c"]);

        using var bmp = SKBitmap.Decode(dir.File(RunOutput.LossPlotFile));
        // The title is drawn centred above the data frame; without a usable font this band stays white.
        var titleDark = Ink(bmp, bmp.Width / 2 - 60, 0, bmp.Width / 2 + 60, 22);
        Assert.True(titleDark > 0.01, $"no title text: {titleDark:P1} dark pixels in the title band");
        var blue = 0;
        var orange = 0;
        for (var y = 0; y < bmp.Height; y++)
            for (var x = 0; x < bmp.Width; x++)
            {
                var p = bmp.GetPixel(x, y);
                if (p.Blue > 150 && p.Red < 80) blue++;
                if (p.Red > 200 && p.Green is > 90 and < 160 && p.Blue < 60) orange++;
            }
        Assert.True(blue > 200, $"train curve (blue) has {blue} pixels");
        Assert.True(orange > 200, $"validation curve (orange) has {orange} pixels");
    }

    [Fact]
    public void Curves_without_validation_draw_only_the_train_series()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.WritePlots(History(4, validation: false), Confusion(2), ["x", "y"]);

        using var bmp = SKBitmap.Decode(dir.File(RunOutput.AccuracyPlotFile));
        var orange = 0;
        for (var y = 0; y < bmp.Height; y++)
            for (var x = 0; x < bmp.Width; x++)
            {
                var p = bmp.GetPixel(x, y);
                if (p.Red > 200 && p.Green is > 90 and < 160 && p.Blue < 60) orange++;
            }
        Assert.Equal(0, orange);
    }

    [Fact]
    public void Confusion_plot_fills_its_cells_and_writes_labels()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);
        output.WritePlots([], Confusion(10), FashionNames);

        using var bmp = SKBitmap.Decode(dir.File(RunOutput.ConfusionPlotFile));
        // The ten busy diagonal cells are dark blue: about a tenth of the cell area.
        var darkBlue = 0;
        for (var y = 0; y < bmp.Height; y++)
            for (var x = 0; x < bmp.Width; x++)
            {
                var p = bmp.GetPixel(x, y);
                if (p.Blue > 80 && p.Blue > p.Red + 40 && p.Red < 60) darkBlue++;
            }
        var fraction = (double)darkBlue / (bmp.Width * bmp.Height);
        Assert.True(fraction > 0.03, $"only {fraction:P1} of the heatmap image is dark blue");
        var titleDark = Ink(bmp, bmp.Width / 2 - 100, 0, bmp.Width / 2 + 100, 22);
        Assert.True(titleDark > 0.01, $"no title text: {titleDark:P1}");
    }

    [Fact]
    public void WritePlots_without_history_writes_only_the_confusion_plot()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);

        var written = output.WritePlots([], Confusion(2), ["x", "y"]);

        Assert.Equal([RunOutput.ConfusionPlotFile], written.Select(Path.GetFileName));
        Assert.False(File.Exists(dir.File(RunOutput.LossPlotFile)));
    }

    [Fact]
    public void WritePlots_rejects_a_confusion_matrix_that_does_not_match_the_class_names()
    {
        using var dir = new TempFolder();
        var output = new RunOutput(dir.Path);

        var e = Assert.Throws<ArgumentException>(() => output.WritePlots(History(2), Confusion(3), ["a", "b"]));
        Assert.Contains("3×3", e.Message);
        Assert.Contains("2 class names", e.Message);
    }

    [Fact]
    public void Embedded_plot_font_resolves_to_dejavu_sans_regular_and_bold_whatever_fonts_the_machine_has()
    {
        var family = PlotFonts.EnsureRegistered();

        // Not disposed: ScottPlot caches these typefaces for every later render in the process.
        var regular = ScottPlot.Fonts.GetTypeface(family, bold: false, italic: false);
        var bold = ScottPlot.Fonts.GetTypeface(family, bold: true, italic: false);

        Assert.Equal("DejaVu Sans", regular.FamilyName);
        Assert.True(regular.ContainsGlyphs("epoch loss accuracy"));
        Assert.True(bold.IsBold, "the bold request should get the embedded bold face");
    }

    [Fact]
    public void Embedded_plot_font_covers_latin_labels_so_no_system_font_is_needed()
    {
        Assert.Equal(PlotFonts.Family, PlotFonts.For("epoch loss accuracy Adélie T-shirt/top 0123456789"));
    }
}
