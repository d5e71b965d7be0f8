using System.Text;

namespace DistTrain.Cli.Tests.Fuzz;

/// <summary>
/// Helpers for the seeded fuzz tests: run one generated input and fail with a reproducible description
/// (seed, case number, input excerpt) when anything but the documented exception escapes.
/// </summary>
internal static class Fuzz
{
    /// <summary>
    /// Runs <paramref name="action"/>; it may return, or throw exactly <typeparamref name="TException"/>.
    /// Returns the exception, or null on success.
    /// </summary>
    public static TException? Expect<TException>(string what, Action action) where TException : Exception
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e) when (e.GetType() == typeof(TException))
        {
            return (TException)e;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().FullName} escaped (only {typeof(TException).Name} is documented): {e}");
            return null;
        }
    }

    /// <summary>The input as a short, escaped excerpt for failure messages.</summary>
    public static string Show(string? s, int max = 400)
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

    /// <summary>Random text: printable ASCII, punctuation that means something to HOCON/JSON/URIs, control characters, non-ASCII.</summary>
    public static string RandomText(Random rng, int maxLength)
    {
        const string alphabet = "abcXYZ0123456789.,:/@$={}[]\"'\\#! -_+";
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
