using System.Diagnostics.CodeAnalysis;

namespace DistTrain.Data;

/// <summary>
/// Malformed input data (CSV, idx, image/label files). The message always has the shape
/// "{source}: {location}: expected {X} but found {Y}. {how to fix}", so a user can go straight to the
/// offending line or byte.
/// </summary>
public sealed class DataFormatException : Exception
{
    private string _source;

    public DataFormatException(string source, string location, string expected, string found, string fix, Exception? inner = null)
        : base(Compose(source, location, expected, found, fix), inner)
    {
        _source = source;
        Location = location;
        Expected = expected;
        Found = found;
    }

    /// <summary>The file path or name of the input (overrides <see cref="Exception.Source"/>, which would name an assembly).</summary>
    [AllowNull]
    public override string Source
    {
        get => _source;
        set => _source = value ?? "";
    }

    /// <summary>Where in the input: "line 17, column 'bill_depth_mm'", "offset 16", ...</summary>
    public string Location { get; }

    public string Expected { get; }

    public string Found { get; }

    private static string Compose(string source, string location, string expected, string found, string fix)
    {
        var message = $"{source}: {location}: expected {expected} but found {found}.";
        return string.IsNullOrWhiteSpace(fix) ? message : message + " " + fix;
    }
}
