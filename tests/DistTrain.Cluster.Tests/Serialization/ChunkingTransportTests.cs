using Akka.Actor;
using Akka.TestKit;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Serialization;

/// <summary>
/// Two ActorSystems talking over loopback TCP with a small frame limit (64000 bytes): what Akka does with
/// a message above the limit, and how ChunkingTransport gets it through.
/// </summary>
public class ChunkingTransportTests : Akka.TestKit.Xunit2.TestKit
{
    private const string RemoteConfig = """
        akka.loglevel = ERROR
        akka.stdout-loglevel = OFF
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp.maximum-frame-size = 64000b
        """;

    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private readonly ActorSystem _other;

    public ChunkingTransportTests() : base(ClusterConfig.Load(RemoteConfig, NoEnvironment), "disttrain")
    {
        _other = ActorSystem.Create("disttrain", ClusterConfig.Load(RemoteConfig, NoEnvironment));
    }

    protected override void AfterAll()
    {
        Shutdown(_other);
        base.AfterAll();
    }

    /// <summary>A probe on the other system and this system's remote reference to it.</summary>
    private (TestProbe Probe, IActorRef Remote) RemoteProbe()
    {
        var probe = CreateTestProbe(_other);
        var address = ((ExtendedActorSystem)_other).Provider.DefaultAddress;
        var remote = Sys.ActorSelection(probe.Ref.Path.ToStringWithAddress(address)).ResolveOne(TimeSpan.FromSeconds(5)).Result;
        return (probe, remote);
    }

    private static GradientsComputed Gradient(int floats, int seed)
    {
        var rng = new Random(seed);
        var g = new float[floats];
        for (var i = 0; i < g.Length; i++) g[i] = (float)rng.NextDouble() - 0.5f;
        return new GradientsComputed("job", 3, 1, 7, 0, "worker-1", g, 32, 12.5, 20);
    }

    [Fact]
    public void A_plain_Tell_above_the_frame_limit_is_dropped_by_Akka_while_the_connection_survives()
    {
        var (probe, remote) = RemoteProbe();
        remote.Tell(Gradient(250_000, 1)); // ~1 MB > 64000 bytes: Akka logs an error and drops it
        remote.Tell(new GetParameters("after"));

        // Only the small message arrives: the large one was silently lost.
        Assert.Equal("after", probe.ExpectMsg<GetParameters>(TimeSpan.FromSeconds(5)).JobId);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void ChunkingTransport_delivers_a_1MB_gradient_intact_with_the_original_sender()
    {
        var transport = ChunkingTransport.Start(Sys);
        ChunkingTransport.Start(_other);
        var (probe, remote) = RemoteProbe();
        var sender = CreateTestProbe();
        var message = Gradient(250_000, 2);

        var chunks = transport.Send(remote, message, sender.Ref);

        Assert.InRange(chunks, 16, 17); // 1,000,046 bytes in chunks of 64000 minus the envelope
        var received = probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5));
        Deep.Equal(message, received);
        probe.Reply("ack"); // to the original sender, across the wire
        sender.ExpectMsg("ack", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_chunked_Hyperion_message_keeps_its_actor_references_usable_on_the_other_side()
    {
        var transport = ChunkingTransport.Start(Sys);
        ChunkingTransport.Start(_other);
        var (probe, remote) = RemoteProbe();
        var worker = CreateTestProbe();
        var ids = Enumerable.Range(0, 20_000).ToArray(); // ~80 KB of sample ids: above one frame
        var message = new RunStep("job", 4, 1, 0, 2, [new ShardAssignment(0, worker.Ref, ids)]);

        Assert.True(transport.Send(remote, message) >= 2);

        var received = probe.ExpectMsg<RunStep>(TimeSpan.FromSeconds(5));
        Assert.Equal(ids, received.Shards[0].SampleIds);
        received.Shards[0].Worker.Tell("hello", probe.Ref); // a remote ref back to this system's probe
        worker.ExpectMsg("hello", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_message_that_fits_in_a_frame_is_told_directly()
    {
        var transport = ChunkingTransport.Start(Sys);
        var (probe, remote) = RemoteProbe();
        var message = Gradient(1000, 3);

        Assert.Equal(0, transport.Send(remote, message, TestActor));

        Deep.Equal(message, probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5)));
        Assert.Equal(TestActor.Path.Name, probe.LastSender.Path.Name);
    }

    [Fact]
    public void A_local_target_gets_the_very_same_instance_unserialized()
    {
        var transport = ChunkingTransport.Start(Sys);
        var local = CreateTestProbe();
        var message = Gradient(250_000, 4);

        Assert.Equal(0, transport.Send(local.Ref, message, TestActor));

        Assert.Same(message, local.ExpectMsg<GradientsComputed>());
        Assert.Equal(TestActor, local.LastSender);
    }
}

/// <summary>The receiving actor on its own: delivery, sender, and what it does with bad transfers.</summary>
public class ChunkReceiverTests : Akka.TestKit.Xunit2.TestKit
{
    public ChunkReceiverTests() : base(ClusterConfig.Load("akka.actor.provider = local", new Dictionary<string, string?>()))
    {
    }

    private static TensorChunk[] Chunks(IActorRef target, byte[] bytes, string manifest, int parts)
    {
        var id = Guid.NewGuid();
        var size = (bytes.Length + parts - 1) / parts;
        return Enumerable.Range(0, parts).Select(i => new TensorChunk(id, i, parts, target.Path.ToSerializationFormat(),
            TensorMessageSerializer.Id, manifest, bytes[(i * size)..Math.Min(bytes.Length, (i + 1) * size)])).ToArray();
    }

    [Fact]
    public void Reassembled_chunks_reach_the_target_with_the_sender_of_the_chunks()
    {
        var receiver = ChunkingTransport.Start(Sys).Receiver;
        var target = CreateTestProbe();
        var message = new ParametersSnapshot("job", 9, [1f, 2f, 3f, 4f, 5f, 6f]);

        foreach (var c in Chunks(target.Ref, TensorMessageSerializer.Encode(message), "PS", 3)) receiver.Tell(c, TestActor);

        Deep.Equal(message, target.ExpectMsg<ParametersSnapshot>());
        Assert.Equal(TestActor, target.LastSender);
    }

    [Fact]
    public void A_transfer_that_does_not_deserialize_is_dropped_and_the_receiver_keeps_working()
    {
        var receiver = ChunkingTransport.Start(Sys).Receiver;
        var target = CreateTestProbe();
        var good = TensorMessageSerializer.Encode(new ParametersSnapshot("job", 9, [1f, 2f]));
        var bad = good[..^3]; // truncated: the float count promises 3 more bytes than arrive

        foreach (var c in Chunks(target.Ref, bad, "PS", 2)) receiver.Tell(c);
        receiver.Tell(GetChunkingStats.Instance);
        var stats = ExpectMsg<ChunkingStats>();
        Assert.Equal(1, stats.Undeliverable);
        Assert.Equal(0, stats.PendingTransfers);
        target.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        foreach (var c in Chunks(target.Ref, good, "PS", 2)) receiver.Tell(c);
        Assert.Equal(9, target.ExpectMsg<ParametersSnapshot>().Version);
    }
}
