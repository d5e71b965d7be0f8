using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Tests.Serialization;
using DistTrain.Cluster.Transport;

namespace DistTrain.Cluster.Tests.Transport;

/// <summary>
/// The data plane's same-host shared-memory ring: two ActorSystems in one process share /dev/shm, so their
/// connection maps a ring and tensor payloads go through it; a peer that cannot map the offered file, or shared
/// memory off on either side, leaves the connection plain TCP; a ring frame that does not fit the ring costs the
/// connection and never the node. Each test uses its own directory under /dev/shm, so it can check that no ring
/// file is left behind.
/// </summary>
public sealed class SharedMemoryRingTests : Akka.TestKit.Xunit2.TestKit
{
    private const string RemoteConfig = """
        akka.loglevel = INFO
        akka.stdout-loglevel = OFF
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        """;

    private const int RingBytes = 256 << 10;

    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private readonly ActorSystem _other;
    private readonly string _dir;

    public SharedMemoryRingTests() : base(ClusterConfig.Load(RemoteConfig, NoEnvironment), "disttrain")
    {
        _other = ActorSystem.Create("disttrain", ClusterConfig.Load(RemoteConfig, NoEnvironment));
        _dir = Directory.CreateDirectory(Path.Combine("/dev/shm", $"disttrain-test-{Guid.NewGuid():N}")).FullName;
    }

    protected override void AfterAll()
    {
        Shutdown(_other);
        base.AfterAll();
        Directory.Delete(_dir, recursive: true);
    }

    private DataPlaneSettings Ring(bool on = true) => new(MaxFrameBytes: 4 << 20)
    {
        SharedMemory = on, SharedMemoryRingBytes = RingBytes, SharedMemoryDirectory = _dir,
    };

    private Address OtherAddress => ((ExtendedActorSystem)_other).Provider.DefaultAddress;

    private string[] RingFiles => Directory.GetFiles(_dir);

    private (Akka.TestKit.TestProbe Probe, IActorRef Remote) RemoteProbe()
    {
        var probe = CreateTestProbe(_other);
        var remote = Sys.ActorSelection(probe.Ref.Path.ToStringWithAddress(OtherAddress)).ResolveOne(TimeSpan.FromSeconds(5)).Result;
        return (probe, remote);
    }

    private static float[] Floats(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (var i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
        return a;
    }

    [Fact]
    public async Task A_gradient_crosses_the_ring_bit_for_bit_and_no_ring_file_outlives_the_connection()
    {
        var here = DataPlane.Start(Sys, Ring());
        var there = DataPlane.Start(_other, Ring());
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        Assert.Empty(RingFiles); // the sender deleted the name once the peer mapped it
        var g = Floats(30_000, 1);
        g[0] = float.NaN;
        g[1] = -0f;
        g[2] = BitConverter.Int32BitsToSingle(0x7FC0_1234); // a NaN with a payload
        var message = new GradientsComputed("job", 3, 1, 7, 0, "worker-1", g, 32, 12.5, 20);

        Assert.True(here.TrySend(remote, message, TestActor));

        var received = probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5));
        Deep.Equal(message, received);
        Assert.Equal(
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(g.AsSpan()).ToArray(),
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(received.Gradient.AsSpan()).ToArray());
        Assert.Equal((1, 120_000L), (here.Stats.SharedMemoryFramesSent, here.Stats.SharedMemoryBytesSent));
        Assert.Equal((1, 120_000L), (there.Stats.SharedMemoryFramesReceived, there.Stats.SharedMemoryBytesReceived));
        Assert.True(there.ReceivePool.Return(received.Gradient)); // decoded into a pool array, like a TCP frame

        Shutdown(_other);
        Assert.Empty(RingFiles);
    }

    [Theory]
    [InlineData("CG", true)]
    [InlineData("CL", true)]
    [InlineData("GC", true)]
    [InlineData("GH", true)]
    [InlineData("PS", true)]
    [InlineData("ES", true)]
    [InlineData("CL", false)]
    [InlineData("GH", false)]
    public async Task Every_tensor_message_puts_its_payload_in_the_ring(string manifest, bool sharedMemory)
    {
        // Local SGD's parameters (CL) and 16-bit gradients (GH) used to travel whole through the socket: two more copies
        // of the payload each way than the ring, which made those modes slower across processes than plain sync.
        // Without shared memory (another machine) they arrive the same, through the socket.
        var here = DataPlane.Start(Sys, Ring(sharedMemory));
        var there = DataPlane.Start(_other, Ring(sharedMemory));
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        var floats = Floats(20_000, 3);
        var halves = new ushort[30_000];
        for (var i = 0; i < halves.Length; i++) halves[i] = (ushort)(i * 7919);
        var message = DataPlaneTests.TensorMessage(manifest, floats, halves);
        var payloadBytes = manifest == "GH" ? halves.Length * 2L : floats.Length * 4L;

        Assert.True(here.TrySend(remote, message, TestActor));

        var received = probe.ExpectMsg<object>(TimeSpan.FromSeconds(5));
        if (manifest == "GH")
        {
            // Decoded on the receive thread into the float32 gradient the parameter server would have decoded it into.
            var expected = new float[halves.Length];
            DistTrain.Cluster.Compression.HalfPrecision.Decode(halves, expected, DistTrain.Cluster.Jobs.GradientCompression.Fp16);
            message = (GradientsComputed)message with { Gradient = expected, Compressed = null };
            Assert.True(there.ReceivePool.Return(((GradientsComputed)received).Gradient)); // a pool array, handed back after the step
        }
        Deep.Equal(message, received);
        var viaRing = sharedMemory ? 1 : 0;
        Assert.Equal((viaRing, viaRing * payloadBytes), (here.Stats.SharedMemoryFramesSent, here.Stats.SharedMemoryBytesSent));
        Assert.Equal((viaRing, viaRing * payloadBytes), (there.Stats.SharedMemoryFramesReceived, there.Stats.SharedMemoryBytesReceived));
        Assert.Equal((1L, 1L), (here.Stats.FramesSent, there.Stats.FramesReceived)); // the data plane, not Akka.Remote
    }

    [Fact]
    public async Task Many_messages_of_mixed_sizes_wrap_the_ring_several_times_and_arrive_in_order()
    {
        var here = DataPlane.Start(Sys, Ring());
        DataPlane.Start(_other, Ring());
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        var rng = new Random(77);
        var sent = new List<ComputeGradients>();
        long ringBytes = 0;
        var inline = 0;
        for (var i = 0; i < 80; i++)
        {
            // Up to 40,000 floats = 160,000 bytes: those above half the 256 KiB ring (131,072 bytes) go inline.
            var n = i % 10 == 9 ? 35_000 + rng.Next(5_000) : 1 + rng.Next(30_000);
            var m = new ComputeGradients("job", i, 1, 0, i, 0, [i], 5, Floats(n, i));
            sent.Add(m);
            if (n * 4 <= RingBytes / 2) ringBytes += n * 4;
            else inline++;
        }
        Assert.True(ringBytes > 4L * RingBytes, $"only {ringBytes} bytes through a {RingBytes}-byte ring");

        var receiving = Task.Run(() =>
        {
            var got = new List<ComputeGradients>();
            for (var i = 0; i < sent.Count; i++) got.Add(probe.ExpectMsg<ComputeGradients>(TimeSpan.FromSeconds(10)));
            return got;
        });
        foreach (var m in sent) Assert.True(here.TrySend(remote, m, TestActor));
        var received = await receiving;

        for (var i = 0; i < sent.Count; i++) Deep.Equal(sent[i], received[i]);
        var stats = here.Stats;
        Assert.Equal(sent.Count - inline, stats.SharedMemoryFramesSent);
        Assert.Equal(ringBytes, stats.SharedMemoryBytesSent);
        Assert.Equal(sent.Count, stats.FramesSent);
        Assert.Equal(0, stats.ConnectionsDropped);
    }

    [Fact]
    public async Task A_payload_above_half_the_ring_goes_inline_on_the_socket()
    {
        var here = DataPlane.Start(Sys, Ring());
        DataPlane.Start(_other, Ring());
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        var message = new ParametersSnapshot("job", 9, Floats(RingBytes / 8 + 1, 3)); // 4 bytes over half the ring

        Assert.True(here.TrySend(remote, message, TestActor));

        Deep.Equal(message, probe.ExpectMsg<ParametersSnapshot>(TimeSpan.FromSeconds(5)));
        Assert.Equal((1L, 0L), (here.Stats.FramesSent, here.Stats.SharedMemoryFramesSent));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task With_shared_memory_off_on_either_side_the_connection_stays_TCP_and_delivers(bool senderOn, bool receiverOn)
    {
        var here = DataPlane.Start(Sys, Ring(senderOn));
        var there = DataPlane.Start(_other, Ring(receiverOn));
        var (probe, remote) = RemoteProbe();
        Assert.True(await here.ConnectAsync(OtherAddress));
        Assert.Empty(RingFiles); // a declined offer's file is deleted too
        var message = new GradientsComputed("job", 3, 1, 7, 0, "w", Floats(1000, 4), 32, 1.5, 2);

        Assert.True(here.TrySend(remote, message, TestActor));

        Deep.Equal(message, probe.ExpectMsg<GradientsComputed>(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, there.Stats.FramesReceived);
        Assert.Equal(0, there.Stats.SharedMemoryFramesReceived);
        Assert.Equal(0, here.Stats.SharedMemoryFramesSent);
    }

    // A raw peer that offers a ring: what a connecting data plane does, with the offer under the test's control.
    private Socket OfferingPeer(int port, SharedMemoryOffer offer, out byte answer)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 5000 };
        s.Connect(IPAddress.Loopback, port);
        const string address = "akka.tcp://disttrain@127.0.0.1:1";
        var preamble = new byte[DataPlaneFrame.PreambleSize(address, offer)];
        DataPlaneFrame.WritePreamble(preamble, address, offer);
        s.Send(preamble);
        var b = new byte[1];
        Assert.Equal(1, s.Receive(b));
        answer = b[0];
        return s;
    }

    private static byte[] Frame(string target, object message)
    {
        var manifest = TensorMessageSerializer.ManifestOf(message);
        var b = new byte[DataPlaneFrame.SizeOf(target, "", manifest, message)];
        DataPlaneFrame.Write(b, target, "", manifest, message);
        return b;
    }

    [Theory]
    [InlineData("nonce")]
    [InlineData("missing")]
    [InlineData("outside")]
    [InlineData("symlink")]
    [InlineData("permissions")]
    public void An_offer_the_receiver_cannot_map_as_the_senders_is_declined_and_the_connection_still_delivers(string fault)
    {
        var there = DataPlane.Start(_other, Ring());
        var (probe, _) = RemoteProbe();
        using var ring = SharedMemoryRing.Create(_dir, RingBytes, out var offer);
        var wrong = fault switch
        {
            "nonce" => offer with { Nonce = offer.Nonce.Select(b => (byte)~b).ToArray() },
            "missing" => offer with { Path = Path.Combine(_dir, SharedMemoryRing.FilePrefix + "no-such-file") },
            "symlink" => offer with { Path = File.CreateSymbolicLink(Path.Combine(_dir, SharedMemoryRing.FilePrefix + "link"), offer.Path).FullName },
            "permissions" => Chmod(offer, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead),
            _ => offer with { Path = "/tmp/" + Path.GetFileName(offer.Path) }, // not in the ring directory
        };

        using var s = OfferingPeer(there.Port, wrong, out var answer);
        s.Send(Frame(probe.Ref.Path.ToSerializationFormatWithAddress(OtherAddress), new ComputeGradients("job", 1, 1, 0, 0, 0, [1, 2], 9, [0.5f, 1.5f])));

        Assert.Equal(DataPlaneFrame.RingDeclined, answer);
        Assert.Equal([0.5f, 1.5f], probe.ExpectMsg<ComputeGradients>(TimeSpan.FromSeconds(5)).Parameters);
    }

    private static SharedMemoryOffer Chmod(SharedMemoryOffer offer, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(offer.Path, mode); // the ring tests need /dev/shm anyway
        return offer;
    }

    [Theory]
    [InlineData(RingBytes - 100, 400, "outside the")]       // runs past the ring's end
    [InlineData(0, 400, "expected the payload at")]         // offset inconsistent with the end position (end 500)
    [InlineData(0, RingBytes / 2 + 4, "outside 0-")]        // longer than a ring payload may be
    public void A_ring_frame_that_does_not_fit_the_ring_drops_the_connection_with_an_error_and_the_node_carries_on(int offset, int length, string expected)
    {
        var there = DataPlane.Start(_other, Ring());
        var (probe, _) = RemoteProbe();
        using var ring = SharedMemoryRing.Create(_dir, RingBytes, out var offer);
        var log = CreateTestProbe(_other);
        _other.EventStream.Subscribe(log.Ref, typeof(Akka.Event.Error));
        var target = probe.Ref.Path.ToSerializationFormatWithAddress(OtherAddress);
        var message = new ComputeGradients("job", 1, 1, 0, 0, 0, [1], 9, new float[length / 4]);
        var end = offset == 0 && length == 400 ? 500L : offset + (long)length;
        var size = DataPlaneFrame.SizeOf(target, "", "CG", message) - length + DataPlaneFrame.RingFields;
        var frame = new byte[size];
        DataPlaneFrame.WriteRingHead(frame, offset, length, end, target, "", "CG", message);

        using var s = OfferingPeer(there.Port, offer, out var answer);
        Assert.Equal(DataPlaneFrame.RingAccepted, answer);
        s.Send(frame);

        var error = log.ExpectMsg<Akka.Event.Error>(TimeSpan.FromSeconds(5)).Message.ToString()!;
        Assert.Contains("dropped the connection", error);
        Assert.Contains(expected, error);
        Assert.Equal(0, s.Receive(new byte[16])); // closed by the receiver
        AwaitCondition(() => there.Stats.BadFrames == 1, TimeSpan.FromSeconds(5));
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        // The node still takes ring frames on a new connection.
        using var ring2 = SharedMemoryRing.Create(_dir, RingBytes, out var offer2);
        using var good = OfferingPeer(there.Port, offer2, out var answer2);
        Assert.Equal(DataPlaneFrame.RingAccepted, answer2);
        var ok = new ComputeGradients("job", 2, 1, 0, 0, 0, [1], 9, [2.5f, 3.5f]);
        Assert.True(ring2.TryWrite(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ok.Parameters.AsSpan()), TimeSpan.FromSeconds(1), out var at, out var e2));
        var head = new byte[DataPlaneFrame.SizeOf(target, "", "CG", ok) - 8 + DataPlaneFrame.RingFields];
        DataPlaneFrame.WriteRingHead(head, at, 8, e2, target, "", "CG", ok);
        good.Send(head);
        Assert.Equal([2.5f, 3.5f], probe.ExpectMsg<ComputeGradients>(TimeSpan.FromSeconds(5)).Parameters);
    }

    [Fact]
    public void A_ring_frame_on_a_connection_without_a_ring_is_a_bad_frame()
    {
        var message = new ComputeGradients("job", 1, 1, 0, 0, 0, [1], 9, [1f]);
        var head = new byte[DataPlaneFrame.SizeOf("akka.tcp://d@h:1/user/w", "", "CG", message) - 4 + DataPlaneFrame.RingFields];
        DataPlaneFrame.WriteRingHead(head, 0, 4, 4, "akka.tcp://d@h:1/user/w", "", "CG", message);

        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => DataPlaneFrame.Read(head.AsSpan(4)));
        Assert.Contains("without a ring", e.Message);
    }

    [Fact]
    public void A_full_ring_refuses_a_write_after_the_timeout_and_takes_it_once_the_reader_consumed()
    {
        using var writer = SharedMemoryRing.Create(_dir, SharedMemoryRing.MinCapacity, out var offer);
        using var reader = SharedMemoryRing.Open(offer, _dir, out var why) ?? throw new Xunit.Sdk.XunitException(why);
        writer.Unlink();
        var half = new byte[SharedMemoryRing.MinCapacity / 2];
        half.AsSpan().Fill(7);
        Assert.True(writer.TryWrite(half, TimeSpan.FromSeconds(1), out var o1, out var e1));
        Assert.True(writer.TryWrite(half, TimeSpan.FromSeconds(1), out var o2, out var e2));
        Assert.Equal((0, SharedMemoryRing.MinCapacity / 2), (o1, o2));

        Assert.False(writer.TryWrite(new byte[10], TimeSpan.FromMilliseconds(30), out _, out _)); // nothing consumed yet

        Assert.Null(reader.Check(o1, half.Length, e1));
        Assert.True(reader.Payload(o1, half.Length).SequenceEqual(half));
        reader.Consumed(e1);
        Assert.True(writer.TryWrite([1, 2, 3], TimeSpan.FromMilliseconds(30), out var o3, out var e3));
        Assert.Equal(0, o3); // the freed start of the ring
        Assert.NotNull(reader.Check(o2, half.Length, e2 + 1)); // an end that does not match the length
        Assert.NotNull(reader.Check(o2 + 4, half.Length - 8, e2 - 4)); // not where the previous frame ended
        Assert.Null(reader.Check(o2, half.Length, e2));
        reader.Consumed(e2);
        Assert.Null(reader.Check(o3, 3, e3));
        Assert.True(reader.Payload(o3, 3).SequenceEqual(new byte[] { 1, 2, 3 }));
    }

    [Fact]
    public void A_receiver_that_keeps_up_gets_every_payload_at_the_start_of_the_ring()
    {
        using var writer = SharedMemoryRing.Create(_dir, SharedMemoryRing.MinCapacity, out var offer);
        using var reader = SharedMemoryRing.Open(offer, _dir, out var why) ?? throw new Xunit.Sdk.XunitException(why);
        var payload = new byte[1000];
        for (var i = 0; i < 200; i++) // 200 KB through a 64 KiB ring
        {
            payload.AsSpan().Fill((byte)i);
            Assert.True(writer.TryWrite(payload, TimeSpan.FromSeconds(1), out var offset, out var end));
            Assert.Equal(0, offset);
            Assert.Null(reader.Check(offset, payload.Length, end));
            Assert.True(reader.Payload(offset, payload.Length).SequenceEqual(payload));
            reader.Consumed(end);
        }
        // A reader that lags gets the payloads one after the other.
        Assert.True(writer.TryWrite(payload, TimeSpan.FromSeconds(1), out var a, out _));
        Assert.True(writer.TryWrite(payload, TimeSpan.FromSeconds(1), out var b, out _));
        Assert.Equal((0, 1000), (a, b));
    }

    [RootFact]
    public void A_ring_its_directory_cannot_hold_is_refused_when_created_not_with_a_SIGBUS_at_a_later_write()
    {
        // A tmpfs smaller than the ring, as /dev/shm is in a container (Docker's default is 64 MiB) running several nodes.
        var mount = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"disttrain-tmpfs-{Guid.NewGuid():N}")).FullName;
        Sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount);
        try
        {
            // A sparse 4 MiB file would be created and mapped, and the first write past 1 MiB would kill the process.
            Assert.ThrowsAny<IOException>(() => SharedMemoryRing.Create(mount, 4 << 20, out _));
            Assert.Empty(Directory.GetFiles(mount)); // nothing left behind
            // One that fits is created and takes its largest payload.
            using var ring = SharedMemoryRing.Create(mount, 256 << 10, out _);
            Assert.True(ring.TryWrite(new byte[ring.MaxPayload], TimeSpan.Zero, out _, out _));
        }
        finally
        {
            // Lazy: a ring a failed assertion left mapped must not hide that failure behind "target is busy".
            Sh("umount", "-l", mount);
            Directory.Delete(mount, recursive: true);
        }
    }

    private static void Sh(string file, params string[] args)
    {
        var (code, _, stderr) = Command.RunAsync(file, args).GetAwaiter().GetResult();
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} exited {code}: {stderr}");
    }

    [Fact]
    public void A_preamble_with_an_offer_round_trips_and_an_old_version_is_refused_by_version()
    {
        var offer = new SharedMemoryOffer("/dev/shm/disttrain-dp-1-x", Enumerable.Range(1, 16).Select(i => (byte)i).ToArray(), 1 << 20);
        var b = new byte[DataPlaneFrame.PreambleSize("akka.tcp://x@y:1", offer)];
        DataPlaneFrame.WritePreamble(b, "akka.tcp://x@y:1", offer);

        Assert.Equal("akka.tcp://x@y:1", DataPlaneFrame.ReadPreamble(new MemoryStream(b), out var read));
        Assert.Equal(offer.Path, read!.Path);
        Assert.Equal(offer.Nonce, read.Nonce);
        Assert.Equal(offer.Capacity, read.Capacity);
        b[4] = 1; // what a build before the ring writes
        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => DataPlaneFrame.ReadPreamble(new MemoryStream(b)));
        Assert.Contains("expected version 2", e.Message);
    }
}

/// <summary>Skipped, with the reason, unless the tests run as root (they mount a small tmpfs).</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root") Skip = "needs root on Linux: mounts a small tmpfs";
    }
}
