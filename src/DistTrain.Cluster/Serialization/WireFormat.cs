using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Text;

namespace DistTrain.Cluster.Serialization;

/// <summary>
/// Little-endian field writer over an exactly-sized buffer. Arrays are written as an int32 element
/// count followed by the raw elements; strings as an int32 UTF-8 byte count followed by the bytes. No
/// field may be null (the records declare none nullable; a null is refused when sizing, at the sender).
/// Sizes come from the matching <c>SizeOf</c> helpers, so the caller allocates once.
/// </summary>
internal ref struct WireWriter(Span<byte> buffer)
{
    private readonly Span<byte> _buffer = buffer;

    public int Position { get; private set; }

    public static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static int SizeOf(string? s, string type, string field) => 4 + Utf8.GetByteCount(s ?? throw Null(type, field));

    public static int SizeOf(float[]? a, string type, string field) => 4 + checked((a ?? throw Null(type, field)).Length * sizeof(float));

    public static int SizeOf(int[]? a, string type, string field) => 4 + checked((a ?? throw Null(type, field)).Length * sizeof(int));

    public static int SizeOf(byte[]? a, string type, string field) => 4 + (a ?? throw Null(type, field)).Length;

    public static int SizeOf(ushort[]? a, string type, string field) => 4 + checked((a ?? throw Null(type, field)).Length * sizeof(ushort));

    private static ArgumentNullException Null(string type, string field) =>
        new(field, $"{type}.{field} is null; the tensor serializer sends every field and refuses nulls.");

    public void Byte(byte v) => _buffer[Position++] = v;

    public void Int32(int v)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_buffer[Position..], v);
        Position += 4;
    }

    public void Int64(long v)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_buffer[Position..], v);
        Position += 8;
    }

    public void UInt64(ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer[Position..], v);
        Position += 8;
    }

    public void Double(double v)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(_buffer[Position..], v);
        Position += 8;
    }

    public void Guid(Guid v)
    {
        v.TryWriteBytes(_buffer.Slice(Position, 16), bigEndian: false, out _);
        Position += 16;
    }

    public void String(string s)
    {
        var n = Utf8.GetBytes(s, _buffer[(Position + 4)..]);
        Int32(n);
        Position += n;
    }

    /// <param name="countOnly">Writes the element count only: the caller sends the elements' bytes itself (see TensorMessageSerializer.EncodeHeadInto).</param>
    public void Floats(float[] a, bool countOnly = false)
    {
        Int32(a.Length);
        if (countOnly) return;
        var dst = _buffer.Slice(Position, a.Length * sizeof(float));
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(a.AsSpan()).CopyTo(dst); // the one copy of the payload
        else BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<float, int>(a.AsSpan()), MemoryMarshal.Cast<byte, int>(dst));
        Position += dst.Length;
    }

    public void Ints(int[] a)
    {
        Int32(a.Length);
        var dst = _buffer.Slice(Position, a.Length * sizeof(int));
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(a.AsSpan()).CopyTo(dst);
        else BinaryPrimitives.ReverseEndianness(a, MemoryMarshal.Cast<byte, int>(dst));
        Position += dst.Length;
    }

    /// <summary>16-bit values (fp16 / bf16 gradients): int32 count, then 2 little-endian bytes each.</summary>
    public void UShorts(ushort[] a, bool countOnly = false)
    {
        Int32(a.Length);
        if (countOnly) return;
        var dst = _buffer.Slice(Position, a.Length * sizeof(ushort));
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(a.AsSpan()).CopyTo(dst);
        else BinaryPrimitives.ReverseEndianness(a, MemoryMarshal.Cast<byte, ushort>(dst));
        Position += dst.Length;
    }

    /// <summary>Bytes as they are, no count.</summary>
    public void Raw(ReadOnlySpan<byte> a)
    {
        a.CopyTo(_buffer[Position..]);
        Position += a.Length;
    }

    public void Bytes(byte[] a)
    {
        Int32(a.Length);
        a.CopyTo(_buffer[Position..]);
        Position += a.Length;
    }
}

/// <summary>
/// Bounds-checked little-endian reader. Every failure is a <see cref="SerializationException"/> naming
/// the message type, the field, the offset, what was expected and what was found; a claimed length is
/// checked against the bytes that remain before anything is allocated.
/// </summary>
internal ref struct WireReader(ReadOnlySpan<byte> buffer, string messageType)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;
    private readonly string _type = messageType;
    private ReadOnlySpan<byte> _trailing;
    private float[]? _trailingArray;
    private bool _hasTrailing;

    /// <summary>
    /// The bytes of the message's trailing float array live elsewhere (a data-plane ring frame): the buffer ends
    /// with that array's element count, and the float field read there takes its values from <paramref name="trailing"/>.
    /// </summary>
    public WireReader(ReadOnlySpan<byte> buffer, string messageType, ReadOnlySpan<byte> trailing) : this(buffer, messageType)
    {
        _trailing = trailing;
        _hasTrailing = true;
    }

    /// <summary>As above, with the trailing array already filled (read from the socket straight into it).</summary>
    public WireReader(ReadOnlySpan<byte> buffer, string messageType, float[] trailing) : this(buffer, messageType)
    {
        _trailingArray = trailing;
        _trailing = MemoryMarshal.AsBytes(trailing.AsSpan());
        _hasTrailing = true;
    }

    /// <summary>Skips a counted field (string or array) of <paramref name="elementSize"/>-byte elements.</summary>
    public void Skip(string field, int elementSize)
    {
        var n = Count(field, elementSize, "elements");
        Take(n * elementSize, field, "elements");
    }

    public int Position { get; private set; }

    public int Remaining => _buffer.Length - Position;

    public SerializationException Error(string field, int offset, string expectedAndFound) =>
        new($"{_type}: malformed bytes at offset {offset} (field '{field}'): {expectedAndFound}; message length {_buffer.Length} bytes.");

    private ReadOnlySpan<byte> Take(int n, string field, string what)
    {
        if (Remaining < n) throw Error(field, Position, $"expected {what} ({n} bytes), found only {Remaining} bytes left");
        var s = _buffer.Slice(Position, n);
        Position += n;
        return s;
    }

    public byte Byte(string field) => Take(1, field, "a byte")[0];

    public int Int32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field, "an int32"));

    public long Int64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field, "an int64"));

    public ulong UInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field, "a uint64"));

    public double Double(string field) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, field, "a float64"));

    public Guid Guid(string field) => new(Take(16, field, "a 16-byte GUID"), bigEndian: false);

    /// <summary>Reads an element count and checks that count × elementSize bytes remain.</summary>
    private int Count(string field, int elementSize, string elementName)
    {
        var at = Position;
        var n = Int32(field);
        if (n < 0) throw Error(field, at, $"expected a non-negative {elementName} count, found {n}");
        if ((long)n * elementSize > Remaining)
            throw Error(field, at, $"expected at most {Remaining / elementSize} {elementName} (the bytes left), found a count of {n}");
        return n;
    }

    public string String(string field)
    {
        var at = Position;
        var n = Count(field, 1, "UTF-8 bytes");
        var bytes = Take(n, field, "UTF-8 text");
        try
        {
            return WireWriter.Utf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw Error(field, at + 4, $"expected valid UTF-8 text, found invalid bytes ({e.Message})");
        }
    }

    /// <summary>A float array; from <paramref name="pool"/> when given (a tensor payload its consumer hands back).</summary>
    public float[] Floats(string field, ReceiveBufferPool? pool = null)
    {
        var src = Elements(field, sizeof(float), "float32 values", out var n, out var held);
        if (held && _trailingArray is { } filled) return filled;
        var a = pool is null ? GC.AllocateUninitializedArray<float>(n) : pool.Rent(n);
        if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(a.AsSpan())); // the one copy of the payload
        else BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, int>(src), MemoryMarshal.Cast<float, int>(a.AsSpan()));
        return a;
    }

    public int[] Ints(string field)
    {
        var n = Count(field, sizeof(int), "int32 values");
        var src = Take(n * sizeof(int), field, "int32 values");
        var a = GC.AllocateUninitializedArray<int>(n);
        if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(a.AsSpan()));
        else BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, int>(src), a);
        return a;
    }

    public ushort[] UShorts(string field)
    {
        var src = UShortBytes(field, out var n);
        var a = GC.AllocateUninitializedArray<ushort>(n);
        if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(a.AsSpan()));
        else BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(src), a);
        return a;
    }

    /// <summary>
    /// 16-bit values (fp16 or bf16, <paramref name="kind"/>) decoded straight into a float array from
    /// <paramref name="pool"/>: one pass over the payload, nothing allocated once the pool is warm.
    /// </summary>
    public float[] UShortsAsFloats(string field, Jobs.GradientCompression kind, ReceiveBufferPool pool)
    {
        var src = UShortBytes(field, out var n);
        var a = pool.Rent(n);
        if (BitConverter.IsLittleEndian) Compression.HalfPrecision.Decode(MemoryMarshal.Cast<byte, ushort>(src), a, kind);
        else
        {
            var bits = new ushort[n];
            BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ushort>(src), bits);
            Compression.HalfPrecision.Decode(bits, a, kind);
        }
        return a;
    }

    private ReadOnlySpan<byte> UShortBytes(string field, out int n)
    {
        // A trailing array read from the socket straight into floats (_trailingArray) is never 16-bit: those stay inline.
        if (_trailingArray is not null) return Inline(field, sizeof(ushort), "16-bit values", out n);
        return Elements(field, sizeof(ushort), "16-bit values", out n, out _);
    }

    // An array's count and bytes: the trailing payload held elsewhere (a data-plane ring frame; <paramref name="held"/>)
    // when the message ends with this count, else inline in the buffer.
    private ReadOnlySpan<byte> Elements(string field, int elementSize, string what, out int n, out bool held)
    {
        held = _hasTrailing && Remaining == 4;
        if (!held) return Inline(field, elementSize, what, out n);
        var at = Position;
        n = Int32(field);
        if (n < 0 || (long)n * elementSize != _trailing.Length)
            throw Error(field, at, $"expected a count of {_trailing.Length / elementSize} {what} (the payload held elsewhere), found {n}");
        _hasTrailing = false;
        return _trailing;
    }

    private ReadOnlySpan<byte> Inline(string field, int elementSize, string what, out int n)
    {
        n = Count(field, elementSize, what);
        return Take(n * elementSize, field, what);
    }

    public byte[] Bytes(string field)
    {
        var n = Count(field, 1, "bytes");
        return Take(n, field, "bytes").ToArray();
    }

    public void End()
    {
        if (_hasTrailing) throw Error("(end)", Position, $"expected the message to end with the count of its trailing float payload ({_trailing.Length} bytes held elsewhere), which it never reached");
        if (Remaining != 0) throw Error("(end)", Position, $"expected the end of the message, found {Remaining} trailing bytes");
    }
}
