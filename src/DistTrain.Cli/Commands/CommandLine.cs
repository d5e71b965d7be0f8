using System.Globalization;

namespace DistTrain.Cli.Commands;

/// <summary>Bad command-line input: printed with the command's usage, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A small, strict parser: <c>--name value</c>, <c>--name=value</c> and boolean <c>--flag</c>. Every option a
/// command accepts is declared; anything else is an error that names the option and lists the valid ones.
/// </summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly string _command;

    private CommandLine(string command) => _command = command;

    public static CommandLine Parse(string command, IReadOnlyList<string> args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flags)
    {
        var cl = new CommandLine(command);
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.Length < 3)
                throw new UsageException($"unexpected argument '{a}'; options start with -- (see 'disttrain {command} --help')");
            var name = a[2..];
            string? inline = null;
            var eq = name.IndexOf('=');
            if (eq >= 0) { inline = name[(eq + 1)..]; name = name[..eq]; }
            if (flags.Contains(name))
            {
                if (inline is not null) throw new UsageException($"--{name} is a flag and takes no value");
                cl._values[name] = null;
            }
            else if (valueOptions.Contains(name))
            {
                var value = inline ?? (i + 1 < args.Count ? args[++i] : throw new UsageException($"--{name} needs a value"));
                if (cl._values.ContainsKey(name)) throw new UsageException($"--{name} is given twice");
                cl._values[name] = value;
            }
            else
            {
                var known = string.Join(", ", valueOptions.Concat(flags).OrderBy(x => x, StringComparer.Ordinal).Select(x => "--" + x));
                throw new UsageException($"unknown option --{name} for 'disttrain {command}'; valid options: {known}");
            }
        }
        return cl;
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public int? Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = String(name);
        if (s is null) return null;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new UsageException($"--{name} must be a whole number (got '{s}')");
        if (v < min || v > max) throw new UsageException($"--{name} must be between {min} and {max} (got {v})");
        return v;
    }

    public ulong? ULong(string name)
    {
        var s = String(name);
        if (s is null) return null;
        return ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new UsageException($"--{name} must be a non-negative whole number (got '{s}')");
    }

    public double? Double(string name, double min = double.MinValue, double max = double.MaxValue)
    {
        var s = String(name);
        if (s is null) return null;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new UsageException($"--{name} must be a number (got '{s}')");
        if (v < min || v > max) throw new UsageException($"--{name} must be between {min} and {max} (got {v})");
        return v;
    }
}
