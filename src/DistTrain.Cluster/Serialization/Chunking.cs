using System.Collections.Concurrent;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote;
using DistTrain.Cluster.Protocol;

namespace DistTrain.Cluster.Serialization;

/// <summary>
/// One piece of a message too large for one remoting frame. <see cref="Bytes"/> is piece
/// <see cref="Index"/> of <see cref="Count"/> of the message serialized by serializer
/// <see cref="SerializerId"/> with <see cref="Manifest"/>; the receiving node's <see cref="ChunkReceiver"/>
/// reassembles it and delivers it to <see cref="TargetPath"/> with the original sender. Serialized by
/// <see cref="TensorMessageSerializer"/> (manifest TC).
/// </summary>
public sealed record TensorChunk(Guid TransferId, int Index, int Count, string TargetPath, int SerializerId, string Manifest, byte[] Bytes)
    : IDistTrainMessage;

/// <summary>
/// Chunking limits, read from <c>disttrain.chunking</c> (documented in cluster-config/base.conf).
/// </summary>
/// <param name="MaxChunkBytes">Payload bytes per chunk; null = the frame limit minus the envelope headroom.</param>
/// <param name="MaxTransferBytes">Largest message the receiver reassembles.</param>
/// <param name="MaxPendingBytes">Bytes of incomplete transfers a receiver holds at most, all senders together.</param>
/// <param name="MaxChunksPerTransfer">Largest chunk count a receiver accepts.</param>
/// <param name="MaxRememberedTransfers">How many finished or dropped transfer ids are remembered (to ignore their late chunks).</param>
/// <remarks><see cref="TransferTimeout"/>: an incomplete transfer idle this long is dropped.</remarks>
public sealed record ChunkingSettings(
    int? MaxChunkBytes = null,
    int MaxTransferBytes = 512 << 20,
    long MaxPendingBytes = 1L << 30,
    int MaxChunksPerTransfer = 65536,
    int MaxRememberedTransfers = 100_000)
{
    public TimeSpan TransferTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public const string ConfigPath = "disttrain.chunking";

    public void Validate()
    {
        if (MaxChunkBytes is < 1024) throw new ArgumentException($"{ConfigPath}.max-chunk-bytes must be >= 1024 (got {MaxChunkBytes})");
        if (MaxTransferBytes < 1) throw new ArgumentException($"{ConfigPath}.max-transfer-bytes must be positive (got {MaxTransferBytes})");
        if (MaxPendingBytes < MaxTransferBytes)
            throw new ArgumentException($"{ConfigPath}.max-pending-bytes ({MaxPendingBytes}) must be >= max-transfer-bytes ({MaxTransferBytes})");
        if (MaxChunksPerTransfer < 2) throw new ArgumentException($"{ConfigPath}.max-chunks-per-transfer must be >= 2 (got {MaxChunksPerTransfer})");
        if (TransferTimeout <= TimeSpan.Zero) throw new ArgumentException($"{ConfigPath}.transfer-timeout must be positive (got {TransferTimeout})");
        if (MaxRememberedTransfers < 0) throw new ArgumentException($"max remembered transfers must be >= 0 (got {MaxRememberedTransfers})");
    }

    /// <summary>Reads <c>disttrain.chunking</c>; missing keys keep their defaults.</summary>
    public static ChunkingSettings FromConfig(Config config)
    {
        var d = new ChunkingSettings();
        var c = config.GetConfig(ConfigPath);
        if (c is null || c.IsEmpty) return d;
        var chunk = c.GetByteSize("max-chunk-bytes", 0) ?? 0;
        var s = new ChunkingSettings(
            chunk == 0 ? null : ToInt(chunk, "max-chunk-bytes"),
            ToInt(c.GetByteSize("max-transfer-bytes", d.MaxTransferBytes) ?? d.MaxTransferBytes, "max-transfer-bytes"),
            c.GetByteSize("max-pending-bytes", d.MaxPendingBytes) ?? d.MaxPendingBytes,
            c.GetInt("max-chunks-per-transfer", d.MaxChunksPerTransfer))
        {
            TransferTimeout = c.GetTimeSpan("transfer-timeout", d.TransferTimeout),
        };
        s.Validate();
        return s;
    }

    private static int ToInt(long v, string key) => v is >= 0 and <= int.MaxValue
        ? (int)v
        : throw new ArgumentException($"{ConfigPath}.{key} must be at most {int.MaxValue} bytes (got {v})");
}

/// <summary>
/// Sends messages of any size to actors on other nodes. A message whose serialized form fits in one
/// remoting frame (akka.remote.dot-netty.tcp.maximum-frame-size minus an envelope headroom) is told
/// directly; a larger one is serialized once on the caller's thread, cut into <see cref="TensorChunk"/>s and
/// sent to the <see cref="ChunkReceiver"/> of the target's node (<c>/user/disttrain-chunks</c>), which
/// reassembles it and delivers it with the original sender. Local targets always get the message directly,
/// unserialized.
/// <para>
/// Every node must call <see cref="Start"/> once (the receiver must exist on the receiving side). A chunked
/// message may overtake a smaller message sent before it to the same target, because the two travel
/// through different actors; the protocol's version and attempt numbers make that harmless.
/// </para>
/// </summary>
public sealed class ChunkingTransport : IExtension
{
    public const string ReceiverName = "disttrain-chunks";

    /// <summary>
    /// Bytes reserved in every frame for what is not payload: the remote envelope (recipient and sender
    /// paths, serializer id, manifest, sequence numbers, protobuf tags) and the chunk's own fields. Paths are
    /// added on top of this (<see cref="Overhead"/>).
    /// </summary>
    public const int EnvelopeHeadroom = 1024;

    private readonly ExtendedActorSystem _system;
    private readonly Akka.Serialization.Serialization _serialization;
    private readonly ConcurrentDictionary<Address, IActorRef> _receivers = new();
    private readonly Address _localAddress;

    private ChunkingTransport(ExtendedActorSystem system, ChunkingSettings settings)
    {
        settings.Validate();
        _system = system;
        _serialization = system.Serialization;
        Settings = settings;
        _localAddress = system.Provider.DefaultAddress;
        if (system.Provider is IRemoteActorRefProvider)
        {
            var frame = system.Settings.Config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size", null)
                ?? throw new InvalidOperationException("akka.remote.dot-netty.tcp.maximum-frame-size is not set");
            FrameLimit = (int)Math.Min(frame, int.MaxValue);
            if (settings.MaxChunkBytes is { } c && c > FrameLimit - EnvelopeHeadroom)
                throw new ArgumentException(
                    $"max chunk bytes {c} does not fit in a frame of {FrameLimit} bytes (maximum-frame-size) minus {EnvelopeHeadroom} bytes of headroom");
        }
        Receiver = system.ActorOf(ChunkReceiver.Props(settings), ReceiverName);
    }

    public ChunkingSettings Settings { get; }

    /// <summary>The remoting frame limit; null when the system has no remoting (everything is local).</summary>
    public int? FrameLimit { get; }

    /// <summary>This node's reassembling actor.</summary>
    public IActorRef Receiver { get; }

    /// <summary>
    /// Starts chunking on <paramref name="system"/> (idempotent when called again with the same settings).
    /// <paramref name="maxChunkBytes"/> overrides <c>disttrain.chunking.max-chunk-bytes</c>.
    /// </summary>
    public static ChunkingTransport Start(ActorSystem system, int? maxChunkBytes = null)
    {
        var settings = ChunkingSettings.FromConfig(system.Settings.Config);
        if (maxChunkBytes is not null) settings = settings with { MaxChunkBytes = maxChunkBytes };
        var ext = (ChunkingTransport)system.RegisterExtension(new Id(settings));
        if (ext.Settings != settings)
            throw new InvalidOperationException($"chunking already started on {system.Name} with {ext.Settings}; asked again with {settings}");
        return ext;
    }

    /// <summary>The transport started on <paramref name="system"/>.</summary>
    public static ChunkingTransport Get(ActorSystem system) =>
        system.GetExtension<ChunkingTransport>() ?? throw new InvalidOperationException(
            $"chunking is not started on actor system {system.Name}; call ChunkingTransport.Start(system) when the node starts");

    /// <summary>
    /// Delivers <paramref name="message"/> to <paramref name="target"/> as if told by <paramref name="sender"/>,
    /// in chunks when it is too large for one frame. Returns the number of chunks sent (0 = told directly).
    /// </summary>
    public int Send(IActorRef target, object message, IActorRef? sender = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(message);
        if (FrameLimit is not { } frame || target is IActorRefScope { IsLocal: true })
        {
            target.Tell(message, sender);
            return 0;
        }

        var serializer = _serialization.FindSerializerFor(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var targetPath = target.Path.ToSerializationFormat();
        var overhead = Overhead(targetPath, SenderPath(sender), manifest);
        var fits = frame - overhead;

        byte[] bytes;
        if (serializer is TensorMessageSerializer)
        {
            if (TensorMessageSerializer.SizeOf(message) <= fits)
            {
                target.Tell(message, sender);
                return 0;
            }
            bytes = serializer.ToBinary(message);
        }
        else
        {
            // Other serializers cannot size without serializing; small messages are serialized twice.
            bytes = Akka.Serialization.Serialization.WithTransport(_system, () => serializer.ToBinary(message));
            if (bytes.Length <= fits)
            {
                target.Tell(message, sender);
                return 0;
            }
        }

        var chunkBytes = Math.Min(Settings.MaxChunkBytes ?? int.MaxValue, fits);
        if (chunkBytes < 1024)
            throw new InvalidOperationException(
                $"cannot chunk {message.GetType().Name} to {target.Path}: a frame of {frame} bytes leaves only {chunkBytes} bytes after the envelope " +
                $"({overhead} bytes for paths and headers); raise maximum-frame-size");
        var count = (int)((bytes.Length + (long)chunkBytes - 1) / chunkBytes);
        if (count > Settings.MaxChunksPerTransfer || bytes.Length > Settings.MaxTransferBytes)
            throw new ArgumentException(
                $"{message.GetType().Name} is {bytes.Length} bytes = {count} chunks of {chunkBytes}; receivers accept at most " +
                $"{Settings.MaxTransferBytes} bytes and {Settings.MaxChunksPerTransfer} chunks (disttrain.chunking)");

        var receiver = ReceiverFor(target.Path.Address);
        var id = Guid.NewGuid();
        for (var i = 0; i < count; i++)
        {
            var start = i * chunkBytes;
            var part = bytes.AsSpan(start, Math.Min(chunkBytes, bytes.Length - start)).ToArray();
            receiver.Tell(new TensorChunk(id, i, count, targetPath, serializer.Identifier, manifest, part), sender);
        }
        return count;
    }

    /// <summary>Frame bytes that are not payload, for a message to <paramref name="targetPath"/> from <paramref name="senderPath"/>.</summary>
    public static int Overhead(string targetPath, string senderPath, string manifest) =>
        EnvelopeHeadroom + 2 * (Encoding.UTF8.GetByteCount(targetPath) + Encoding.UTF8.GetByteCount(senderPath)) + Encoding.UTF8.GetByteCount(manifest);

    private string SenderPath(IActorRef? sender) =>
        sender is null || sender.IsNobody() ? "" : sender.Path.ToSerializationFormatWithAddress(_localAddress);

    private IActorRef ReceiverFor(Address address) =>
        _receivers.GetOrAdd(address, a => _system.Provider.ResolveActorRef(new RootActorPath(a) / "user" / ReceiverName));

    private sealed class Id(ChunkingSettings settings) : ExtensionIdProvider<ChunkingTransport>
    {
        public override ChunkingTransport CreateExtension(ExtendedActorSystem system) => new(system, settings);
    }
}

/// <summary>Local query to a <see cref="ChunkReceiver"/>; answered with <see cref="ChunkingStats"/>.</summary>
public sealed record GetChunkingStats : INoSerializationVerificationNeeded
{
    public static readonly GetChunkingStats Instance = new();
}

public sealed record ChunkingStats(int PendingTransfers, long PendingBytes, long Completed, long Rejected, long Expired, long Undeliverable)
    : INoSerializationVerificationNeeded;

/// <summary>
/// Reassembles <see cref="TensorChunk"/>s (through <see cref="ChunkAssembler"/>), deserializes the
/// message with the serializer it was written with and tells it to its target with the original sender.
/// Bad transfers are logged and dropped; nothing here throws, so a bad peer cannot restart it.
/// </summary>
public sealed class ChunkReceiver : ReceiveActor, IWithTimers
{
    private readonly ChunkAssembler _assembler;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private long _undeliverable;

    public ChunkReceiver(ChunkingSettings settings)
    {
        _assembler = new ChunkAssembler(settings);
        Receive<TensorChunk>(OnChunk);
        Receive<Tick>(_ => _assembler.Expire(Now()));
        Receive<GetChunkingStats>(_ => Sender.Tell(new ChunkingStats(_assembler.PendingTransfers, _assembler.PendingBytes, _assembler.Completed,
            _assembler.Rejected, _assembler.Expired, _undeliverable)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ChunkingSettings settings) => Akka.Actor.Props.Create(() => new ChunkReceiver(settings));

    protected override void PreStart()
    {
        var every = TimeSpan.FromTicks(Math.Max(_assembler.Settings.TransferTimeout.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks));
        Timers.StartPeriodicTimer("expire", Tick.Instance, every);
    }

    private long Now() => (long)Context.System.Scheduler.MonotonicClock.TotalMilliseconds;

    private void OnChunk(TensorChunk chunk)
    {
        var result = _assembler.Add(chunk, Now());
        switch (result.Status)
        {
            case ChunkStatus.Rejected:
                _log.Warning("Dropped chunked transfer {0} from {1} to {2}: {3}", chunk.TransferId, Sender, chunk.TargetPath, result.Reason);
                return;
            case ChunkStatus.Complete:
                Deliver(chunk, result.Payload!);
                return;
        }
    }

    private void Deliver(TensorChunk last, byte[] payload)
    {
        object message;
        IActorRef target;
        try
        {
            message = Context.System.Serialization.Deserialize(payload, last.SerializerId, last.Manifest);
            target = ((ExtendedActorSystem)Context.System).Provider.ResolveActorRef(last.TargetPath);
            if (target is not IActorRefScope { IsLocal: true })
                throw new InvalidOperationException("the target is not on this node; chunks are never forwarded");
        }
        catch (Exception e)
        {
            _undeliverable++;
            _log.Warning("Dropped chunked transfer {0} ({1} bytes, serializer {2}, manifest '{3}') for {4}: {5}", last.TransferId, payload.Length,
                last.SerializerId, last.Manifest, last.TargetPath, e.Message);
            return;
        }
        target.Tell(message, Sender);
    }

    private sealed class Tick : INoSerializationVerificationNeeded
    {
        public static readonly Tick Instance = new();
    }
}
