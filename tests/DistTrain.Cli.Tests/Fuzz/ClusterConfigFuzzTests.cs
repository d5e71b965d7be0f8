using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cli.Tests.Fuzz;

// Inside the namespace: DistTrain.*.Tests.Fuzz would otherwise hide the Fuzz helper class.
using DistTrain.Tests.Shared;

/// <summary>
/// ClusterConfig.Load with random DISTTRAIN_* environments: either a configuration that carries exactly the
/// values given, or an ArgumentException that names one of the variables that was set. No HOCON parse error,
/// no value smuggled into another key.
/// </summary>
public sealed class ClusterConfigFuzzTests : IDisposable
{
    private const string Password = "fuzz \"pw\" \\";
    private readonly TempFolder _tmp = new();
    private readonly Dictionary<string, string[]> _good;

    public ClusterConfigFuzzTests()
    {
        using var rsa = RSA.Create(2048);
        using var certificate = new CertificateRequest("CN=fuzz", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = _tmp.File("node.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pfx, Password));
        File.WriteAllText(_tmp.File("not-a.pfx"), "hello");
        _good = new(Good)
        {
            ["DISTTRAIN_TLS_CERT"] = [pfx, " " + pfx + " "],
            ["DISTTRAIN_TLS_PASSWORD"] = [Password],
            ["DISTTRAIN_TLS_VALIDATION"] = ["chain", "none", "NONE"],
        };
        _bad = [.. Bad, _tmp.File("not-a.pfx"), _tmp.File("missing.pfx"), _tmp.Path, "akka.ssl.tcp://disttrain@seed:4053", " " + Password];
    }

    private readonly string[] _bad;

    public void Dispose() => _tmp.Dispose();

    /// <summary>Valid values per variable (several also valid for others: "0", "1", "seed").</summary>
    private static readonly Dictionary<string, string[]> Good = new()
    {
        ["DISTTRAIN_HOST"] = ["127.0.0.1", "0.0.0.0", "seed", "node-1.cluster.local", "::1"],
        ["DISTTRAIN_PORT"] = ["4053", "0", "65535", " 4054 "],
        ["DISTTRAIN_PUBLIC_HOST"] = ["seed", "10.0.0.7", "worker_2"],
        ["DISTTRAIN_PUBLIC_PORT"] = ["4053", "1"],
        ["DISTTRAIN_SEEDS"] = ["akka.tcp://disttrain@seed:4053", "akka.tcp://disttrain@10.0.0.2:4053, akka.tcp://disttrain@seed2:4053,", "akka.ssl.tcp://disttrain@seed:4053"],
        ["DISTTRAIN_ROLES"] = ["ps", "worker", "ps,seed", " worker , ps ", "client"],
        ["DISTTRAIN_MIN_MEMBERS"] = ["1", "3", "10000"],
        ["DISTTRAIN_LOGLEVEL"] = ["debug", "INFO", "Warning", "off"],
        ["DISTTRAIN_DATA_PLANE"] = ["on", "off", "ON", " Off "],
        ["DISTTRAIN_SHARED_MEMORY"] = ["on", "off", "OFF", " On "],
    };

    private static readonly string[] Bad =
    [
        "65536", "-1", "4053x", "0x10", "1e3", "99999999999", "+5", "akka.tcp://other@seed:4053", "akka.tcp://disttrain@seed", "http://seed:4053",
        "seed:4053", "ps worker", "ps;worker", "TRACE", "127.0.0.1\"\nakka.actor.provider = local", "a\"b", "${HOME}", "x}", "\\", "\u00e9t\u00e9",
        "akka.tcp://disttrain@seed:4053\"]\nakka.loglevel = DEBUG #", "0\nakka.loglevel = OFF", "10001", "0",
    ];

    private string RandomValue(string variable, Random rng) => rng.Next(10) switch
    {
        < 6 => _good[variable][rng.Next(_good[variable].Length)],
        6 => _bad[rng.Next(_bad.Length)],
        7 => rng.Next(3) == 0 ? "" : "  ",
        8 => rng.Next(-5, 70000).ToString(CultureInfo.InvariantCulture),
        _ => Fuzz.RandomText(rng, 40, Fuzz.ConfigAlphabet),
    };

    [Fact]
    public void Random_environments_load_faithfully_or_fail_naming_a_variable_that_was_set()
    {
        var rng = new Random(5501);
        int failed = 0, loaded = 0, loadedWithTls = 0;
        for (var i = 0; i < 1500; i++)
        {
            var env = new Dictionary<string, string?>(StringComparer.Ordinal);
            var tlsCase = rng.Next(3) == 0; // certificate and password together, as a deployment would set them
            foreach (var (variable, _) in ClusterConfig.Variables)
            {
                var set = variable switch
                {
                    "DISTTRAIN_TLS_CERT" or "DISTTRAIN_TLS_PASSWORD" => tlsCase || rng.Next(10) == 0,
                    "DISTTRAIN_TLS_VALIDATION" => rng.Next(tlsCase ? 2 : 10) == 0,
                    _ => rng.Next(3) == 1,
                };
                if (set) env[variable] = RandomValue(variable, rng);
            }
            var what = $"case {i} (seed 5501): {string.Join("; ", env.Select(kv => $"{kv.Key}='{Fuzz.Show(kv.Value)}'"))}";

            Akka.Configuration.Config? config = null;
            var e = Fuzz.Expect<ArgumentException>(what, () => config = ClusterConfig.Load(environment: env));
            if (e is not null)
            {
                failed++;
                var named = env.Keys.Where(k => e.Message.StartsWith(k, StringComparison.Ordinal)).ToList();
                Assert.True(named.Count > 0, $"{what}: the message does not start with a variable that was set: {e.Message}");
                continue;
            }
            loaded++;
            Assert.NotNull(config);
            if (config.HasPath("akka.remote.dot-netty.tcp.enable-ssl")) loadedWithTls++;
            // What was set is what the node gets, and nothing else moved.
            Assert.Equal("cluster", config.GetString("akka.actor.provider"));
            Assert.Equal(env.ContainsKey("DISTTRAIN_TLS_CERT") && !string.IsNullOrWhiteSpace(env["DISTTRAIN_TLS_CERT"]), config.HasPath("akka.remote.dot-netty.tcp.enable-ssl"));
            foreach (var (variable, key) in ClusterConfig.Variables)
            {
                if (!env.TryGetValue(variable, out var raw) || string.IsNullOrWhiteSpace(raw)) continue;
                var v = raw.Trim();
                switch (variable)
                {
                    case "DISTTRAIN_PORT" or "DISTTRAIN_PUBLIC_PORT" or "DISTTRAIN_MIN_MEMBERS":
                        Assert.Equal(int.Parse(v, CultureInfo.InvariantCulture), config.GetInt(key));
                        break;
                    case "DISTTRAIN_SEEDS" or "DISTTRAIN_ROLES":
                        Assert.Equal(v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), config.GetStringList(key));
                        break;
                    case "DISTTRAIN_DATA_PLANE" or "DISTTRAIN_SHARED_MEMORY":
                        Assert.Equal(v.Equals("on", StringComparison.OrdinalIgnoreCase), config.GetBoolean(key));
                        break;
                    case "DISTTRAIN_LOGLEVEL":
                        Assert.Equal(v.ToUpperInvariant(), config.GetString(key));
                        break;
                    case "DISTTRAIN_TLS_CERT":
                        Assert.Equal(v, config.GetString(key));
                        Assert.True(config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
                        break;
                    case "DISTTRAIN_TLS_PASSWORD":
                        Assert.Equal(raw, config.GetString(key)); // exactly, not trimmed
                        break;
                    case "DISTTRAIN_TLS_VALIDATION":
                        Assert.Equal(v.Equals("none", StringComparison.OrdinalIgnoreCase), config.GetBoolean(key));
                        break;
                    default:
                        Assert.Equal(v, config.GetString(key));
                        break;
                }
            }
        }
        Assert.True(failed > 300 && loaded > 200 && loadedWithTls > 20, $"failed {failed}, loaded {loaded} ({loadedWithTls} with TLS)");
    }
}
