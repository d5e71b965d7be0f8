namespace DistTrain.Onnx;

/// <summary>
/// Rewrites an ONNX model so that the first (batch) dimension of the named graph inputs and outputs is
/// free ("N") instead of a fixed 1. The CNTK-exported ResNet-18 declares its input as [1, 3, 224, 224];
/// OnnxRuntime checks inputs against that, so without this rewrite every image is a separate Run.
/// The rewrite walks the protobuf wire format (ModelProto.graph → GraphProto.input/output → ValueInfoProto
/// .type → TypeProto.tensor_type → shape → dim[0]) and copies every other byte unchanged; intermediate
/// shapes recorded in GraphProto.value_info are dropped so OnnxRuntime infers them again.
/// </summary>
internal static class OnnxBatchDimension
{
    private const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    // Field numbers from onnx.proto3.
    private const int ModelGraph = 7;
    private const int GraphInput = 11, GraphOutput = 12, GraphValueInfo = 13;
    private const int ValueInfoName = 1, ValueInfoType = 2;
    private const int TypeTensor = 1, TensorShape = 2, ShapeDim = 1, DimValue = 1;

    /// <param name="model">The model file's bytes.</param>
    /// <param name="names">Graph inputs/outputs whose first dimension becomes free.</param>
    /// <param name="source">Names the file in error messages.</param>
    public static byte[] FreeFirstDimension(byte[] model, IReadOnlyCollection<string> names, string source)
    {
        var patched = 0;
        var output = new MemoryStream(model.Length);
        var reader = new Reader(model, 0, model.Length, source);
        while (reader.Next(out var field, out var wire, out var start, out var valueStart, out var valueEnd))
        {
            if (field == ModelGraph && wire == LengthDelimited)
                WriteLengthDelimited(output, field, RewriteGraph(model, valueStart, valueEnd, names, source, ref patched));
            else
                output.Write(model, start, valueEnd - start);
        }
        if (patched != names.Count)
            throw new FormatException($"{source}: expected graph inputs/outputs {string.Join(", ", names)} with a fixed batch dimension of 1, rewrote {patched} of them");
        return output.ToArray();
    }

    private static byte[] RewriteGraph(byte[] buf, int from, int to, IReadOnlyCollection<string> names, string source, ref int patched)
    {
        var output = new MemoryStream(to - from);
        var reader = new Reader(buf, from, to, source);
        while (reader.Next(out var field, out var wire, out var start, out var valueStart, out var valueEnd))
        {
            if (field == GraphValueInfo && wire == LengthDelimited) continue;
            if ((field == GraphInput || field == GraphOutput) && wire == LengthDelimited && NameOf(buf, valueStart, valueEnd, source) is { } name
                && names.Contains(name))
            {
                WriteLengthDelimited(output, field, Rewrite(buf, valueStart, valueEnd, source, [ValueInfoType, TypeTensor, TensorShape]));
                patched++;
            }
            else
            {
                output.Write(buf, start, valueEnd - start);
            }
        }
        return output.ToArray();
    }

    private static string? NameOf(byte[] buf, int from, int to, string source)
    {
        var reader = new Reader(buf, from, to, source);
        while (reader.Next(out var field, out var wire, out _, out var valueStart, out var valueEnd))
            if (field == ValueInfoName && wire == LengthDelimited) return System.Text.Encoding.UTF8.GetString(buf, valueStart, valueEnd - valueStart);
        return null;
    }

    /// <summary>Follows the path of nested messages; at its end (a TensorShapeProto) replaces dim[0] = 1 by dim_param "N".</summary>
    private static byte[] Rewrite(byte[] buf, int from, int to, string source, ReadOnlySpan<int> path)
    {
        var output = new MemoryStream(to - from + 8);
        var reader = new Reader(buf, from, to, source);
        var firstDim = true;
        while (reader.Next(out var field, out var wire, out var start, out var valueStart, out var valueEnd))
        {
            if (path.Length > 0 && field == path[0] && wire == LengthDelimited)
            {
                WriteLengthDelimited(output, field, Rewrite(buf, valueStart, valueEnd, source, path[1..]));
            }
            else if (path.Length == 0 && field == ShapeDim && wire == LengthDelimited && firstDim)
            {
                firstDim = false;
                if (DimValueOf(buf, valueStart, valueEnd, source) != 1)
                    throw new FormatException($"{source}: the first dimension of a graph input/output is not a fixed 1; this model needs no batch rewrite");
                // Dimension { dim_param = "N" }: field 2, length 1, 'N'.
                WriteLengthDelimited(output, field, [(2 << 3) | LengthDelimited, 1, (byte)'N']);
            }
            else
            {
                output.Write(buf, start, valueEnd - start);
            }
        }
        return output.ToArray();
    }

    private static long? DimValueOf(byte[] buf, int from, int to, string source)
    {
        var reader = new Reader(buf, from, to, source);
        while (reader.Next(out var field, out var wire, out var start, out _, out _))
        {
            if (field == DimValue && wire == Varint)
            {
                var pos = start;
                Reader.ReadVarint(buf, ref pos, to, source); // tag
                return (long)Reader.ReadVarint(buf, ref pos, to, source);
            }
        }
        return null;
    }

    private static void WriteLengthDelimited(MemoryStream output, int field, byte[] value)
    {
        WriteVarint(output, ((ulong)field << 3) | LengthDelimited);
        WriteVarint(output, (ulong)value.Length);
        output.Write(value);
    }

    private static void WriteVarint(MemoryStream output, ulong v)
    {
        while (v >= 0x80)
        {
            output.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        output.WriteByte((byte)v);
    }

    private struct Reader(byte[] buf, int from, int to, string source)
    {
        private int _pos = from;

        /// <summary>Reads the next field: its number, wire type, where its tag starts and where its value starts and ends.</summary>
        public bool Next(out int field, out int wire, out int start, out int valueStart, out int valueEnd)
        {
            start = _pos;
            if (_pos >= to)
            {
                field = wire = valueStart = valueEnd = 0;
                return false;
            }
            var tag = ReadVarint(buf, ref _pos, to, source);
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            switch (wire)
            {
                case Varint:
                    valueStart = _pos;
                    ReadVarint(buf, ref _pos, to, source);
                    break;
                case Fixed64:
                    valueStart = _pos;
                    _pos += 8;
                    break;
                case Fixed32:
                    valueStart = _pos;
                    _pos += 4;
                    break;
                case LengthDelimited:
                    var length = ReadVarint(buf, ref _pos, to, source);
                    valueStart = _pos;
                    if (length > (ulong)(to - _pos)) throw Malformed(source, start, $"a field of {length} bytes but only {to - _pos} remain");
                    _pos += (int)length;
                    break;
                default:
                    throw Malformed(source, start, $"wire type {wire} (field {field}), which ONNX does not use");
            }
            if (_pos > to) throw Malformed(source, start, "a field that runs past the end of its message");
            valueEnd = _pos;
            return true;
        }

        public static ulong ReadVarint(byte[] buf, ref int pos, int end, string source)
        {
            ulong v = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (pos >= end) throw Malformed(source, pos, "a varint cut off by the end of its message");
                var b = buf[pos++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
            throw Malformed(source, pos, "a varint longer than 10 bytes");
        }

        private static FormatException Malformed(string source, int offset, string found) =>
            new($"{source}: not a valid ONNX protobuf at byte offset {offset}: found {found}");
    }
}
