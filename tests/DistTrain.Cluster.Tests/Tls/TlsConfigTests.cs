using System.Text;
using Akka.Configuration;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Tls;

/// <summary>DISTTRAIN_TLS_* variables: what they set, and how a bad one fails (naming it, never echoing the password).</summary>
public sealed class TlsConfigTests : IDisposable
{
    private const string Tcp = "akka.remote.dot-netty.tcp";
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public void TLS_is_off_unless_a_certificate_is_given()
    {
        Assert.False(ClusterConfig.Base.HasPath($"{Tcp}.enable-ssl")); // base.conf's TLS section is a comment
        var c = ClusterConfig.Load(environment: new Dictionary<string, string?> { ["DISTTRAIN_TLS_CERT"] = " " });
        Assert.False(c.HasPath($"{Tcp}.enable-ssl"));
        Assert.Null(ClusterConfig.Tls(new Dictionary<string, string?>()));
    }

    [Fact]
    public void A_certificate_turns_TLS_on_with_its_password_exactly_as_given()
    {
        var (pfx, _) = _certificates.Create("node");
        var c = ClusterConfig.Load(environment: new Dictionary<string, string?>
        {
            ["DISTTRAIN_TLS_CERT"] = pfx,
            ["DISTTRAIN_TLS_PASSWORD"] = TestCertificates.Password,
            ["DISTTRAIN_TLS_VALIDATION"] = "None",
            ["DISTTRAIN_SEEDS"] = "akka.ssl.tcp://disttrain@seed:4053",
        });
        Assert.True(c.GetBoolean($"{Tcp}.enable-ssl"));
        Assert.Equal(pfx, c.GetString($"{Tcp}.ssl.certificate.path"));
        Assert.Equal(TestCertificates.Password, c.GetString($"{Tcp}.ssl.certificate.password")); // quotes, backslash, ${...} intact
        Assert.True(c.GetBoolean($"{Tcp}.ssl.suppress-validation"));
        Assert.Equal(["akka.ssl.tcp://disttrain@seed:4053"], c.GetStringList("akka.cluster.seed-nodes"));
    }

    [Fact]
    public void Validation_defaults_to_checking_the_certificate_chain()
    {
        var (pfx, _) = _certificates.Create("node");
        var c = ClusterConfig.Load(environment: new Dictionary<string, string?> { ["DISTTRAIN_TLS_CERT"] = pfx, ["DISTTRAIN_TLS_PASSWORD"] = TestCertificates.Password });
        Assert.True(c.GetBoolean($"{Tcp}.enable-ssl"));
        Assert.False(c.GetBoolean($"{Tcp}.ssl.suppress-validation"));
    }

    private static ArgumentException LoadFails(Dictionary<string, string?> environment) =>
        Assert.Throws<ArgumentException>(() => ClusterConfig.Load(environment: environment));

    [Fact]
    public void A_wrong_password_names_the_variables_but_never_prints_a_password()
    {
        var (pfx, _) = _certificates.Create("node");
        const string wrong = "hunter2-wrong";
        var e = LoadFails(new() { ["DISTTRAIN_TLS_CERT"] = pfx, ["DISTTRAIN_TLS_PASSWORD"] = wrong });
        Assert.StartsWith("DISTTRAIN_TLS_CERT: cannot open", e.Message);
        Assert.Contains("DISTTRAIN_TLS_PASSWORD", e.Message);
        Assert.DoesNotContain(wrong, e.ToString());
        Assert.DoesNotContain(TestCertificates.Password, e.ToString());
    }

    [Fact]
    public void A_missing_file_a_file_without_a_private_key_and_an_unknown_validation_mode_are_refused()
    {
        var missing = Path.Combine(_certificates.Folder, "nope.pfx");
        Assert.StartsWith("DISTTRAIN_TLS_CERT must name a PKCS#12", LoadFails(new() { ["DISTTRAIN_TLS_CERT"] = missing }).Message);

        var publicOnly = _certificates.CreateWithoutKey("public");
        var e = LoadFails(new() { ["DISTTRAIN_TLS_CERT"] = publicOnly, ["DISTTRAIN_TLS_PASSWORD"] = TestCertificates.Password });
        Assert.StartsWith("DISTTRAIN_TLS_CERT:", e.Message);
        Assert.Contains("without its private key", e.Message);

        var (pfx, _) = _certificates.Create("node");
        e = LoadFails(new() { ["DISTTRAIN_TLS_CERT"] = pfx, ["DISTTRAIN_TLS_PASSWORD"] = TestCertificates.Password, ["DISTTRAIN_TLS_VALIDATION"] = "off" });
        Assert.StartsWith("DISTTRAIN_TLS_VALIDATION must be chain", e.Message);
    }

    [Fact]
    public void TLS_settings_without_a_certificate_are_refused_rather_than_ignored()
    {
        var e = LoadFails(new() { ["DISTTRAIN_TLS_PASSWORD"] = "secret-value" });
        Assert.StartsWith("DISTTRAIN_TLS_PASSWORD is set but DISTTRAIN_TLS_CERT", e.Message);
        Assert.DoesNotContain("secret-value", e.Message);
        Assert.StartsWith("DISTTRAIN_TLS_VALIDATION is set", LoadFails(new() { ["DISTTRAIN_TLS_VALIDATION"] = "none" }).Message);
    }

    [Fact]
    public void Seeds_must_use_the_scheme_of_the_transport_in_use()
    {
        var (pfx, _) = _certificates.Create("node");
        var e = LoadFails(new()
        {
            ["DISTTRAIN_TLS_CERT"] = pfx,
            ["DISTTRAIN_TLS_PASSWORD"] = TestCertificates.Password,
            ["DISTTRAIN_SEEDS"] = "akka.tcp://disttrain@seed:4053",
        });
        Assert.StartsWith("DISTTRAIN_SEEDS: with TLS on", e.Message);

        e = LoadFails(new() { ["DISTTRAIN_SEEDS"] = "akka.ssl.tcp://disttrain@seed:4053" });
        Assert.StartsWith("DISTTRAIN_SEEDS must list seed addresses like akka.tcp://", e.Message);
        Assert.Contains("DISTTRAIN_TLS_CERT", e.Message);
    }

    [Fact]
    public void HoconString_round_trips_text_Akka_can_carry_and_cannot_add_keys()
    {
        var rng = new Random(5701);
        const string tricky = "\"\\${}[]#//=:,+ ";
        for (var i = 0; i < 1000; i++)
        {
            var sb = new StringBuilder();
            for (var n = rng.Next(0, 40); n > 0; n--)
            {
                sb.Append(rng.Next(3) switch
                {
                    0 => tricky[rng.Next(tricky.Length)],
                    1 => (char)rng.Next(0xA0, 0xD800),
                    _ => (char)rng.Next(32, 127),
                });
            }
            var s = sb.ToString().Trim();
            if (!TlsSettings.HoconSafe(s)) continue; // unicode spaces at the ends
            var config = ConfigurationFactory.ParseString($"k = {TlsSettings.HoconString(s)}\nsentinel = 1");
            Assert.True(s == config.GetString("k"), $"case {i} (seed 5701): '{string.Concat(s.Select(c => $"\\u{(int)c:x4}"))}' came back as '{config.GetString("k")}'");
            Assert.Equal(["k", "sentinel"], config.Root.GetObject().Items.Keys.Order());
        }
    }

    [Theory]
    [InlineData(" leading")]
    [InlineData("trailing ")]
    [InlineData("line\nbreak")]
    [InlineData("bell\u0007")]
    public void Passwords_Akkas_HOCON_reader_would_alter_are_refused_without_echoing_them(string password)
    {
        // Akka 1.5's HOCON reader trims quoted strings and drops some control characters ("\na" reads as "a"),
        // so such a password would reach Akka altered.
        var (pfx, _) = _certificates.Create("node", password);
        var e = LoadFails(new() { ["DISTTRAIN_TLS_CERT"] = pfx, ["DISTTRAIN_TLS_PASSWORD"] = password });
        Assert.StartsWith("DISTTRAIN_TLS_PASSWORD must not contain control characters", e.Message);
        Assert.DoesNotContain(password.Trim(), e.Message);
    }

    [Fact]
    public void Node_settings_accept_tls_seed_addresses_and_refuse_other_schemes()
    {
        new NodeSettings(["worker"], Port: 0, Seeds: ["akka.ssl.tcp://disttrain@127.0.0.1:4053"]).Validate();
        var e = Assert.Throws<ArgumentException>(new NodeSettings(["worker"], Port: 0, Seeds: ["http://disttrain@127.0.0.1:4053"]).Validate);
        Assert.Contains("is not an Akka address", e.Message);
    }
}
