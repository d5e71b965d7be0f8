using System.Buffers.Binary;
using System.Text;

namespace DistTrain.Core.Interchange.Onnx;

/// <summary>
/// The few protocol-buffer encodings the ONNX export needs: varint fields (wire type 0), fixed32 floats
/// (wire type 5) and length-delimited fields (wire type 2: strings, bytes and nested messages). A field is
/// a key varint (field number &lt;&lt; 3 | wire type) followed by its value. Repeated scalars are written
/// unpacked (one key per value), which every proto2 and proto3 parser accepts.
/// </summary>
public sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();

    public long Length => _buffer.Length;

    /// <summary>An int32/int64/enum/bool field. Negative values take ten bytes (two's complement), as in protobuf.</summary>
    public ProtoWriter Int64(int field, long value)
    {
        Key(field, 0);
        RawVarint((ulong)value);
        return this;
    }

    public ProtoWriter Float(int field, float value)
    {
        Key(field, 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, value);
        _buffer.Write(b);
        return this;
    }

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Key(field, 2);
        RawVarint((ulong)value.Length);
        _buffer.Write(value);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    /// <summary>A nested message, written length-delimited.</summary>
    public ProtoWriter Message(int field, ProtoWriter message) => Bytes(field, message._buffer.GetBuffer().AsSpan(0, (int)message._buffer.Length));

    public byte[] ToArray() => _buffer.ToArray();

    private void Key(int field, int wireType)
    {
        if (field < 1 || field > (1 << 29) - 1) throw new ArgumentOutOfRangeException(nameof(field), field, "protobuf field numbers run from 1 to 2^29 - 1");
        RawVarint(((ulong)field << 3) | (uint)wireType);
    }

    /// <summary>Base-128, least significant group first, high bit set on every byte but the last.</summary>
    private void RawVarint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _buffer.WriteByte((byte)value);
    }
}
