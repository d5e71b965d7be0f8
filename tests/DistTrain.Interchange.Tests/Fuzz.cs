using System.Text;

namespace DistTrain.Interchange.Tests;

/// <summary>
/// Seeded-fuzz helpers in the style of DistTrain.Data.Tests/Fuzz: run a reader on one generated input and
/// fail with a reproducible description when anything but the documented exception escapes.
/// </summary>
internal static class Fuzz
{
    /// <summary>
    /// Runs <paramref name="action"/>; it may return, or throw exactly <typeparamref name="TException"/> whose
    /// message starts with "<paramref name="source"/>:". Returns the exception, or null on success.
    /// </summary>
    public static TException? Expect<TException>(string source, string what, Action action) where TException : Exception
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e) when (e.GetType() == typeof(TException))
        {
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

    public static string Show(string s, int max = 300)
    {
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

    /// <summary>Random text: JSON punctuation, printable ASCII, control characters and non-ASCII code points.</summary>
    public static string RandomText(Random rng, int maxLength)
    {
        const string alphabet = "{}[]:,\"\\abc019.-eE tfn";
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
