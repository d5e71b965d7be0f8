using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DistTrain.Cluster.Settings;

/// <summary>How a node checks the certificate its peer presents during the TLS handshake.</summary>
public enum TlsValidation
{
    /// <summary>
    /// The peer's certificate chain must end in a root this machine trusts (for a cluster: a private CA
    /// installed in every node's system trust store). Akka's default.
    /// </summary>
    Chain,

    /// <summary>
    /// Any certificate is accepted (akka.remote.dot-netty.tcp.ssl.suppress-validation = true): traffic is
    /// encrypted, but whoever can reach the port can join. Protects against eavesdropping only.
    /// </summary>
    None,
}

/// <summary>
/// TLS on the node-to-node transport (Akka.Remote's DotNetty TCP, <c>enable-ssl</c>). Every node presents
/// the certificate and private key in a PKCS#12 (.pfx) file, in both directions (Akka 1.5 requires mutual
/// authentication by default). With TLS on, node addresses use the <c>akka.ssl.tcp://</c> scheme, and a
/// plain-TCP node cannot talk to a TLS node (nor the reverse). Set from DISTTRAIN_TLS_CERT,
/// DISTTRAIN_TLS_PASSWORD and DISTTRAIN_TLS_VALIDATION by <see cref="ClusterConfig"/>; see docs/security.md.
/// </summary>
public sealed record TlsSettings(string CertificatePath, string? Password = null, TlsValidation Validation = TlsValidation.Chain)
{
    /// <summary>The address scheme of a node with TLS on (plain TCP: akka.tcp).</summary>
    public const string Scheme = "akka.ssl.tcp";

    private const string Tcp = "akka.remote.dot-netty.tcp";

    /// <summary>
    /// Opens the certificate file now, so a wrong path, password or a file without a private key fails before
    /// an ActorSystem starts. The message names <paramref name="pathSource"/> and <paramref name="passwordSource"/>
    /// (setting or variable names) and never contains the password.
    /// </summary>
    public void Validate(string pathSource = "certificate path", string passwordSource = "certificate password")
    {
        if (string.IsNullOrWhiteSpace(CertificatePath)) throw new ArgumentException($"{pathSource} must name a PKCS#12 (.pfx) file, found an empty value");
        if (!HoconSafe(CertificatePath)) throw new ArgumentException($"{pathSource} must be a path without control characters or surrounding spaces");
        // Akka's HOCON reader trims quoted strings and drops some control characters: such a password would
        // reach Akka altered and fail there with a confusing message. Refused here instead (without echoing it).
        if (Password is not null && !HoconSafe(Password))
            throw new ArgumentException($"{passwordSource} must not contain control characters or begin or end with a space (Akka's configuration reader would alter it)");
        if (!File.Exists(CertificatePath))
            throw new ArgumentException($"{pathSource} must name a PKCS#12 (.pfx) file with the node's certificate and private key; no file at '{CertificatePath}'");
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, Password);
        }
        catch (CryptographicException e)
        {
            // The password is not repeated: it may be right and the file wrong, and messages end up in logs.
            throw new ArgumentException($"{pathSource}: cannot open '{CertificatePath}' as a PKCS#12 (.pfx) file with the {passwordSource} given " +
                $"({(string.IsNullOrEmpty(Password) ? "none" : "one was set")}): {e.Message}", e);
        }
        using (certificate)
        {
            if (!certificate.HasPrivateKey)
                throw new ArgumentException($"{pathSource}: '{CertificatePath}' holds a certificate without its private key; a node needs both to accept TLS connections");
        }
    }

    /// <summary>The HOCON that turns TLS on with this certificate (strings escaped for HOCON).</summary>
    public string ToHocon() =>
        $"""
        {Tcp}.enable-ssl = true
        {Tcp}.ssl.certificate.path = {HoconString(CertificatePath)}
        {Tcp}.ssl.certificate.password = {HoconString(Password ?? "")}
        {Tcp}.ssl.suppress-validation = {(Validation == TlsValidation.None ? "true" : "false")}

        """;

    /// <summary>Text that a HOCON quoted string carries unchanged through Akka 1.5's reader.</summary>
    public static bool HoconSafe(string s)
    {
        foreach (var c in s)
            if (char.IsControl(c)) return false;
        return s.Length == 0 || (!char.IsWhiteSpace(s[0]) && !char.IsWhiteSpace(s[^1]));
    }

    /// <summary>
    /// A HOCON quoted string holding exactly <paramref name="s"/> when <see cref="HoconSafe"/>: backslash and
    /// quote escaped, so no value can end the string and add keys of its own.
    /// </summary>
    public static string HoconString(string s)
    {
        if (!HoconSafe(s)) throw new ArgumentException("Akka's HOCON reader would alter this value (control characters or surrounding spaces).", nameof(s));
        return "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }
}
