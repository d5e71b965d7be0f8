using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Remote.Transport.DotNetty;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Tls;

/// <summary>
/// TLS on Akka.Remote's DotNetty transport between two ActorSystems on 127.0.0.1 (port 0), configured the way
/// a node is: ClusterConfig.Load with DISTTRAIN_TLS_* variables. Shows a round trip, and that a node that does
/// not speak the same protocol, or presents a certificate the other side does not accept, gets nothing through.
/// </summary>
public sealed class TlsTransportTests : IDisposable
{
    private const string Remote = """
        akka.actor.provider = remote
        akka.loglevel = ERROR
        akka.stdout-loglevel = OFF
        """;

    /// <summary>How long a refused message is given to arrive anyway (a round trip here takes well under a second).</summary>
    private static readonly TimeSpan Refused = TimeSpan.FromSeconds(2);

    private readonly TestCertificates _certificates = new();
    private readonly List<ActorSystem> _systems = [];

    public void Dispose()
    {
        Task.WaitAll([.. _systems.Select(s => s.Terminate())], TimeSpan.FromSeconds(10));
        _certificates.Dispose();
    }

    private ActorSystem Start(Dictionary<string, string?> environment)
    {
        var system = ActorSystem.Create(ClusterConfig.SystemName, ClusterConfig.Load(Remote, environment));
        _systems.Add(system);
        return system;
    }

    private ActorSystem Start(ActorSystemSetup setup)
    {
        var system = ActorSystem.Create(ClusterConfig.SystemName, setup);
        _systems.Add(system);
        return system;
    }

    private static Dictionary<string, string?> TlsEnvironment(string pfx, string validation) => new()
    {
        ["DISTTRAIN_TLS_CERT"] = pfx,
        ["DISTTRAIN_TLS_PASSWORD"] = TestCertificates.Password,
        ["DISTTRAIN_TLS_VALIDATION"] = validation,
    };

    /// <summary>Replies with what it receives and records that something arrived.</summary>
    private sealed class Echo : ReceiveActor
    {
        public Echo(TaskCompletionSource<object> arrived) => ReceiveAny(m =>
        {
            arrived.TrySetResult(m);
            Sender.Tell(m);
        });
    }

    /// <summary>
    /// Sends a protocol message from <paramref name="from"/> to a fresh echo actor on <paramref name="to"/>,
    /// addressed with <paramref name="scheme"/> at <paramref name="to"/>'s port. Returns whether the reply came
    /// back, and whether the message arrived at all.
    /// </summary>
    private static async Task<(bool Replied, bool Arrived)> RoundTrip(ActorSystem from, ActorSystem to, string? scheme = null, TimeSpan? wait = null)
    {
        var arrived = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        var name = "echo-" + Guid.NewGuid().ToString("N");
        to.ActorOf(Props.Create(() => new Echo(arrived)), name);
        var address = ((ExtendedActorSystem)to).Provider.DefaultAddress;
        var path = $"{scheme ?? address.Protocol}://{address.System}@{address.Host}:{address.Port}/user/{name}";
        bool replied;
        try
        {
            var reply = await from.ActorSelection(path).Ask<GetParameters>(new GetParameters("tls-round-trip"), wait ?? TimeSpan.FromSeconds(10));
            replied = reply.JobId == "tls-round-trip";
        }
        catch (AskTimeoutException)
        {
            replied = false;
        }
        return (replied, arrived.Task.IsCompleted);
    }

    [Fact]
    public async Task Two_nodes_with_TLS_from_the_environment_exchange_messages_over_akka_ssl_tcp()
    {
        var (pfx, _) = _certificates.Create("node");
        var a = Start(TlsEnvironment(pfx, "none"));
        var b = Start(TlsEnvironment(pfx, "none"));

        Assert.Equal(TlsSettings.Scheme, ((ExtendedActorSystem)b).Provider.DefaultAddress.Protocol);
        var (replied, arrived) = await RoundTrip(a, b);
        Assert.True(arrived && replied);
    }

    [Fact]
    public async Task A_plain_TCP_node_gets_nothing_through_to_a_TLS_node()
    {
        var (pfx, _) = _certificates.Create("node");
        var tls = Start(TlsEnvironment(pfx, "none"));
        var plain = Start([]);

        // The TLS node's port, addressed the only way a plain node can: akka.tcp. The TLS side sees no TLS
        // handshake and drops the connection ("Rejected incoming connection ... due to TLS handshake failure").
        var (replied, arrived) = await RoundTrip(plain, tls, scheme: "akka.tcp", wait: Refused);
        Assert.False(arrived);
        Assert.False(replied);
    }

    [Fact]
    public async Task A_TLS_node_gets_nothing_through_to_a_plain_TCP_node()
    {
        var (pfx, _) = _certificates.Create("node");
        var tls = Start(TlsEnvironment(pfx, "none"));
        var plain = Start([]);

        var (replied, arrived) = await RoundTrip(tls, plain, scheme: TlsSettings.Scheme, wait: Refused);
        Assert.False(arrived);
        Assert.False(replied);
    }

    [Fact]
    public async Task A_node_cannot_address_a_peer_with_the_other_scheme()
    {
        var (pfx, _) = _certificates.Create("node");
        var tls = Start(TlsEnvironment(pfx, "none"));
        var plain = Start([]);

        // A TLS node loads only the akka.ssl.tcp transport: an akka.tcp address is refused locally, at once.
        var e = await Assert.ThrowsAsync<Akka.Remote.RemoteTransportException>(() => RoundTrip(tls, plain, scheme: "akka.tcp"));
        Assert.Contains("No transport is loaded for protocol: [akka.tcp]", e.Message);
    }

    [Fact]
    public async Task With_chain_validation_a_self_signed_certificate_is_refused_by_the_peer()
    {
        // The default (DISTTRAIN_TLS_VALIDATION unset = chain): the self-signed root is not in this machine's trust
        // store, so each side rejects the other's certificate ("UntrustedRoot: self-signed certificate" in the log).
        var (pfx, _) = _certificates.Create("node");
        var environment = TlsEnvironment(pfx, "chain");
        environment.Remove("DISTTRAIN_TLS_VALIDATION");
        var a = Start(environment);
        var b = Start(environment);

        var (replied, arrived) = await RoundTrip(a, b, wait: Refused);
        Assert.False(arrived);
        Assert.False(replied);
    }

    /// <summary>
    /// The strong option, available programmatically only (Akka has no HOCON key for it): every node accepts
    /// exactly the certificates whose thumbprints it pins.
    /// </summary>
    private ActorSystem StartPinned(string pfx, params string[] pinned)
    {
        var certificate = X509CertificateLoader.LoadPkcs12FromFile(pfx, TestCertificates.Password);
        var config = ClusterConfig.Load(Remote + "\nakka.remote.dot-netty.tcp.enable-ssl = true", new Dictionary<string, string?>());
        return Start(ActorSystemSetup.Create(
            BootstrapSetup.Create().WithConfig(config),
            new DotNettySslSetup(certificate, suppressValidation: false, requireMutualAuthentication: true,
                customValidator: CertificateValidation.PinnedCertificate(pinned))));
    }

    [Fact]
    public async Task Pinned_certificates_let_the_cluster_certificate_in_and_keep_an_intruder_out()
    {
        var (clusterPfx, clusterThumbprint) = _certificates.Create("cluster");
        var (intruderPfx, _) = _certificates.Create("intruder");
        var a = StartPinned(clusterPfx, clusterThumbprint);
        var b = StartPinned(clusterPfx, clusterThumbprint);
        // The intruder accepts anything and presents its own self-signed certificate.
        var intruder = Start(TlsEnvironment(intruderPfx, "none"));

        var (replied, arrived) = await RoundTrip(a, b);
        Assert.True(arrived && replied);

        var (intruderReplied, intruderArrived) = await RoundTrip(intruder, a, wait: Refused);
        Assert.False(intruderArrived);
        Assert.False(intruderReplied);
    }
}
