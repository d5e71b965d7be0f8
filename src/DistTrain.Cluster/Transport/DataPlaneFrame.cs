using System.Buffers.Binary;
using System.Runtime.Serialization;
using DistTrain.Cluster.Serialization;

namespace DistTrain.Cluster.Transport;

/// <summary>A decoded data-plane frame: the message and where it goes, as actor paths in serialization format.</summary>
public readonly record struct DataPlaneMessage(string TargetPath, string SenderPath, object Message);

/// <summary>
/// The data plane's wire format. A connection starts with a preamble from the connecting side:
/// the 4 bytes "DTDP", a version byte (<see cref="Version"/>), and the sender node's Akka address (int32
/// UTF-8 byte count + bytes, at most <see cref="MaxAddressBytes"/>; for log lines only), and a shared-memory
/// offer: one byte 0 (none) or 1, then the ring file's path (string), a 16-byte nonce and the ring's capacity
/// (int32) (<see cref="SharedMemoryRing"/>). After an offer the accepting side answers one byte on the same
/// socket: 1 = mapped (ring frames may follow), 0 = not (plain frames only). Then frames follow, one message
/// each, all little-endian:
/// <code>
/// int32 L       body length, 1 &lt;= L &lt;= max-frame-bytes
/// byte  kind    1 = a message for an actor on the receiving node
///               2 = the same, whose trailing float payload is in the shared-memory ring: int32 offset, int32
///                   length (bytes), int64 end position follow here, and the message below stops after the
///                   payload's element count
/// string target actor path (with address and uid), string sender path ("" = no sender), string manifest
/// ...           the message as TensorMessageSerializer writes it (CG, CL, GC, GH, PS or ES), to the end of the body
/// </code>
/// Strings are an int32 UTF-8 byte count and the bytes (<see cref="WireWriter"/>). Nothing else is carried:
/// chunks (TC) and Hyperion messages never travel here.
/// </summary>
public static class DataPlaneFrame
{
    /// <summary>2: the preamble carries a shared-memory offer (version 1 had none; the two refuse each other by version).</summary>
    public const byte Version = 2;

    public const byte MessageKind = 1;

    /// <summary>A message whose trailing float payload is in the connection's shared-memory ring.</summary>
    public const byte RingKind = 2;

    /// <summary>Bytes of a ring frame's ring fields (offset, length, end) after its kind.</summary>
    public const int RingFields = 4 + 4 + 8;

    public const int MaxAddressBytes = 1024;

    public const int MaxPathBytes = 4096;

    /// <summary>"DTDP".</summary>
    public static ReadOnlySpan<byte> Magic => "DTDP"u8;

    /// <summary>Bytes of the length prefix in front of each body.</summary>
    public const int LengthPrefix = 4;

    /// <summary>The manifests a data-plane frame may carry.</summary>
    public static bool IsCarried(string manifest) => manifest is TensorMessageSerializer.ComputeGradientsManifest
        or TensorMessageSerializer.ComputeGradientsLocalManifest or TensorMessageSerializer.GradientsComputedManifest
        or TensorMessageSerializer.GradientsComputedHalfManifest or TensorMessageSerializer.ParametersSnapshotManifest
        or TensorMessageSerializer.EvaluateShardManifest or TensorMessageSerializer.WorkerLocalStateManifest;

    /// <summary>Answers to a shared-memory offer.</summary>
    public const byte RingAccepted = 1, RingDeclined = 0;

    public static int PreambleSize(string address, SharedMemoryOffer? offer = null) => Magic.Length + 1
        + WireWriter.SizeOf(address, "data-plane preamble", "Address") + 1
        + (offer is null ? 0 : WireWriter.SizeOf(offer.Path, "data-plane preamble", "Ring.Path") + SharedMemoryOffer.NonceBytes + 4);

    public static void WritePreamble(Span<byte> destination, string address, SharedMemoryOffer? offer = null)
    {
        Magic.CopyTo(destination);
        var w = new WireWriter(destination[Magic.Length..]);
        w.Byte(Version);
        w.String(address);
        w.Byte(offer is null ? (byte)0 : (byte)1);
        if (offer is null) return;
        if (offer.Nonce.Length != SharedMemoryOffer.NonceBytes) throw new ArgumentException($"a ring nonce has {SharedMemoryOffer.NonceBytes} bytes, not {offer.Nonce.Length}");
        w.String(offer.Path);
        w.Raw(offer.Nonce);
        w.Int32(offer.Capacity);
    }

    /// <summary>
    /// Reads and checks a preamble from <paramref name="stream"/>; returns the peer's address. Throws
    /// <see cref="SerializationException"/> when the bytes are not a DistTrain data-plane preamble.
    /// </summary>
    public static string ReadPreamble(Stream stream) => ReadPreamble(stream, out _);

    /// <summary>Reads a preamble and the shared-memory offer after it (null when there is none).</summary>
    public static string ReadPreamble(Stream stream, out SharedMemoryOffer? offer)
    {
        Span<byte> head = stackalloc byte[9];
        stream.ReadExactly(head);
        if (!head[..4].SequenceEqual(Magic))
            throw new SerializationException(
                $"data-plane preamble: expected the bytes 'DTDP' at offset 0, found {Convert.ToHexString(head[..4])}; not a DistTrain data-plane peer");
        if (head[4] != Version)
            throw new SerializationException($"data-plane preamble: expected version {Version} at offset 4, found {head[4]}; is the peer another build?");
        var n = BinaryPrimitives.ReadInt32LittleEndian(head[5..]);
        if (n is < 0 or > MaxAddressBytes)
            throw new SerializationException($"data-plane preamble: expected an address of 0-{MaxAddressBytes} bytes at offset 5, found a length of {n}");
        var bytes = new byte[n];
        stream.ReadExactly(bytes);
        string address;
        try
        {
            address = WireWriter.Utf8.GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new SerializationException("data-plane preamble: the address at offset 9 is not valid UTF-8");
        }
        offer = null;
        var at = 9 + n;
        var flag = ReadByte(stream);
        if (flag == 0) return address;
        if (flag != 1) throw new SerializationException($"data-plane preamble: expected a shared-memory offer flag 0 or 1 at offset {at}, found {flag}");
        Span<byte> four = stackalloc byte[4];
        stream.ReadExactly(four);
        var pathBytes = BinaryPrimitives.ReadInt32LittleEndian(four);
        if (pathBytes is < 1 or > MaxPathBytes)
            throw new SerializationException($"data-plane preamble: expected a ring path of 1-{MaxPathBytes} bytes at offset {at + 1}, found a length of {pathBytes}");
        var path = new byte[pathBytes];
        stream.ReadExactly(path);
        var nonce = new byte[SharedMemoryOffer.NonceBytes];
        stream.ReadExactly(nonce);
        stream.ReadExactly(four);
        try
        {
            offer = new SharedMemoryOffer(WireWriter.Utf8.GetString(path), nonce, BinaryPrimitives.ReadInt32LittleEndian(four));
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new SerializationException($"data-plane preamble: the ring path at offset {at + 5} is not valid UTF-8");
        }
        return address;
    }

    private static int ReadByte(Stream stream)
    {
        var b = stream.ReadByte();
        return b >= 0 ? b : throw new EndOfStreamException("data-plane preamble: the stream ended before the shared-memory offer flag");
    }

    /// <summary>The whole frame's size (length prefix included) for this message.</summary>
    public static int SizeOf(string targetPath, string senderPath, string manifest, object message)
    {
        long n = LengthPrefix + 1L
            + WireWriter.SizeOf(targetPath, "data-plane frame", "TargetPath")
            + WireWriter.SizeOf(senderPath, "data-plane frame", "SenderPath")
            + WireWriter.SizeOf(manifest, "data-plane frame", "Manifest")
            + TensorMessageSerializer.SizeOf(message);
        return n <= int.MaxValue ? (int)n : throw new ArgumentException($"a {message.GetType().Name} of {n} bytes does not fit in one data-plane frame");
    }

    // The three strings every frame kind carries after its fixed fields: where the message goes, who sent it, its manifest.
    private static void WriteRoute(ref WireWriter w, string targetPath, string senderPath, string manifest)
    {
        w.String(targetPath);
        w.String(senderPath);
        w.String(manifest);
    }

    /// <summary>Writes the frame (length prefix included) into exactly <paramref name="destination"/> (<see cref="SizeOf"/> bytes).</summary>
    public static void Write(Span<byte> destination, string targetPath, string senderPath, string manifest, object message)
    {
        var w = new WireWriter(destination);
        w.Int32(destination.Length - LengthPrefix);
        w.Byte(MessageKind);
        WriteRoute(ref w, targetPath, senderPath, manifest);
        TensorMessageSerializer.EncodeInto(message, destination[w.Position..]);
    }

    /// <summary>
    /// Writes the frame of <paramref name="frameSize"/> bytes (<see cref="SizeOf"/>) up to its trailing float payload
    /// (<see cref="TensorMessageSerializer.TryTrailingPayload"/>) into exactly <paramref name="destination"/>
    /// (frameSize − 4 × the payload's length); the sender writes the payload's bytes after it. The bytes on the
    /// wire are the same as <see cref="Write"/>'s.
    /// </summary>
    public static void WriteHead(Span<byte> destination, int frameSize, string targetPath, string senderPath, string manifest, object message)
    {
        var w = new WireWriter(destination);
        w.Int32(frameSize - LengthPrefix);
        w.Byte(MessageKind);
        WriteRoute(ref w, targetPath, senderPath, manifest);
        TensorMessageSerializer.EncodeHeadInto(message, destination[w.Position..]);
    }

    /// <summary>
    /// Writes a ring frame (<see cref="RingKind"/>) into exactly <paramref name="destination"/>: frameSize (<see cref="SizeOf"/>
    /// of the whole message) − 4 × the trailing payload's length + <see cref="RingFields"/> bytes. The payload itself
    /// is already in the ring at <paramref name="ringOffset"/> (<paramref name="ringLength"/> bytes, ending at write
    /// position <paramref name="ringEnd"/>).
    /// </summary>
    public static void WriteRingHead(Span<byte> destination, int ringOffset, int ringLength, long ringEnd,
        string targetPath, string senderPath, string manifest, object message)
    {
        var w = new WireWriter(destination);
        w.Int32(destination.Length - LengthPrefix);
        w.Byte(RingKind);
        w.Int32(ringOffset);
        w.Int32(ringLength);
        w.Int64(ringEnd);
        WriteRoute(ref w, targetPath, senderPath, manifest);
        TensorMessageSerializer.EncodeHeadInto(message, destination[w.Position..]);
    }

    /// <summary>
    /// Checks a body length read from the wire. Returns null when it is acceptable, else the reason (the
    /// connection is then dropped: a reader cannot find the next frame after a bad length).
    /// </summary>
    public static string? CheckLength(int length, int maxFrameBytes) => length switch
    {
        < 1 => $"expected a frame body length >= 1, found {length}",
        _ when length > maxFrameBytes =>
            $"frame of {length} bytes exceeds the limit of {maxFrameBytes} bytes (disttrain.data-plane.max-frame-bytes; every node needs the same value)",
        _ => null,
    };

    /// <summary>
    /// Decodes one frame body (after the length prefix). Throws <see cref="SerializationException"/> naming
    /// the field and offset when the body is malformed or carries a message the data plane does not carry.
    /// Tensor payloads are rented from <paramref name="pool"/> when given (see <see cref="TensorMessageSerializer.Decode"/>).
    /// </summary>
    /// <summary>
    /// Where the trailing float payload (<see cref="TensorMessageSerializer.TryTrailingPayload"/>) of a plain frame
    /// (kind 1) begins in its body of <paramref name="bodyLength"/> bytes, judged from the body's first bytes
    /// <paramref name="start"/>; -1 when the frame has none, its head does not fit in <paramref name="start"/>, or
    /// anything does not add up (the reader then reads the body whole, and decoding reports what is wrong). The
    /// reader reads the payload from the socket straight into its array.
    /// </summary>
    public static int TrailingPayloadOffset(ReadOnlySpan<byte> start, int bodyLength)
    {
        if (start.Length < 1 || start[0] != MessageKind) return -1;
        var at = 1;
        var manifest = "";
        for (var i = 0; i < 3; i++)
        {
            if (start.Length - at < 4) return -1;
            var n = BinaryPrimitives.ReadInt32LittleEndian(start[at..]);
            if (n < 0 || n > MaxPathBytes || start.Length - at - 4 < n) return -1;
            if (i == 2)
            {
                var m = start.Slice(at + 4, n);
                manifest = m.SequenceEqual("CG"u8) ? TensorMessageSerializer.ComputeGradientsManifest
                    : m.SequenceEqual("CL"u8) ? TensorMessageSerializer.ComputeGradientsLocalManifest
                    : m.SequenceEqual("GC"u8) ? TensorMessageSerializer.GradientsComputedManifest
                    : m.SequenceEqual("PS"u8) ? TensorMessageSerializer.ParametersSnapshotManifest
                    : m.SequenceEqual("ES"u8) ? TensorMessageSerializer.EvaluateShardManifest : "";
                if (manifest.Length == 0) return -1;
            }
            at += 4 + n;
        }
        var c = TensorMessageSerializer.TrailingFloatsCountOffset(start[at..], manifest);
        if (c < 0) return -1;
        var count = BinaryPrimitives.ReadInt32LittleEndian(start[(at + c)..]);
        var payloadAt = at + c + 4;
        return count >= 0 && payloadAt + (long)count * sizeof(float) == bodyLength ? payloadAt : -1;
    }

    /// <summary>
    /// Decodes a plain frame's body up to its trailing payload (<see cref="TrailingPayloadOffset"/>), whose floats
    /// are already in <paramref name="payload"/>; the message carries that array.
    /// </summary>
    public static DataPlaneMessage ReadHead(ReadOnlySpan<byte> head, float[] payload)
    {
        var r = new WireReader(head, "data-plane frame");
        var kind = r.Byte("Kind");
        if (kind != MessageKind) throw r.Error("Kind", 0, $"expected frame kind {MessageKind}, found {kind}");
        var (target, sender, manifest) = Addressing(ref r);
        return new DataPlaneMessage(target, sender, TensorMessageSerializer.Decode(head[r.Position..], manifest, payload));
    }

    private static (string Target, string Sender, string Manifest) Addressing(ref WireReader r)
    {
        var at = r.Position;
        var target = r.String("TargetPath");
        if (target.Length == 0 || target.Length > MaxPathBytes)
            throw r.Error("TargetPath", at, $"expected an actor path of 1-{MaxPathBytes} characters, found {target.Length}");
        at = r.Position;
        var sender = r.String("SenderPath");
        if (sender.Length > MaxPathBytes) throw r.Error("SenderPath", at, $"expected an actor path of at most {MaxPathBytes} characters, found {sender.Length}");
        at = r.Position;
        var manifest = r.String("Manifest");
        if (!IsCarried(manifest))
            throw r.Error("Manifest", at, $"expected a tensor message manifest (CG, CL, GC, GH, PS, ES or WS), found '{(manifest.Length > 16 ? manifest[..16] + "…" : manifest)}'");
        return (target, sender, manifest);
    }

    /// <param name="ring">The connection's shared-memory ring (receiver side), null when it has none: a ring
    /// frame's payload is checked against it (<see cref="SharedMemoryRing.Check"/>), copied out, and its space
    /// handed back to the sender.</param>
    public static DataPlaneMessage Read(ReadOnlySpan<byte> body, ReceiveBufferPool? pool = null, SharedMemoryRing? ring = null)
    {
        var r = new WireReader(body, "data-plane frame");
        var kind = r.Byte("Kind");
        if (kind != MessageKind && kind != RingKind)
            throw r.Error("Kind", 0, $"expected frame kind {MessageKind} or {RingKind}, found {kind}");
        int ringOffset = 0, ringLength = 0;
        long ringEnd = 0;
        if (kind == RingKind)
        {
            if (ring is null) throw r.Error("Kind", 0, "a shared-memory ring frame on a connection without a ring");
            ringOffset = r.Int32("Ring.Offset");
            ringLength = r.Int32("Ring.Length");
            ringEnd = r.Int64("Ring.End");
            if (ring.Check(ringOffset, ringLength, ringEnd) is { } bad) throw r.Error("Ring", 1, bad);
        }
        var (target, sender, manifest) = Addressing(ref r);
        if (kind == MessageKind) return new DataPlaneMessage(target, sender, TensorMessageSerializer.Decode(body[r.Position..], manifest, pool));
        var message = TensorMessageSerializer.Decode(body[r.Position..], manifest, pool, ring!.Payload(ringOffset, ringLength));
        ring.Consumed(ringEnd);
        return new DataPlaneMessage(target, sender, message);
    }
}
