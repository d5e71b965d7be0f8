using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Tests.Serialization;
using DistTrain.Cluster.Transport;

namespace DistTrain.Cluster.Tests.Transport;

/// <summary>
/// Two ActorSystems with remoting on loopback, each running a data plane: tensor messages take the data
/// plane's socket once it is connected, keep their sender, and bad bytes from a peer only ever cost that
/// peer its connection.
/// </summary>
public class DataPlaneTests : Akka.TestKit.Xunit2.TestKit
{
    private const string RemoteConfig = """
        akka.loglevel = INFO
        akka.stdout-loglevel = OFF
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        disttrain.data-plane.max-frame-bytes = 4MiB
        # These tests pin the TCP path; SharedMemoryRingTests the ring between two systems on one machine.
        disttrain.data-plane.shared-memory = off
        """;

    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private readonly ActorSystem _other;

    public DataPlaneTests() : base(ClusterConfig.Load(RemoteConfig, NoEnvironment), "disttrain")
    {
        _other = ActorSystem.Create("disttrain", ClusterConfig.Load(RemoteConfig, NoEnvironment));
    }

    protected override void AfterAll()
    {
        Shutdown(_other);
        base.AfterAll();
    }

    private Address OtherAddress => ((ExtendedActorSystem)_other).Provider.DefaultAddress;

    private (TestProbe Probe, IActorRef Remote) RemoteProbe()
    {
        var probe = CreateTestProbe(_other);
        var remote = Sys.ActorSelection(probe.Ref.Path.ToStringWithAddress(OtherAddress)).ResolveOne(TimeSpan.FromSeconds(5)).Result;
        return (probe, remote);
    }

    private static GradientsComputed Gradient(int floats, int seed)
    {
        var rng = new Random(seed);
        var g = new float[floats];
        for (var i = 0; i < g.Length; i++) g[i] = (float)rng.NextDouble() - 0.5f;
        return new GradientsComputed("job", 3, 1, 7, 0, "worker-1", g, 32, 12.5, 20);
    }

    /// <summary>Opens a raw socket to the other system's data plane, as a (possibly hostile) peer would.</summary>
    private Socket RawPeer(int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 5000 };
        s.Connect(IPAddress.Loopback, port);
        return s;
    }

    private static byte[] Preamble(string address = "akka.tcp://disttrain@127.0.0.1:1")
    {
        var b = new byte[DataPlaneFrame.PreambleSize(address)];
        DataPlaneFrame.WritePreamble(b, address);
        return b;
    }

    private static byte[] Frame(string target, string sender, object message)
    {
        var manifest = TensorMessageSerializer.ManifestOf(message);
        var b = new byte[DataPlaneFrame.SizeOf(target, sender, manifest, message)];
        DataPlaneFrame.Write(b, target, sender, manifest, message);
        return b;
    }

    /// <summary>True when the server closed the connection (read returns 0 or the socket was reset) within 5 s.</summary>
    private static bool ClosedByServer(Socket s)
    {
        var buf = new byte[64];
        try
        {
            while (true)
            {
                if (s.Receive(buf) == 0) return true;
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset)
        {
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_1MB_gradient_crosses_the_data_plane_intact_and_keeps_its_sender()
    {
        var here = DataPlane.Start(Sys);
        var there = DataPlane.Start(_other);
        var (probe, remote) = RemoteProbe();
        var sender = CreateTestProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        var message = Gradient(250_000, 2);

        Assert.True(here.TrySend(remote, message, sender.Ref));

        var received = probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5));
        Deep.Equal(message, received);
        Assert.NotSame(message.Gradient, received.Gradient);
        probe.Reply("ack"); // through Akka, to the original sender on this system
        sender.ExpectMsg("ack", TimeSpan.FromSeconds(5));
        Assert.Equal(1, here.Stats.FramesSent);
        Assert.Equal(1, there.Stats.FramesReceived);
        Assert.True(there.Stats.BytesReceived > 1_000_000, $"{there.Stats.BytesReceived} bytes");
    }

    [Theory]
    [InlineData(250_000)] // 1 MB
    [InlineData(900_000)] // 3.6 MB: read from the socket straight into the pool array
    public async Task A_received_tensor_comes_from_the_receive_pool_and_a_returned_array_carries_the_next_one(int floats)
    {
        var here = DataPlane.Start(Sys);
        var there = DataPlane.Start(_other);
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        var first = Gradient(floats, 3);
        var second = Gradient(floats, 4);

        Assert.True(here.TrySend(remote, first));
        var got1 = probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5));
        Deep.Equal(first, got1);
        Assert.True(there.ReceivePool.Return(got1.Gradient));
        Assert.False(there.ReceivePool.Return(first.Gradient)); // the sender's own array was never lent
        Assert.True(here.TrySend(remote, second));
        var got2 = probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5));

        Assert.Same(got1.Gradient, got2.Gradient);
        Deep.Equal(second, got2);
        Assert.Equal(0, there.Stats.SharedMemoryFramesReceived); // these tests pin the TCP path
    }

    [Fact]
    public async Task A_forgotten_peer_gets_no_frame_on_its_old_connection_and_is_connected_again()
    {
        // What a member that became unreachable or was removed gets (MembershipWatcher): a worker restarted at
        // the same host and port after a partition is a new process, and a frame on the old connection was lost.
        var here = DataPlane.Start(Sys);
        DataPlane.Start(_other);
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        var dropped = here.Stats.ConnectionsDropped;

        here.Forget(OtherAddress, "test");

        Assert.Equal(dropped + 1, here.Stats.ConnectionsDropped);
        Assert.False(here.TrySend(remote, Gradient(100, 1), TestActor)); // not on the closed connection: the caller uses Akka
        AwaitCondition(() => here.TrySend(remote, Gradient(100, 5), TestActor), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
        Assert.Equal(Gradient(100, 5).Gradient, probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5)).Gradient);
    }

    [Fact]
    public async Task A_member_that_left_is_forgotten_with_an_info_line_and_a_lost_one_with_a_warning()
    {
        // A finished ps node or a submit client leaves on purpose at the end of every job: no warning for that.
        var here = DataPlane.Start(Sys);
        DataPlane.Start(_other);
        var log = CreateTestProbe();
        Sys.EventStream.Subscribe(log.Ref, typeof(Akka.Event.Info));
        Sys.EventStream.Subscribe(log.Ref, typeof(Akka.Event.Warning));
        Assert.True(await here.ConnectAsync(OtherAddress));

        here.Forget(OtherAddress, "the member left the cluster", graceful: true);
        var info = log.FishForMessage<Akka.Event.LogEvent>(e => e.Message.ToString()!.Contains("data plane: closed the connection"), TimeSpan.FromSeconds(5));
        Assert.IsType<Akka.Event.Info>(info);

        Assert.True(await here.ConnectAsync(OtherAddress));
        here.Forget(OtherAddress, "the member became unreachable");
        var warning = log.FishForMessage<Akka.Event.LogEvent>(e => e.Message.ToString()!.Contains("data plane: dropped the connection"), TimeSpan.FromSeconds(5));
        Assert.IsType<Akka.Event.Warning>(warning);
        Assert.Contains("the member became unreachable", warning.Message.ToString());
    }

    [Fact]
    public void Before_the_connection_is_up_TrySend_declines_and_starts_connecting()
    {
        var here = DataPlane.Start(Sys);
        DataPlane.Start(_other);
        var (probe, remote) = RemoteProbe();

        Assert.False(here.TrySend(remote, Gradient(100, 1), TestActor)); // the caller sends it through Akka instead
        AwaitCondition(() => here.TrySend(remote, Gradient(100, 5), TestActor), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));

        // The first one went nowhere (the caller would have used Akka); the one that crossed is the second.
        Assert.Equal(Gradient(100, 5).Gradient, probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5)).Gradient);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.True(here.Stats.FallbackSends >= 1);
        Assert.Equal(1, here.Stats.FramesSent);
    }

    [Fact]
    public async Task Control_messages_and_local_targets_never_take_the_data_plane()
    {
        var here = DataPlane.Start(Sys);
        DataPlane.Start(_other);
        var (_, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));

        Assert.False(here.TrySend(remote, new GetParameters("job"), TestActor));
        Assert.False(here.TrySend(TestActor, Gradient(10, 1), TestActor));
        Assert.Equal(0, here.Stats.FramesSent);
    }

    [Fact]
    public async Task A_peer_with_the_data_plane_off_gets_its_tensors_through_Akka()
    {
        var here = DataPlane.Start(Sys);
        var there = DataPlane.Start(_other, new DataPlaneSettings(Enabled: false));
        var (_, remote) = RemoteProbe();

        Assert.False(there.Enabled);
        Assert.Equal(0, there.Port);
        Assert.False(await here.ConnectAsync(OtherAddress));
        Assert.False(here.TrySend(remote, Gradient(10, 1), TestActor));
    }

    [Fact]
    public async Task Sending_a_1MB_tensor_allocates_no_payload_sized_buffer_once_the_connection_buffer_exists()
    {
        var here = DataPlane.Start(Sys);
        DataPlane.Start(_other);
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        var message = Gradient(250_000, 3);
        Assert.True(here.TrySend(remote, message, TestActor)); // grows the send buffer
        probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5));

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 5; i++) Assert.True(here.TrySend(remote, message, TestActor));
        var perSend = (GC.GetAllocatedBytesForCurrentThread() - before) / 5;

        Assert.True(perSend < 4096, $"{perSend} bytes allocated per 1 MB send");
        for (var i = 0; i < 5; i++) probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_frame_above_the_size_limit_is_logged_with_the_limit_and_drops_only_that_connection()
    {
        var there = DataPlane.Start(_other);
        var (probe, _) = RemoteProbe();
        using var s = RawPeer(there.Port);
        s.Send(Preamble());
        var head = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(head, 5 << 20); // 5 MiB > the 4 MiB limit
        s.Send(head);

        Assert.True(ClosedByServer(s), "the server kept a connection that announced an oversized frame");
        AwaitCondition(() => there.Stats.BadFrames == 1, TimeSpan.FromSeconds(5));

        // The node still serves other connections.
        using var good = RawPeer(there.Port);
        good.Send(Preamble());
        good.Send(Frame(probe.Ref.Path.ToSerializationFormatWithAddress(OtherAddress), "", Gradient(10, 4)));
        Assert.Equal(10, probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5)).Gradient.Length);
    }

    [Fact]
    public void The_oversized_frame_error_names_the_setting()
    {
        Assert.Contains("disttrain.data-plane.max-frame-bytes", DataPlaneFrame.CheckLength(5 << 20, 4 << 20));
        Assert.Contains(">= 1", DataPlaneFrame.CheckLength(0, 4 << 20));
        Assert.Contains(">= 1", DataPlaneFrame.CheckLength(-7, 4 << 20));
        Assert.Null(DataPlaneFrame.CheckLength(4 << 20, 4 << 20));
    }

    [Fact]
    public void Three_hundred_malformed_streams_each_cost_their_connection_and_never_the_node()
    {
        var there = DataPlane.Start(_other);
        var (probe, _) = RemoteProbe();
        var target = probe.Ref.Path.ToSerializationFormatWithAddress(OtherAddress);
        var valid = Frame(target, "", new ComputeGradients("job", 1, 1, 0, 0, 0, [1, 2, 3], 9, [0.5f, 1.5f, 2.5f, 3.5f]));
        var rng = new Random(6061);
        var open = 0;
        for (var i = 0; i < 300; i++)
        {
            byte[] bytes;
            switch (i % 4)
            {
                case 0: // random bytes instead of a preamble
                    bytes = new byte[1 + rng.Next(200)];
                    rng.NextBytes(bytes);
                    break;
                case 1: // a good preamble, then a valid frame with 1-3 flipped bits in its body (the length stays intact)
                {
                    var f = (byte[])valid.Clone();
                    for (var k = 1 + rng.Next(3); k > 0; k--) f[4 + rng.Next(f.Length - 4)] ^= (byte)(1 << rng.Next(8));
                    bytes = [.. Preamble(), .. f];
                    break;
                }
                case 2: // a good preamble, then a frame cut short
                    bytes = [.. Preamble(), .. valid.AsSpan(0, rng.Next(1, valid.Length))];
                    break;
                default: // a good preamble, a plausible length, random body
                {
                    var body = new byte[1 + rng.Next(300)];
                    rng.NextBytes(body);
                    if (rng.Next(2) == 0) body[0] = DataPlaneFrame.MessageKind;
                    var head = new byte[4];
                    BinaryPrimitives.WriteInt32LittleEndian(head, body.Length);
                    bytes = [.. Preamble(), .. head, .. body];
                    break;
                }
            }
            using var s = RawPeer(there.Port);
            s.Send(bytes);
            s.Shutdown(SocketShutdown.Send); // what an incomplete frame sees: the end of the stream
            if (!ClosedByServer(s)) open++;
        }

        Assert.Equal(0, open);
        var stats = there.Stats;
        Assert.True(stats.BadFrames >= 150, $"only {stats.BadFrames} connections were refused as malformed");
        Assert.True(stats.ConnectionsDropped >= stats.BadFrames, $"{stats}");
        // Some bit flips only change a float or an id and still decode: those are delivered, as Akka would.
        probe.ReceiveWhile(TimeSpan.FromMilliseconds(300), m => m);

        using var good = RawPeer(there.Port);
        good.Send(Preamble());
        good.Send(valid);
        Assert.Equal([1, 2, 3], probe.ExpectMsg<ComputeGradients>(TimeSpan.FromSeconds(5)).SampleIds);
    }

    [Fact]
    public void A_malformed_frame_is_logged_as_an_error_naming_the_field()
    {
        var there = DataPlane.Start(_other);
        using var s = RawPeer(there.Port);
        var body = new byte[] { DataPlaneFrame.MessageKind, 0xFF, 0xFF, 0xFF, 0x7F }; // a target path of 2^31-1 bytes
        var head = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(head, body.Length);

        var log = CreateTestProbe(_other);
        _other.EventStream.Subscribe(log.Ref, typeof(Akka.Event.Error));
        s.Send([.. Preamble(), .. head, .. body]);

        var error = log.ExpectMsg<Akka.Event.Error>(TimeSpan.FromSeconds(5));
        Assert.Contains("TargetPath", error.Message.ToString());
        Assert.Contains("dropped the connection", error.Message.ToString());
        Assert.True(ClosedByServer(s));
    }

    [Fact]
    public void Frames_carry_only_tensor_messages_and_refuse_a_chunk_manifest()
    {
        var chunk = new TensorChunk(Guid.NewGuid(), 0, 2, "akka.tcp://disttrain@h:1/user/w", 7401, "GC", [1, 2]);
        var payload = TensorMessageSerializer.Encode(chunk);
        var target = "akka.tcp://disttrain@h:1/user/w";
        var size = DataPlaneFrame.LengthPrefix + 1 + 4 + target.Length + 4 + 4 + 2 + payload.Length;
        var b = new byte[size];
        BinaryPrimitives.WriteInt32LittleEndian(b, size - 4);
        b[4] = DataPlaneFrame.MessageKind;
        var at = 5;
        foreach (var str in new[] { target, "", "TC" })
        {
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), str.Length);
            System.Text.Encoding.UTF8.GetBytes(str, b.AsSpan(at + 4));
            at += 4 + str.Length;
        }
        payload.CopyTo(b, at);

        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => DataPlaneFrame.Read(b.AsSpan(4)));
        Assert.Contains("Manifest", e.Message);
        Assert.Contains("'TC'", e.Message);
    }

    [Theory]
    [InlineData("CG")]
    [InlineData("CL")]
    [InlineData("GC")]
    [InlineData("GH")]
    [InlineData("PS")]
    [InlineData("ES")]
    public void Every_tensor_message_round_trips_through_a_frame(string manifest)
    {
        // CL (local SGD) and GH (16-bit gradients) are the communication options' variants: a frame refusing
        // them silently loses a cluster's steps in those modes.
        object message = manifest switch
        {
            "CG" => new ComputeGradients("job", 3, 1, 2, 5, 1, [4, 8], 42, [0.5f, float.NaN]),
            "CL" => new ComputeGradients("job", 3, 1, 2, 5, 1, [4, 8], 42, [0.5f, 1f], LocalSteps: [1, 1]),
            "GC" => new GradientsComputed("job", 3, 1, 5, 1, "wörker", [0.25f, -0f], 4, 1.25, 3),
            "GH" => new GradientsComputed("job", 3, 1, 5, 1, "w", [], 4, 1.25, 3,
                new DistTrain.Cluster.Compression.CompressedTensor(DistTrain.Cluster.Jobs.GradientCompression.Fp16, [0x3C00, 0x8000])),
            "PS" => new ParametersSnapshot("job", 3, [1f, 2f, 3f]),
            _ => new EvaluateShard("job", 3, DataSplit.Test, 10, 5, [1f]),
        };
        var frame = Frame("akka.tcp://disttrain@h:1/user/w#12", "akka.tcp://disttrain@g:2/user/ps", message);

        Assert.Equal(frame.Length - 4, BinaryPrimitives.ReadInt32LittleEndian(frame));
        Assert.Equal(manifest, TensorMessageSerializer.ManifestOf(message));
        var read = DataPlaneFrame.Read(frame.AsSpan(4));
        Assert.Equal("akka.tcp://disttrain@h:1/user/w#12", read.TargetPath);
        Assert.Equal("akka.tcp://disttrain@g:2/user/ps", read.SenderPath);
        Deep.Equal(message, read.Message);
    }

    // Every manifest the data plane carries, and whether a receiver reads its payload from the socket straight into a
    // float array (GH's payload is 16-bit values: read whole, then decoded).
    public static TheoryData<string, bool> TensorManifests() => new()
    {
        { "CG", true }, { "CL", true }, { "GC", true }, { "GH", false }, { "PS", true }, { "ES", true },
    };

    // One tensor message of each manifest the data plane carries, with `floats` as its float payload (GH: `halves`).
    internal static object TensorMessage(string manifest, float[] floats, ushort[] halves) => manifest switch
    {
        "CG" => new ComputeGradients("job", 3, 1, 2, 5, 1, [4, 8, 15], 42, floats),
        "CL" => new ComputeGradients("job", 3, 1, 2, 5, 1, [4, 8], 42, floats, LocalSteps: [1, 1]),
        "GC" => new GradientsComputed("job", 3, 1, 5, 1, "wörker", floats, 4, 1.25, 3),
        "GH" => new GradientsComputed("job", 3, 1, 5, 1, "w", [], 4, 1.25, 3,
            new DistTrain.Cluster.Compression.CompressedTensor(DistTrain.Cluster.Jobs.GradientCompression.Fp16, halves)),
        "PS" => new ParametersSnapshot("job", 3, floats),
        _ => new EvaluateShard("job", 3, DataSplit.Test, 10, 5, floats),
    };

    [Theory]
    [MemberData(nameof(TensorManifests))]
    public void A_frame_sent_as_head_then_payload_from_its_array_has_the_bytes_of_the_whole_frame(string manifest, bool _)
    {
        // The sender writes every payload straight from its array after the rest of the frame (into the socket or a
        // shared-memory ring): parameters (CG, and CL whose local steps come before them), gradients and their 16-bit form.
        float[] floats = [0.5f, float.NaN, -0f, 3e-39f, 1e30f];
        ushort[] halves = [0x3C00, 0x8000, 0x7E00];
        var message = TensorMessage(manifest, floats, halves);
        var (target, sender) = ("akka.tcp://disttrain@h:1/user/w#12", "akka.tcp://disttrain@g:2/user/ps");
        var whole = Frame(target, sender, message);

        Assert.True(TensorMessageSerializer.TryTrailingPayload(message, out var payload));
        var expected = manifest == "GH"
            ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(halves.AsSpan())
            : System.Runtime.InteropServices.MemoryMarshal.AsBytes(floats.AsSpan());
        Assert.True(payload.Overlaps(expected) && payload.Length == expected.Length); // the array itself, no copy
        var head = new byte[whole.Length - payload.Length];
        DataPlaneFrame.WriteHead(head, whole.Length, target, sender, TensorMessageSerializer.ManifestOf(message), message);
        byte[] sent = [.. head, .. payload];
        Assert.Equal(whole, sent);
    }

    [Fact]
    public void Messages_without_a_trailing_payload_have_none()
    {
        Assert.False(TensorMessageSerializer.TryTrailingPayload(new WorkerLocalState("job", WorkerStateRole.Request, 0, 3, null, null), out var none));
        Assert.True(none.IsEmpty);
        Assert.False(TensorMessageSerializer.TryTrailingPayload("text", out _));
        Assert.Throws<ArgumentException>(() => TensorMessageSerializer.EncodeHeadInto(new WorkerLocalState("job", WorkerStateRole.Request, 0, 3, null, null), new byte[64]));
    }

    [Theory]
    [MemberData(nameof(TensorManifests))]
    public void A_receiver_finds_the_trailing_payload_in_a_frames_first_bytes_and_decodes_the_head_around_its_array(string manifest, bool trailing)
    {
        // What the receive loop does with a large plain frame: locate the payload from the first bytes, read it
        // straight into a pool array, decode the rest around it. The result equals decoding the whole frame.
        var floats = new float[20_000];
        for (var i = 0; i < floats.Length; i++) floats[i] = i * 0.25f - 7;
        var message = TensorMessage(manifest, floats, new ushort[40_000]);
        var frame = Frame("akka.tcp://disttrain@h:1/user/w#12", "akka.tcp://disttrain@g:2/user/ps", message);
        var body = frame.AsSpan(4);

        var at = DataPlaneFrame.TrailingPayloadOffset(body[..1024], body.Length);

        Assert.Equal(trailing, at >= 0);
        if (!trailing) return;
        Assert.Equal(body.Length - floats.Length * 4, at);
        Assert.Equal(-1, DataPlaneFrame.TrailingPayloadOffset(body[..(at - 5)], body.Length)); // the head does not fit: read whole
        Assert.Equal(-1, DataPlaneFrame.TrailingPayloadOffset(body[..1024], body.Length + 4)); // the lengths do not add up
        var payload = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(body[at..]).ToArray();
        var read = DataPlaneFrame.ReadHead(body[..at], payload);
        Deep.Equal(DataPlaneFrame.Read(body).Message, read.Message);
        Assert.Same(payload, read.Message switch { ComputeGradients m => m.Parameters, GradientsComputed m => m.Gradient, ParametersSnapshot m => m.Parameters, EvaluateShard m => m.Parameters, _ => null });
        Assert.Equal("akka.tcp://disttrain@g:2/user/ps", read.SenderPath);
    }

    [Fact]
    public void A_bad_preamble_names_what_it_expected()
    {
        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() =>
            DataPlaneFrame.ReadPreamble(new MemoryStream("GET / HTTP/1.1\r\n"u8.ToArray())));
        Assert.Contains("DTDP", e.Message);
        var wrongVersion = Preamble();
        wrongVersion[4] = 9;
        e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => DataPlaneFrame.ReadPreamble(new MemoryStream(wrongVersion)));
        Assert.Contains("version", e.Message);
        Assert.Equal("akka.tcp://x@y:1", DataPlaneFrame.ReadPreamble(new MemoryStream(Preamble("akka.tcp://x@y:1"))));
    }
}
