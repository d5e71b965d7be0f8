using System.Collections;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;

namespace DistTrain.Cluster.Settings;

/// <summary>
/// The HOCON configuration of a cluster node: an overrides string (test settings) over DISTTRAIN_*
/// environment variables over the role files (cluster-config/ROLE.conf) over cluster-config/base.conf (embedded in this assembly, so the
/// <c>disttrain node</c> command needs no files on disk) over Akka's defaults. The variables are applied
/// here rather than with HOCON <c>${?VAR}</c>, which Akka.NET 1.5.73 does not resolve (see base.conf).
/// </summary>
public static class ClusterConfig
{
    /// <summary>The ActorSystem name every node of a cluster uses (part of every node address).</summary>
    public const string SystemName = "disttrain";

    public const string ResourceName = "DistTrain.Cluster.base.conf";

    private const string Tcp = "akka.remote.dot-netty.tcp";

    /// <summary>The environment variables <see cref="Load"/> understands and the keys they set.</summary>
    public static IReadOnlyList<(string Variable, string Key)> Variables { get; } =
    [
        ("DISTTRAIN_HOST", $"{Tcp}.hostname"),
        ("DISTTRAIN_PORT", $"{Tcp}.port"),
        ("DISTTRAIN_PUBLIC_HOST", $"{Tcp}.public-hostname"),
        ("DISTTRAIN_PUBLIC_PORT", $"{Tcp}.public-port"),
        ("DISTTRAIN_SEEDS", "akka.cluster.seed-nodes"),
        ("DISTTRAIN_ROLES", "akka.cluster.roles"),
        ("DISTTRAIN_MIN_MEMBERS", "akka.cluster.min-nr-of-members"),
        ("DISTTRAIN_LOGLEVEL", "akka.loglevel"),
        ("DISTTRAIN_TLS_CERT", $"{Tcp}.ssl.certificate.path"),
        ("DISTTRAIN_TLS_PASSWORD", $"{Tcp}.ssl.certificate.password"),
        ("DISTTRAIN_TLS_VALIDATION", $"{Tcp}.ssl.suppress-validation"),
        ("DISTTRAIN_DATA_PLANE", "disttrain.data-plane.enabled"),
        ("DISTTRAIN_SHARED_MEMORY", "disttrain.data-plane.shared-memory"),
    ];

    private static readonly Lazy<string> EmbeddedBase = new(ReadEmbeddedBase);

    /// <summary>The text of cluster-config/base.conf as built into this assembly.</summary>
    public static string BaseText => EmbeddedBase.Value;

    public static Config Base => ConfigurationFactory.ParseString(BaseText);

    /// <summary>The text of cluster-config/ROLE.conf (seed, ps, worker) as built into this assembly; null for other roles.</summary>
    public static string? RoleText(string role)
    {
        if (role is not ("seed" or "ps" or "worker")) return null;
        using var stream = typeof(ClusterConfig).Assembly.GetManifestResourceStream($"DistTrain.Cluster.{role}.conf")
            ?? throw new InvalidOperationException($"cluster-config/{role}.conf is not embedded in {typeof(ClusterConfig).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// overrides → environment → base.conf. <paramref name="environment"/> defaults to the process
    /// environment; pass a dictionary to make the result independent of it (tests).
    /// </summary>
    public static Config Load(string? overrides = null, IReadOnlyDictionary<string, string?>? environment = null, IEnumerable<string>? roles = null)
    {
        environment ??= ProcessEnvironment();
        var withRoles = Base;
        foreach (var role in roles ?? [])
            if (RoleText(role) is { } text) withRoles = ConfigurationFactory.ParseString(text).WithFallback(withRoles);
        var config = ConfigurationFactory.ParseString(EnvironmentHocon(environment)).WithFallback(withRoles);
        if (!string.IsNullOrWhiteSpace(overrides)) config = ConfigurationFactory.ParseString(overrides).WithFallback(config);
        return config;
    }

    /// <summary>
    /// The HOCON layer for the DISTTRAIN_* variables that are set (empty values count as unset). Throws an
    /// ArgumentException naming the variable, what it expects and what it found.
    /// </summary>
    public static string EnvironmentHocon(IReadOnlyDictionary<string, string?> environment)
    {
        var sb = new StringBuilder();
        var tls = Tls(environment);
        if (tls is not null) sb.Append(tls.ToHocon());
        foreach (var (variable, key) in Variables)
        {
            if (!environment.TryGetValue(variable, out var raw) || string.IsNullOrWhiteSpace(raw)) continue;
            if (variable.StartsWith("DISTTRAIN_TLS_", StringComparison.Ordinal)) continue; // in tls.ToHocon()
            var value = raw.Trim();
            var hocon = variable switch
            {
                "DISTTRAIN_HOST" or "DISTTRAIN_PUBLIC_HOST" => Quote(HostName(variable, value)),
                "DISTTRAIN_PORT" or "DISTTRAIN_PUBLIC_PORT" => Integer(variable, value, 0, 65535, "a TCP port").ToString(CultureInfo.InvariantCulture),
                "DISTTRAIN_MIN_MEMBERS" => Integer(variable, value, 1, 10_000, "a member count").ToString(CultureInfo.InvariantCulture),
                "DISTTRAIN_SEEDS" => List(variable, value, tls is null ? PlainSeed : TlsSeed),
                "DISTTRAIN_ROLES" => List(variable, value, Role),
                "DISTTRAIN_LOGLEVEL" => LogLevel(variable, value),
                "DISTTRAIN_DATA_PLANE" or "DISTTRAIN_SHARED_MEMORY" => OnOff(variable, value),
                _ => throw new InvalidOperationException(variable),
            };
            sb.Append(key).Append(" = ").Append(hocon).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>
    /// TLS from DISTTRAIN_TLS_CERT (a .pfx file, opened here to fail early), DISTTRAIN_TLS_PASSWORD and
    /// DISTTRAIN_TLS_VALIDATION (chain | none); null when DISTTRAIN_TLS_CERT is not set. The password is used
    /// exactly as given (not trimmed) and never appears in a message.
    /// </summary>
    public static TlsSettings? Tls(IReadOnlyDictionary<string, string?> environment)
    {
        static string? Get(IReadOnlyDictionary<string, string?> env, string name) =>
            env.TryGetValue(name, out var v) && !string.IsNullOrWhiteSpace(v) ? v : null;
        var path = Get(environment, "DISTTRAIN_TLS_CERT")?.Trim();
        var password = Get(environment, "DISTTRAIN_TLS_PASSWORD");
        var validation = Get(environment, "DISTTRAIN_TLS_VALIDATION")?.Trim();
        if (path is null)
        {
            if (password is not null) throw new ArgumentException("DISTTRAIN_TLS_PASSWORD is set but DISTTRAIN_TLS_CERT (the .pfx file it opens) is not");
            if (validation is not null) throw new ArgumentException($"DISTTRAIN_TLS_VALIDATION is set ('{validation}') but DISTTRAIN_TLS_CERT is not; TLS needs a certificate");
            return null;
        }
        var mode = validation?.ToLowerInvariant() switch
        {
            null or "chain" => TlsValidation.Chain,
            "none" => TlsValidation.None,
            _ => throw new ArgumentException($"DISTTRAIN_TLS_VALIDATION must be chain (peer certificates must lead to a trusted root) or none (encrypt only), found '{validation}'"),
        };
        var settings = new TlsSettings(path, password, mode);
        settings.Validate("DISTTRAIN_TLS_CERT", "DISTTRAIN_TLS_PASSWORD");
        return settings;
    }

    private static Dictionary<string, string?> ProcessEnvironment()
    {
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && k.StartsWith("DISTTRAIN_", StringComparison.Ordinal)) env[k] = e.Value as string;
        return env;
    }

    private static string ReadEmbeddedBase()
    {
        using var stream = typeof(ClusterConfig).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from {typeof(ClusterConfig).Assembly.FullName}");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string HostName(string variable, string value)
    {
        foreach (var c in value)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or ':'))
                throw new ArgumentException($"{variable} must be a host name or IP address (letters, digits, '.', '-', '_', ':'), found '{value}'");
        return value;
    }

    private static int Integer(string variable, string value, int min, int max, string what) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{variable} must be {what}, a whole number in {min}..{max}; found '{value}'");

    private static string List(string variable, string value, Func<string, string, string> item)
    {
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var items = new string[parts.Length];
        for (var i = 0; i < parts.Length; i++) items[i] = Quote(item(variable, parts[i]));
        return "[" + string.Join(", ", items) + "]";
    }

    private static string Seed(string variable, string value)
    {
        if (!Address.TryParse(value, out var address) || address.Host is null || address.Port is null)
            throw new ArgumentException($"{variable} must list seed addresses like akka.tcp://{SystemName}@seed:4053, found '{value}'");
        if (address.System != SystemName)
            throw new ArgumentException($"{variable}: seed '{value}' names actor system '{address.System}', but every node runs '{SystemName}'");
        return value;
    }

    /// <summary>With TLS off, nodes listen as akka.tcp://; no other transport is loaded.</summary>
    private static string PlainSeed(string variable, string value)
    {
        if (!value.StartsWith("akka.tcp://", StringComparison.Ordinal))
            throw new ArgumentException($"{variable} must list seed addresses like akka.tcp://{SystemName}@seed:4053 (akka.ssl.tcp:// only with DISTTRAIN_TLS_CERT set), found '{value}'");
        return Seed(variable, value);
    }

    /// <summary>With TLS on, nodes listen as akka.ssl.tcp://; a plain akka.tcp:// seed could never be reached.</summary>
    private static string TlsSeed(string variable, string value)
    {
        if (!value.StartsWith(TlsSettings.Scheme + "://", StringComparison.Ordinal))
            throw new ArgumentException($"{variable}: with TLS on (DISTTRAIN_TLS_CERT) seeds are {TlsSettings.Scheme}://{SystemName}@HOST:PORT addresses, found '{value}'");
        return Seed(variable, value);
    }

    private static string Role(string variable, string value)
    {
        foreach (var c in value)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
                throw new ArgumentException($"{variable} must list role names (letters, digits, '-', '_'), found '{value}'");
        return value;
    }

    private static string OnOff(string variable, string value) => value.ToLowerInvariant() switch
    {
        "on" or "off" => value.ToLowerInvariant(),
        _ => throw new ArgumentException($"{variable} must be on or off, found '{value}'"),
    };

    private static string LogLevel(string variable, string value) => value.ToUpperInvariant() switch
    {
        "DEBUG" or "INFO" or "WARNING" or "ERROR" or "OFF" => value.ToUpperInvariant(),
        _ => throw new ArgumentException($"{variable} must be DEBUG, INFO, WARNING, ERROR or OFF, found '{value}'"),
    };
}
