using DistTrain.Core.Training;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace DistTrain.Cli.Output;

/// <summary>Renders the run's charts to PNG bytes with ScottPlot (no files touched here).</summary>
internal static class PlotWriter
{
    public const int CurveWidth = 800;
    public const int CurveHeight = 500;

    private static readonly Color TrainColor = Color.FromHex("#1f77b4");
    private static readonly Color ValidationColor = Color.FromHex("#ff7f0e");

    /// <summary>Train (and validation, when measured) loss per epoch.</summary>
    public static byte[] Loss(IReadOnlyList<EpochMetrics> history) =>
        Curves(history, "Loss", "loss", static m => m.TrainLoss, static m => m.ValidationLoss, Alignment.UpperRight);

    /// <summary>Train (and validation, when measured) accuracy per epoch.</summary>
    public static byte[] Accuracy(IReadOnlyList<EpochMetrics> history) =>
        Curves(history, "Accuracy", "accuracy", static m => m.TrainAccuracy, static m => m.ValidationAccuracy, Alignment.LowerRight);

    private static byte[] Curves(IReadOnlyList<EpochMetrics> history, string title, string yLabel,
        Func<EpochMetrics, double> train, Func<EpochMetrics, double?> validation, Alignment legendAt)
    {
        var font = PlotFonts.EnsureRegistered();
        var plot = new Plot();
        var epochs = new double[history.Count];
        var trainY = new double[history.Count];
        var valX = new List<double>(history.Count);
        var valY = new List<double>(history.Count);
        for (var i = 0; i < history.Count; i++)
        {
            epochs[i] = history[i].Epoch;
            trainY[i] = train(history[i]);
            if (validation(history[i]) is { } v)
            {
                valX.Add(history[i].Epoch);
                valY.Add(v);
            }
        }
        // Markers help with a handful of epochs and only clutter a long run.
        var markerSize = history.Count <= 40 ? 6f : 0f;
        var trainLine = plot.Add.Scatter(epochs, trainY, TrainColor);
        trainLine.LegendText = "train";
        trainLine.LineWidth = 2;
        trainLine.MarkerSize = markerSize;
        if (valX.Count > 0)
        {
            var valLine = plot.Add.Scatter(valX.ToArray(), valY.ToArray(), ValidationColor);
            valLine.LegendText = "validation";
            valLine.LineWidth = 2;
            valLine.MarkerSize = markerSize;
        }
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel(yLabel);
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { IntegerTicksOnly = true };
        plot.ShowLegend(legendAt);
        plot.Font.Set(font);
        if (history.Count == 1)
            plot.Axes.SetLimitsX(epochs[0] - 1, epochs[0] + 1); // one point: give it some room either side
        return plot.GetImageBytes(CurveWidth, CurveHeight, ImageFormat.Png);
    }

    /// <summary>Heatmap of a confusion matrix (row = true class, column = predicted) with the count in each cell.</summary>
    public static byte[] Confusion(int[,] confusion, IReadOnlyList<string> classNames)
    {
        var font = PlotFonts.EnsureRegistered();
        var n = classNames.Count;
        var values = new double[n, n];
        var max = 0;
        for (var r = 0; r < n; r++)
            for (var c = 0; c < n; c++)
            {
                values[r, c] = confusion[r, c];
                max = Math.Max(max, confusion[r, c]);
            }

        var plot = new Plot();
        // Heatmap row 0 is drawn at the top; cell (r, c) is centred on (x = c, y = n - 1 - r).
        var heatmap = plot.Add.Heatmap(values);
        // ScottPlot's Blues runs dark→light; reversed, the busiest cells are the darkest, as usual.
        heatmap.Colormap = new ScottPlot.Colormaps.Reversed(new ScottPlot.Colormaps.Blues());
        heatmap.ManualRange = new ScottPlot.Range(0, Math.Max(1, max));

        var cellFont = Math.Clamp(CellPixels(n) * 0.3f, 6f, 14f);
        for (var r = 0; r < n; r++)
            for (var c = 0; c < n; c++)
            {
                var text = plot.Add.Text(confusion[r, c].ToString(System.Globalization.CultureInfo.InvariantCulture), c, n - 1 - r);
                text.Alignment = Alignment.MiddleCenter;
                text.LabelFontSize = cellFont;
                text.LabelFontName = font;
                // Dark cells get white text, light cells black, so every count stays readable.
                text.LabelFontColor = confusion[r, c] > max * 0.55 ? Colors.White : Colors.Black;
            }

        var labelFont = n == 0 ? font : PlotFonts.For(string.Concat(classNames));
        var xTicks = new NumericManual();
        var yTicks = new NumericManual();
        for (var i = 0; i < n; i++)
        {
            xTicks.AddMajor(i, classNames[i]);
            yTicks.AddMajor(n - 1 - i, classNames[i]);
        }
        plot.Font.Set(font);
        plot.Axes.Bottom.TickGenerator = xTicks;
        plot.Axes.Left.TickGenerator = yTicks;
        plot.Axes.Bottom.TickLabelStyle.FontName = labelFont;
        plot.Axes.Left.TickLabelStyle.FontName = labelFont;
        // Long names under the columns would run into each other: slant them, and make the bottom panel
        // tall enough for the longest one (ScottPlot sizes it for unrotated labels).
        float widest = 0;
        using (var paint = Paint.NewDisposablePaint())
            foreach (var name in classNames)
                widest = Math.Max(widest, plot.Axes.Bottom.TickLabelStyle.Measure(name, paint).Width);
        if (widest > CellPixels(n) * 0.9)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plot.Axes.Bottom.MinimumSize = widest * 0.75f + 30;
        }
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Grid.IsVisible = false;
        plot.Title("Confusion matrix (test set)");
        plot.XLabel("predicted class");
        plot.YLabel("true class");
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = "samples";
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);

        var side = 200 + CellPixels(n) * n;
        return plot.GetImageBytes(side + 120, side, ImageFormat.Png);
    }

    /// <summary>Cell size: roomy for a few classes, shrinking so 80 classes still fit in ~1200 px.</summary>
    private static int CellPixels(int classes) => Math.Clamp(1000 / Math.Max(1, classes), 12, 80);
}
