using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using Akka.Remote;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;

namespace DistTrain.Cluster.Transport;

/// <summary>Counters of one node's data plane (for tests, benchmarks and logs).</summary>
/// <remarks>Frames and bytes count every frame; the SharedMemory counters are the part whose payload went through a
/// shared-memory ring (bytes: the payload's).</remarks>
public sealed record DataPlaneStats(long FramesSent, long BytesSent, long FramesReceived, long BytesReceived, long FallbackSends,
    long ConnectionsDropped, long BadFrames, long Undeliverable, long SharedMemoryFramesSent = 0, long SharedMemoryBytesSent = 0,
    long SharedMemoryFramesReceived = 0, long SharedMemoryBytesReceived = 0);

/// <summary>
/// The tensor data plane: tensor messages (<see cref="ITensorMessage"/>: parameters out, gradients back,
/// evaluation parameters, snapshots) travel between nodes over one plain TCP connection per ordered node
/// pair instead of through Akka.Remote, whose per-message cost for a 1 MB tensor is ~30× a socket's
/// (docs/benchmarks.md). Akka keeps everything else: membership, control messages, failure detection.
/// <para>
/// Each node listens on the host Akka remoting binds (any free port unless <c>disttrain.data-plane.port</c>
/// says otherwise) and runs a small actor, <c>/user/disttrain-dataplane</c>, that tells peers that port.
/// The first tensor message to a node asks that actor (through Akka) and connects in the background; until
/// the connection is up, and whenever it fails, messages go through Akka.Remote as before
/// (<see cref="TrySend"/> returns false and <c>Wire.Send</c> falls back to <see cref="ChunkingTransport"/>).
/// </para>
/// <para>
/// Sending encodes the frame (<see cref="DataPlaneFrame"/>) up to its float payload into one buffer per
/// connection, grown only when a larger message comes, and writes it and then the payload straight from its
/// array on the caller's thread (TCP_NODELAY): nothing is allocated or copied per message but the path
/// strings. Receiving runs one thread per inbound connection that reads each frame into a buffer grown
/// once and decodes it with <see cref="TensorMessageSerializer"/>; a trailing float payload lands in an array
/// from <see cref="ReceivePool"/> (that the consuming actor hands back) with one copy: from the socket straight
/// into the array for a large frame whose head is in its first 64 KiB, from the ring for a ring frame, else from
/// the buffer. The message is told to its target actor with the original sender. A malformed frame, an oversized one or a bad preamble logs an error and
/// drops that connection; nothing a peer sends can stop the node (the sender then falls back to Akka and reconnects later).
/// </para>
/// <para>
/// Same machine: the connecting side offers a shared-memory ring after its preamble (<see cref="SharedMemoryHandshake"/>);
/// when the peer maps it, a trailing payload of at most half the ring is copied into the ring instead of written
/// to the socket, which carries the frame's head only (<see cref="DataPlaneFrame.RingKind"/>), and the receiver
/// copies it from the ring into the pool array. Otherwise, and for larger payloads, frames are as above.
/// </para>
/// <para>
/// Ordering: messages on one connection arrive in order; a tensor message may overtake a control message
/// sent through Akka before it (as with chunking); the protocol's version and attempt numbers make that
/// harmless. With TLS on the data plane stays off (see <see cref="DataPlaneSettings.UnavailableReason"/>).
/// </para>
/// </summary>
public sealed class DataPlane : IExtension, IDisposable
{
    public const string EndpointActorName = "disttrain-dataplane";

    private const int Idle = 0, Resolving = 1, Connected = 2, Failed = 3, Refused = 4;

    private readonly ExtendedActorSystem _system;
    private readonly ILoggingAdapter _log;
    private readonly Address _localAddress;
    private readonly string _localAddressText;
    private readonly ConcurrentDictionary<Address, Peer> _peers = new();
    private readonly ConcurrentDictionary<Socket, byte> _inbound = new();
    private readonly TcpListener? _listener;
    private volatile bool _disposed;
    private long _framesSent, _bytesSent, _framesReceived, _bytesReceived, _fallbacks, _dropped, _badFrames, _undeliverable;
    private long _shmFramesSent, _shmBytesSent, _shmFramesReceived, _shmBytesReceived;

    private DataPlane(ExtendedActorSystem system, DataPlaneSettings settings)
    {
        settings.Validate();
        _system = system;
        Settings = settings;
        _log = Logging.GetLogger(system, "DataPlane");
        _localAddress = system.Provider.DefaultAddress;
        _localAddressText = _localAddress.ToString();
        var reason = !settings.Enabled ? "disttrain.data-plane.enabled = off"
            : system.Provider is not IRemoteActorRefProvider ? "the actor system has no remoting (everything is local)"
            : DataPlaneSettings.UnavailableReason(system.Settings.Config);
        if (reason is null)
        {
            try
            {
                _listener = new TcpListener(BindAddress(system), settings.Port);
                _listener.Start();
                Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
                new Thread(AcceptLoop) { IsBackground = true, Name = "dataplane-accept" }.Start();
                _log.Info("data plane: listening on {0} for {1}", _listener.LocalEndpoint, _localAddress);
            }
            catch (SocketException e)
            {
                _listener = null;
                reason = $"cannot listen on port {settings.Port}: {e.Message}";
            }
        }
        DisabledReason = reason;
        if (reason is not null) _log.Info("data plane off ({0}); tensor messages go through Akka.Remote", reason);
        system.ActorOf(Props.Create(() => new EndpointActor(Port)), EndpointActorName);
        if (reason is null && system.Provider is Akka.Cluster.ClusterActorRefProvider)
            system.ActorOf(Props.Create(() => new MembershipWatcher(this)), "disttrain-dataplane-members");
        system.RegisterOnTermination(Dispose);
    }

    public DataPlaneSettings Settings { get; }

    /// <summary>Whether this node sends and receives tensors over the data plane.</summary>
    public bool Enabled => DisabledReason is null;

    /// <summary>Why the data plane is off on this node; null when it is on.</summary>
    public string? DisabledReason { get; }

    /// <summary>
    /// Where received tensor payloads come from; the actors that consume them (a worker's parameters once the
    /// next ones replace them, the parameter server's gradients once the step completed) hand them back.
    /// </summary>
    public ReceiveBufferPool ReceivePool { get; } = new();

    /// <summary>The port this node's data plane listens on; 0 when it is off.</summary>
    public int Port { get; }

    public DataPlaneStats Stats => new(Interlocked.Read(ref _framesSent), Interlocked.Read(ref _bytesSent), Interlocked.Read(ref _framesReceived),
        Interlocked.Read(ref _bytesReceived), Interlocked.Read(ref _fallbacks), Interlocked.Read(ref _dropped), Interlocked.Read(ref _badFrames),
        Interlocked.Read(ref _undeliverable), Interlocked.Read(ref _shmFramesSent), Interlocked.Read(ref _shmBytesSent),
        Interlocked.Read(ref _shmFramesReceived), Interlocked.Read(ref _shmBytesReceived));

    /// <summary>
    /// Starts the data plane on <paramref name="system"/> with <c>disttrain.data-plane</c> (idempotent).
    /// Every node of a cluster calls this once at start-up, after <see cref="ChunkingTransport.Start"/>.
    /// </summary>
    public static DataPlane Start(ActorSystem system, DataPlaneSettings? settings = null)
    {
        var s = settings ?? DataPlaneSettings.FromConfig(system.Settings.Config);
        var ext = (DataPlane)system.RegisterExtension(new Id(s));
        if (ext.Settings != s) throw new InvalidOperationException($"the data plane already runs on {system.Name} with {ext.Settings}; asked again with {s}");
        return ext;
    }

    /// <summary>The data plane started on <paramref name="system"/>, or null.</summary>
    public static DataPlane? Find(ActorSystem system) => system.HasExtension<DataPlane>() ? system.GetExtension<DataPlane>() : null;

    private static IPAddress BindAddress(ExtendedActorSystem system)
    {
        var host = system.Settings.Config.GetString("akka.remote.dot-netty.tcp.hostname", "");
        if (string.IsNullOrWhiteSpace(host)) host = system.Provider.DefaultAddress.Host ?? "0.0.0.0";
        if (IPAddress.TryParse(host, out var ip)) return ip;
        var addresses = Dns.GetHostAddresses(host);
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
    }

    /// <summary>
    /// Sends <paramref name="message"/> to <paramref name="target"/> over the data plane when it is a tensor
    /// message for another node whose connection is up; returns false (and starts connecting, if needed) when
    /// the caller must send it through Akka instead. Safe to call from any thread.
    /// </summary>
    public bool TrySend(IActorRef target, object message, IActorRef? sender = null)
    {
        if (!Enabled || message is not ITensorMessage || target is IActorRefScope { IsLocal: true }) return false;
        var address = target.Path.Address;
        if (address.Host is null || address.Equals(_localAddress)) return false;
        var peer = _peers.GetOrAdd(address, _ => new Peer());
        if (Volatile.Read(ref peer.State) != Connected)
        {
            MaybeConnect(address, peer);
            Interlocked.Increment(ref _fallbacks);
            return false;
        }
        var manifest = TensorMessageSerializer.ManifestOf(message);
        var targetPath = target.Path.ToSerializationFormat();
        var senderPath = sender is null || sender.IsNobody() ? "" : sender.Path.ToSerializationFormatWithAddress(_localAddress);
        var size = DataPlaneFrame.SizeOf(targetPath, senderPath, manifest, message);
        if (size - DataPlaneFrame.LengthPrefix > Settings.MaxFrameBytes)
        {
            _log.Warning("data plane: a {0} of {1} bytes to {2} exceeds disttrain.data-plane.max-frame-bytes ({3}); sent through Akka instead",
                message.GetType().Name, size, target.Path, Settings.MaxFrameBytes);
            Interlocked.Increment(ref _fallbacks);
            return false;
        }
        var ringBytes = 0;
        lock (peer.SendLock)
        {
            if (peer.State != Connected || peer.Stream is not { } stream)
            {
                Interlocked.Increment(ref _fallbacks);
                return false;
            }
            // A trailing payload (parameters, a gradient, its 16-bit form) goes out from its own array after the rest
            // of the frame: no copy into the buffer first (the kernel's copy is the only one). With a shared-memory ring
            // it is copied into the ring instead and the socket carries the frame's head only.
            var hasPayload = TensorMessageSerializer.TryTrailingPayload(message, out var payload);
            var payloadBytes = payload.Length;
            var ring = peer.Ring;
            var viaRing = ring is not null && payloadBytes > 0 && payloadBytes <= ring.MaxPayload;
            var head = !hasPayload ? size : size - payloadBytes + (viaRing ? DataPlaneFrame.RingFields : 0);
            if (peer.Buffer.Length < head) peer.Buffer = GC.AllocateUninitializedArray<byte>(head); // grown once per size, then reused
            try
            {
                if (viaRing)
                {
                    if (!ring!.TryWrite(payload, Settings.SendTimeout, out var offset, out var end))
                    {
                        DropLocked(address, peer, $"the shared-memory ring stayed full for {Settings.SendTimeout} (the peer stopped reading)");
                        Interlocked.Increment(ref _fallbacks);
                        return false;
                    }
                    DataPlaneFrame.WriteRingHead(peer.Buffer.AsSpan(0, head), offset, payloadBytes, end, targetPath, senderPath, manifest, message);
                    stream.Write(peer.Buffer, 0, head);
                    ringBytes = payloadBytes;
                }
                else
                {
                    if (!hasPayload) DataPlaneFrame.Write(peer.Buffer.AsSpan(0, size), targetPath, senderPath, manifest, message);
                    else DataPlaneFrame.WriteHead(peer.Buffer.AsSpan(0, head), size, targetPath, senderPath, manifest, message);
                    stream.Write(peer.Buffer, 0, head);
                    if (hasPayload) stream.Write(payload);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // The receiver discards a frame cut short; this one goes through Akka.
                DropLocked(address, peer, $"send failed: {e.Message}");
                Interlocked.Increment(ref _fallbacks);
                return false;
            }
        }
        Interlocked.Increment(ref _framesSent);
        Interlocked.Add(ref _bytesSent, size);
        if (ringBytes > 0)
        {
            Interlocked.Increment(ref _shmFramesSent);
            Interlocked.Add(ref _shmBytesSent, ringBytes);
        }
        return true;
    }

    /// <summary>
    /// Connects to <paramref name="address"/>'s data plane now (or waits for a connection in progress); true
    /// when it is up. Sends connect on their own; this is for start-up and tests.
    /// </summary>
    public async Task<bool> ConnectAsync(Address address)
    {
        if (!Enabled) return false;
        var peer = _peers.GetOrAdd(address, _ => new Peer());
        if (Interlocked.CompareExchange(ref peer.State, Resolving, Idle) == Idle) peer.Connecting = ConnectPeerAsync(address, peer);
        else if (Volatile.Read(ref peer.State) == Failed && Interlocked.CompareExchange(ref peer.State, Resolving, Failed) == Failed)
            peer.Connecting = ConnectPeerAsync(address, peer);
        if (peer.Connecting is { } t) await t.ConfigureAwait(false);
        return Volatile.Read(ref peer.State) == Connected;
    }

    /// <summary>
    /// Starts connecting to <paramref name="address"/>'s data plane in the background, if it is another node and
    /// no connection is up or on its way, so that the first tensor message to it need not go through Akka.Remote:
    /// the coordinator calls it when a worker registers, a worker when it is asked to prepare a job.
    /// </summary>
    /// <returns>Whether the connection is up when the task completes (false at once for this node or with the data plane off).</returns>
    public Task<bool> Preconnect(Address address)
    {
        if (!Enabled || address.Host is null || address.Equals(_localAddress)) return Task.FromResult(false);
        return ConnectAsync(address);
    }

    private void MaybeConnect(Address address, Peer peer)
    {
        var state = Volatile.Read(ref peer.State);
        if (state == Idle && Interlocked.CompareExchange(ref peer.State, Resolving, Idle) == Idle)
            peer.Connecting = ConnectPeerAsync(address, peer);
        else if (state == Failed && Environment.TickCount64 >= Volatile.Read(ref peer.RetryAt)
                 && Interlocked.CompareExchange(ref peer.State, Resolving, Failed) == Failed)
            peer.Connecting = ConnectPeerAsync(address, peer);
    }

    private async Task ConnectPeerAsync(Address address, Peer peer)
    {
        Socket? socket = null;
        SharedMemoryRing? ring = null;
        try
        {
            var selection = _system.ActorSelection(new RootActorPath(address) / "user" / EndpointActorName);
            var reply = await selection.Ask<DataPlaneEndpoint>(DataPlaneEndpointQuery.Instance, Settings.ResolveTimeout).ConfigureAwait(false);
            if (reply.Port == 0)
            {
                Volatile.Write(ref peer.State, Refused);
                _log.Info("data plane: {0} runs without a data plane; tensor messages to it go through Akka.Remote", address);
                return;
            }
            // Dual-mode where the OS has IPv6: the peer's host may be a name, an IPv4 or an IPv6 address.
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp)
            {
                NoDelay = true,
                SendTimeout = (int)Math.Min(int.MaxValue, Settings.SendTimeout.TotalMilliseconds),
            };
            using (var cts = new CancellationTokenSource(Settings.ConnectTimeout))
                await socket.ConnectAsync(address.Host!, reply.Port, cts.Token).ConfigureAwait(false);
            var stream = new NetworkStream(socket, ownsSocket: true);
            (ring, var how) = await SharedMemoryHandshake.OfferAsync(stream, _localAddressText, Settings).ConfigureAwait(false);
            lock (peer.SendLock)
            {
                if (_disposed)
                {
                    stream.Dispose();
                    ring?.Dispose();
                    return;
                }
                peer.Stream = stream;
                peer.Ring = ring;
                Volatile.Write(ref peer.State, Connected);
            }
            _log.Info("data plane: connected to {0} at {1}:{2} ({3})", address, address.Host, reply.Port, how);
        }
        catch (Exception e)
        {
            socket?.Dispose();
            ring?.Dispose();
            Volatile.Write(ref peer.RetryAt, Environment.TickCount64 + (long)Settings.RetryAfter.TotalMilliseconds);
            Volatile.Write(ref peer.State, Failed);
            _log.Warning("data plane: cannot connect to {0} ({1}); tensor messages to it go through Akka.Remote, next try in {2}",
                address, e is AggregateException { InnerException: { } inner } ? inner.Message : e.Message, Settings.RetryAfter);
        }
    }

    /// <summary>
    /// Closes the connection to <paramref name="address"/> and forgets it, so the next send resolves the
    /// peer again. Called when the cluster marks a member unreachable or removes it: a node that restarts at
    /// the same host and port (a worker healed after a partition) is a new incarnation with a new data-plane
    /// port, and a frame written into the old connection would be lost without an error.
    /// </summary>
    /// <param name="graceful">The member left the cluster on purpose (a finished ps or client node): logged as
    /// information, not as a warning.</param>
    public void Forget(Address address, string why, bool graceful = false)
    {
        if (!_peers.TryRemove(address, out var peer)) return;
        // Not under SendLock: a send blocked on the dead connection (up to send-timeout) holds it, and closing
        // the stream is what aborts that write (it then fails, falls back to Akka and drops the peer itself).
        Volatile.Write(ref peer.State, Failed);
        if (Volatile.Read(ref peer.Stream) is not { } stream) return;
        stream.Dispose();
        Volatile.Read(ref peer.Ring)?.Dispose(); // unmapped once a send copying into it (if any) is done
        Interlocked.Increment(ref _dropped);
        if (_disposed) return;
        if (graceful) _log.Info("data plane: closed the connection to {0} ({1})", address, why);
        else _log.Warning("data plane: dropped the connection to {0} ({1}); tensor messages to it go through Akka.Remote for now", address, why);
    }

    private void DropLocked(Address address, Peer peer, string why)
    {
        peer.Stream?.Dispose();
        peer.Stream = null;
        peer.Ring?.Dispose();
        peer.Ring = null;
        Volatile.Write(ref peer.RetryAt, Environment.TickCount64 + (long)Settings.RetryAfter.TotalMilliseconds);
        Volatile.Write(ref peer.State, Failed);
        Interlocked.Increment(ref _dropped);
        if (!_disposed) _log.Warning("data plane: dropped the connection to {0} ({1}); tensor messages to it go through Akka.Remote for now", address, why);
    }

    private void AcceptLoop()
    {
        while (!_disposed)
        {
            Socket socket;
            try
            {
                socket = _listener!.AcceptSocket();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                if (_disposed) return;
                _log.Error("data plane: accept failed: {0}", e.Message);
                continue;
            }
            socket.NoDelay = true;
            _inbound[socket] = 0;
            new Thread(() => ReceiveLoop(socket)) { IsBackground = true, Name = "dataplane-receive" }.Start();
        }
    }

    private void ReceiveLoop(Socket socket)
    {
        // Worker actors on a worker node run a message delivered here on this thread (no hand-off to the pool).
        Hosting.InlineDispatcher.MarkReceiveThread();
        var remote = SafeEndpoint(socket);
        var peerName = remote;
        using var stream = new NetworkStream(socket, ownsSocket: true);
        var refs = new Dictionary<string, IActorRef>(StringComparer.Ordinal);
        var buffer = Array.Empty<byte>();
        var head = new byte[DataPlaneFrame.LengthPrefix];
        var inFrame = false;
        SharedMemoryRing? ring = null;
        try
        {
            var address = DataPlaneFrame.ReadPreamble(stream, out var offer);
            peerName = $"{address} ({remote})";
            if (offer is not null) ring = SharedMemoryHandshake.Answer(stream, offer, Settings, _log, peerName);
            while (!_disposed)
            {
                inFrame = false;
                if (!ReadHead(stream, head)) return; // the peer closed between frames
                inFrame = true;
                var length = BinaryPrimitives.ReadInt32LittleEndian(head);
                if (DataPlaneFrame.CheckLength(length, Settings.MaxFrameBytes) is { } bad)
                    throw new System.Runtime.Serialization.SerializationException(bad);
                // A large plain frame whose first bytes hold the whole head of a message with a trailing float payload
                // (parameters, a gradient): the rest of the payload goes from the socket straight into the pool array,
                // not through the frame buffer. Anything else is read whole into the buffer and decoded from there.
                var first = Math.Min(length, DirectPayloadFrom);
                if (buffer.Length < first) buffer = GC.AllocateUninitializedArray<byte>(first); // grown once, then reused
                stream.ReadExactly(buffer, 0, first);
                DataPlaneMessage frame;
                var payloadAt = length > first ? DataPlaneFrame.TrailingPayloadOffset(buffer.AsSpan(0, first), length) : -1;
                if (payloadAt >= 0)
                {
                    var payload = ReceivePool.Rent((length - payloadAt) / sizeof(float));
                    var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(payload.AsSpan());
                    buffer.AsSpan(payloadAt, first - payloadAt).CopyTo(bytes);
                    stream.ReadExactly(bytes[(first - payloadAt)..]);
                    frame = DataPlaneFrame.ReadHead(buffer.AsSpan(0, payloadAt), payload);
                }
                else
                {
                    if (buffer.Length < length)
                    {
                        var grown = GC.AllocateUninitializedArray<byte>(length);
                        buffer.AsSpan(0, first).CopyTo(grown);
                        buffer = grown;
                    }
                    if (length > first) stream.ReadExactly(buffer, first, length - first);
                    frame = DataPlaneFrame.Read(buffer.AsSpan(0, length), ReceivePool, ring);
                }
                Interlocked.Increment(ref _framesReceived);
                if (buffer[0] == DataPlaneFrame.RingKind)
                {
                    var ringBytes = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(5));
                    Interlocked.Increment(ref _shmFramesReceived);
                    Interlocked.Add(ref _shmBytesReceived, ringBytes);
                    Interlocked.Add(ref _bytesReceived, length + DataPlaneFrame.LengthPrefix - DataPlaneFrame.RingFields + ringBytes);
                }
                else Interlocked.Add(ref _bytesReceived, length + DataPlaneFrame.LengthPrefix);
                Deliver(frame, refs, peerName);
            }
        }
        catch (Exception e) when (_disposed || e is EndOfStreamException || (e is IOException && e.InnerException is SocketException))
        {
            if (!_disposed && inFrame)
            {
                Interlocked.Increment(ref _dropped);
                _log.Warning("data plane: {0} closed the connection in the middle of a frame; the frame is dropped", peerName);
            }
        }
        catch (Exception e)
        {
            // Malformed preamble or frame, oversized frame, a path Akka cannot resolve: the stream cannot be
            // trusted past this point, so the connection goes. The node itself carries on.
            Interlocked.Increment(ref _badFrames);
            Interlocked.Increment(ref _dropped);
            _log.Error("data plane: dropped the connection from {0}: {1}", peerName, e.Message);
        }
        finally
        {
            _inbound.TryRemove(socket, out _);
            ring?.Dispose();
        }
    }

    /// <summary>The bytes of a frame read before deciding whether its payload can go straight into its array.</summary>
    private const int DirectPayloadFrom = 64 << 10;

    // Reads a length prefix; false on a clean end of stream before its first byte.
    private static bool ReadHead(Stream stream, byte[] head)
    {
        var n = stream.Read(head, 0, head.Length);
        if (n == 0) return false;
        if (n < head.Length) stream.ReadExactly(head, n, head.Length - n);
        return true;
    }

    private void Deliver(DataPlaneMessage frame, Dictionary<string, IActorRef> refs, string peerName)
    {
        if (refs.Count > 1024) refs.Clear();
        if (!refs.TryGetValue(frame.TargetPath, out var target))
        {
            target = _system.Provider.ResolveActorRef(frame.TargetPath);
            refs[frame.TargetPath] = target;
        }
        if (target is not IActorRefScope { IsLocal: true })
        {
            Interlocked.Increment(ref _undeliverable);
            _log.Warning("data plane: a {0} from {1} for {2} was dropped: the target is not on this node; frames are never forwarded",
                frame.Message.GetType().Name, peerName, frame.TargetPath);
            return;
        }
        var sender = ActorRefs.NoSender;
        if (frame.SenderPath.Length > 0 && !refs.TryGetValue(frame.SenderPath, out sender))
        {
            sender = _system.Provider.ResolveActorRef(frame.SenderPath);
            refs[frame.SenderPath] = sender;
        }
        target.Tell(frame.Message, sender);
    }

    private static string SafeEndpoint(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint?.ToString() ?? "?";
        }
        catch (ObjectDisposedException)
        {
            return "?";
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { _listener?.Stop(); } catch (SocketException) { }
        foreach (var peer in _peers.Values)
        {
            lock (peer.SendLock)
            {
                peer.Stream?.Dispose();
                peer.Stream = null;
                peer.Ring?.Dispose();
                peer.Ring = null;
                Volatile.Write(ref peer.State, Failed);
            }
        }
        foreach (var s in _inbound.Keys)
        {
            try { s.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            s.Dispose();
        }
    }

    private sealed class Peer
    {
        public readonly object SendLock = new();
        public int State;
        public long RetryAt;
        public NetworkStream? Stream;
        public SharedMemoryRing? Ring;
        public byte[] Buffer = [];
        public Task? Connecting;
    }

    private sealed class Id(DataPlaneSettings settings) : ExtensionIdProvider<DataPlane>
    {
        public override DataPlane CreateExtension(ExtendedActorSystem system) => new(system, settings);
    }

    /// <summary>Forgets the connection to a member the cluster marks unreachable or removes (see <see cref="Forget"/>).</summary>
    internal sealed class MembershipWatcher : ReceiveActor
    {
        public MembershipWatcher(DataPlane plane)
        {
            Receive<Akka.Cluster.ClusterEvent.UnreachableMember>(m => plane.Forget(m.Member.Address, "the member became unreachable"));
            // Removed after Exiting: it left on purpose (a ps node whose job is done, a submit client). While this node
            // itself leaves, the cluster reports every other member removed. Otherwise the member was downed.
            Receive<Akka.Cluster.ClusterEvent.MemberRemoved>(m =>
            {
                var (why, graceful) = m.PreviousStatus == Akka.Cluster.MemberStatus.Exiting ? ("the member left the cluster", true)
                    : CoordinatedShutdown.Get(Context.System).ShutdownReason is not null ? ("this node is leaving the cluster", true)
                    : ("the member was removed", false);
                plane.Forget(m.Member.Address, why, graceful);
            });
            Receive<Akka.Cluster.ClusterEvent.IMemberEvent>(_ => { });
        }

        protected override void PreStart() =>
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(Akka.Cluster.ClusterEvent.UnreachableMember), typeof(Akka.Cluster.ClusterEvent.MemberRemoved));

        protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    /// <summary>Answers peers' <see cref="DataPlaneEndpointQuery"/> with this node's data-plane port (0 = off).</summary>
    internal sealed class EndpointActor : ReceiveActor
    {
        public EndpointActor(int port)
        {
            var reply = new DataPlaneEndpoint(port);
            Receive<DataPlaneEndpointQuery>(_ => Sender.Tell(reply));
        }
    }
}

/// <summary>A node asks another node's <c>/user/disttrain-dataplane</c> actor for its data-plane port.</summary>
public sealed record DataPlaneEndpointQuery : IDistTrainMessage
{
    public static readonly DataPlaneEndpointQuery Instance = new();
}

/// <summary>The answer: the port the node's data plane listens on (its host is the node's Akka host), 0 when it is off.</summary>
public sealed record DataPlaneEndpoint(int Port) : IDistTrainMessage;
