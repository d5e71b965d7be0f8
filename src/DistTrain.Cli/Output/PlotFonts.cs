using ScottPlot;
using SkiaSharp;

namespace DistTrain.Cli.Output;

/// <summary>
/// Makes plot text render on machines without fonts. ScottPlot draws through SkiaSharp's
/// <c>NoDependencies</c> native build, which has no fontconfig and only scans the usual font folders:
/// on a slim container image it finds nothing and every label silently renders as nothing.
/// So plots use a subset of DejaVu Sans embedded in this assembly (see Fonts/README.md); a label with
/// characters outside the subset asks ScottPlot for an installed font that has them.
/// </summary>
internal static class PlotFonts
{
    /// <summary>The family name the embedded font is registered under (not a system name, so it never clashes).</summary>
    public const string Family = "DistTrain DejaVu Sans";

    // ScottPlot keeps its font resolvers in a process-wide list; registering once, before any plot
    // of ours renders, is the only touch of that global state.
    private static readonly Lazy<EmbeddedFontResolver> Resolver = new(Register, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Registers the embedded font (once) and returns its family name.</summary>
    public static string EnsureRegistered()
    {
        _ = Resolver.Value;
        return Family;
    }

    /// <summary>The font to draw <paramref name="text"/> with: the embedded one when it has every glyph.</summary>
    public static string For(string text)
    {
        var resolver = Resolver.Value;
        if (resolver.Regular.ContainsGlyphs(text)) return Family;
        var detected = Fonts.Detect(text);
        return string.IsNullOrEmpty(detected) ? Family : detected;
    }

    private static EmbeddedFontResolver Register()
    {
        var resolver = new EmbeddedFontResolver(Load("DejaVuSans.ttf"), Load("DejaVuSans-Bold.ttf"));
        Fonts.FontResolvers.Insert(0, resolver);
        return resolver;
    }

    private static SKData Load(string file)
    {
        var name = $"DistTrain.Cli.Output.Fonts.{file}";
        using var stream = typeof(PlotFonts).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The embedded font resource '{name}' is missing from {typeof(PlotFonts).Assembly.GetName().Name}; check DistTrain.Cli.csproj.");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        var data = SKData.CreateCopy(bytes);
        using var probe = SKTypeface.FromData(data)
            ?? throw new InvalidOperationException($"SkiaSharp could not load the embedded font '{name}' ({bytes.Length} bytes).");
        return data;
    }

    /// <summary>Hands out a fresh typeface per request (ScottPlot caches and may dispose what it gets).</summary>
    private sealed class EmbeddedFontResolver(SKData regular, SKData bold) : IFontResolver
    {
        /// <summary>Kept for glyph-coverage checks only.</summary>
        public SKTypeface Regular { get; } = SKTypeface.FromData(regular);

        public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing width) =>
            fontName == Family ? SKTypeface.FromData(weight >= FontWeight.SemiBold ? bold : regular) : null;

        public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic) =>
            CreateTypeface(fontName, bold ? FontWeight.Bold : FontWeight.Normal, FontSlant.Upright, FontSpacing.Normal);
    }
}
