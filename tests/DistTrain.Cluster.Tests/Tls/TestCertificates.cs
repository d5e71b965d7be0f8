using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DistTrain.Cluster.Tests.Tls;

/// <summary>Self-signed node certificates written to a temp folder as password-protected .pfx files.</summary>
internal sealed class TestCertificates : IDisposable
{
    public const string Password = "p@ss \"word\" \\ with ${odd} chars";

    private readonly string _dir = Directory.CreateTempSubdirectory("disttrain-tls-").FullName;

    /// <summary>A self-signed RSA-2048 certificate for CN=<paramref name="name"/> (SAN 127.0.0.1, localhost), valid for a day.</summary>
    public (string Path, string Thumbprint) Create(string name, string password = Password)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        var path = System.IO.Path.Combine(_dir, name + ".pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        return (path, certificate.Thumbprint);
    }

    /// <summary>The certificate alone, without its private key (what a node must refuse to use).</summary>
    public string CreateWithoutKey(string name)
    {
        var (pfx, _) = Create(name);
        using var full = X509CertificateLoader.LoadPkcs12FromFile(pfx, Password);
        var path = System.IO.Path.Combine(_dir, name + "-public.pfx");
        using var publicOnly = X509CertificateLoader.LoadCertificate(full.RawData);
        File.WriteAllBytes(path, publicOnly.Export(X509ContentType.Pfx, Password));
        return path;
    }

    public string Folder => _dir;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
