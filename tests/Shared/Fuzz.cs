using System.Text;

namespace DistTrain.Tests.Shared;

/// <summary>
/// Helpers for the seeded fuzz tests of every test project (linked into each, see its .csproj): run a reader
/// on one generated input and fail with a reproducible description (seed, case number, input excerpt) when
/// anything but the documented exception escapes.
/// </summary>
internal static class Fuzz
{
    /// <summary>CSV punctuation, quotes, line ends and the letters of NA/NaN/exponents.</summary>
    public const string CsvAlphabet = "abcXYZ0123456789.,,,\"\"\n\r\t -+eENA;:'\\";

    /// <summary>JSON punctuation and the letters of true/false/null/exponents.</summary>
    public const string JsonAlphabet = "{}[]:,\"\\abc019.-eE tfn";

    /// <summary>Punctuation that means something to HOCON, JSON and URIs.</summary>
    public const string ConfigAlphabet = "abcXYZ0123456789.,:/@$={}[]\"'\\#! -_+";

    /// <summary>
    /// Runs <paramref name="action"/>; it may return, or throw exactly <typeparamref name="TException"/> whose
    /// message starts with "<paramref name="source"/>:". Returns the exception, or null on success.
    /// </summary>
    public static TException? Expect<TException>(string source, string what, Action action) where TException : Exception =>
        Run<TException>(what, action, source);

    /// <summary>Runs <paramref name="action"/>; it may return, or throw exactly <typeparamref name="TException"/>.</summary>
    public static TException? Expect<TException>(string what, Action action) where TException : Exception =>
        Run<TException>(what, action, source: null);

    private static TException? Run<TException>(string what, Action action, string? source) where TException : Exception
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e) when (e.GetType() == typeof(TException))
        {
            if (source is not null)
                Assert.True(e.Message.StartsWith(source + ":", StringComparison.Ordinal),
                    $"{what}: the {typeof(TException).Name} does not name the source '{source}': {e.Message}");
            return (TException)e;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().FullName} escaped (only {typeof(TException).Name} is documented): {e}");
            return null;
        }
    }

    /// <summary>The input as a short, escaped excerpt for failure messages.</summary>
    public static string Show(string? s, int max = 300)
    {
        if (s is null) return "(null)";
        var sb = new StringBuilder();
        foreach (var c in s.Length > max ? s[..max] : s)
        {
            if (c is >= ' ' and < (char)0x7f) sb.Append(c);
            else sb.Append($"\\u{(int)c:x4}");
        }
        if (s.Length > max) sb.Append($"... ({s.Length} chars)");
        return sb.ToString();
    }

    public static string Show(ReadOnlySpan<byte> b, int max = 64) =>
        Convert.ToHexString(b.Length > max ? b[..max] : b) + (b.Length > max ? $"... ({b.Length} bytes)" : "");

    /// <summary>Random text: mostly <paramref name="alphabet"/>, plus control characters, non-ASCII code points and printable ASCII.</summary>
    public static string RandomText(Random rng, int maxLength, string alphabet = CsvAlphabet)
    {
        var n = rng.Next(maxLength + 1);
        var sb = new StringBuilder(n);
        for (var i = 0; i < n; i++)
        {
            sb.Append(rng.Next(10) switch
            {
                < 7 => alphabet[rng.Next(alphabet.Length)],
                7 => (char)rng.Next(0, 32),
                8 => (char)rng.Next(0x80, 0xD800),
                _ => (char)rng.Next(32, 127),
            });
        }
        return sb.ToString();
    }
}
