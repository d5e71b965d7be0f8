using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Tls;

public class TlsTransportTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private static string MakePfx(string dir, string cn, string password)
    {
        using var rsa = RSA.Create(2048);
        var req = new CertificateRequest($"CN={cn}", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(dir, cn + ".pfx");
        File.WriteAllBytes(path, cert.Export(X509ContentType.Pfx, password));
        return path;
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(m => Sender.Tell(m));
    }

    [Fact]
    public async Task Experiment()
    {
        var dir = Directory.CreateTempSubdirectory("tls").FullName;
        var pfx = MakePfx(dir, "node", "pw");
        var tls = $$"""
            akka.loglevel = DEBUG
            akka.stdout-loglevel = DEBUG
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp.enable-ssl = true
            akka.remote.dot-netty.tcp.ssl {
              suppress-validation = true
              certificate { path = "{{pfx}}", password = "pw" }
            }
            """;
        var a = ActorSystem.Create("disttrain", ClusterConfig.Load(tls, NoEnvironment));
        var b = ActorSystem.Create("disttrain", ClusterConfig.Load(tls, NoEnvironment));
        b.ActorOf(Props.Create(() => new Echo()), "echo");
        var addr = ((ExtendedActorSystem)b).Provider.DefaultAddress;
        var echo = await a.ActorSelection($"{addr}/user/echo").ResolveOne(TimeSpan.FromSeconds(10));
        var reply = await echo.Ask<GetParameters>(new GetParameters("hi"), TimeSpan.FromSeconds(5));
        Assert.Equal("hi", reply.JobId);
        await a.Terminate(); await b.Terminate();
    }

    private static string Tls(string pfx, bool suppress) => $$"""
            akka.loglevel = INFO
            akka.stdout-loglevel = INFO
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp.enable-ssl = true
            akka.remote.dot-netty.tcp.ssl {
              suppress-validation = {{(suppress ? "true" : "false")}}
              certificate { path = "{{pfx}}", password = "pw" }
            }
            """;

    private static async Task<bool> Talk(ActorSystem a, ActorSystem b)
    {
        var name = "echo" + Guid.NewGuid().ToString("N");
        b.ActorOf(Props.Create(() => new Echo()), name);
        var addr = ((ExtendedActorSystem)b).Provider.DefaultAddress;
        try
        {
            var reply = await a.ActorSelection($"{addr}/user/{name}").Ask<GetParameters>(new GetParameters("hi"), TimeSpan.FromSeconds(4));
            return reply.JobId == "hi";
        }
        catch (AskTimeoutException) { return false; }
    }

    [Theory]
    [InlineData("unsuppressed")]
    [InlineData("plain-to-tls")]
    [InlineData("tls-to-plain")]
    [InlineData("pinned-same")]
    [InlineData("pinned-other")]
    public async Task Experiment2(string kind)
    {
        var dir = Directory.CreateTempSubdirectory("tls").FullName;
        var pfx = MakePfx(dir, "node", "pw");
        var pfx2 = MakePfx(dir, "intruder", "pw");
        ActorSystem a, b;
        switch (kind)
        {
            case "unsuppressed":
                a = ActorSystem.Create("disttrain", ClusterConfig.Load(Tls(pfx, false), NoEnvironment));
                b = ActorSystem.Create("disttrain", ClusterConfig.Load(Tls(pfx, false), NoEnvironment));
                break;
            case "plain-to-tls":
                a = ActorSystem.Create("disttrain", ClusterConfig.Load("akka.actor.provider = remote", NoEnvironment));
                b = ActorSystem.Create("disttrain", ClusterConfig.Load(Tls(pfx, true), NoEnvironment));
                break;
            case "tls-to-plain":
                b = ActorSystem.Create("disttrain", ClusterConfig.Load("akka.actor.provider = remote", NoEnvironment));
                a = ActorSystem.Create("disttrain", ClusterConfig.Load(Tls(pfx, true), NoEnvironment));
                break;
            default:
                var cert = X509CertificateLoader.LoadPkcs12FromFile(pfx, "pw");
                var other = X509CertificateLoader.LoadPkcs12FromFile(kind == "pinned-same" ? pfx : pfx2, "pw");
                var v = Akka.Remote.Transport.DotNetty.CertificateValidation.PinnedCertificate(cert.Thumbprint);
                var setupA = Akka.Actor.Setup.ActorSystemSetup.Create(
                    BootstrapSetup.Create().WithConfig(ClusterConfig.Load("akka.actor.provider = remote\nakka.remote.dot-netty.tcp.enable-ssl = true", NoEnvironment)),
                    new Akka.Remote.Transport.DotNetty.DotNettySslSetup(cert, false, true, v));
                var setupB = Akka.Actor.Setup.ActorSystemSetup.Create(
                    BootstrapSetup.Create().WithConfig(ClusterConfig.Load("akka.actor.provider = remote\nakka.remote.dot-netty.tcp.enable-ssl = true", NoEnvironment)),
                    new Akka.Remote.Transport.DotNetty.DotNettySslSetup(other, false, true, v));
                a = ActorSystem.Create("disttrain", setupA);
                b = ActorSystem.Create("disttrain", setupB);
                break;
        }
        var ok = await Talk(a, b);
        await Task.WhenAll(a.Terminate(), b.Terminate());
        Assert.Fail($"{kind}: {ok}");
    }
}
