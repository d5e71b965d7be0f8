using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace DistTrain.Core.Interchange;

/// <summary>One tensor's entry in a safetensors header; Begin/End are byte offsets into the data section.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>A parsed, fully validated safetensors file: its tensors (in data order), metadata and bytes.</summary>
public sealed class SafeTensorsContent
{
    private readonly byte[] _bytes;
    private readonly int _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _byName;

    internal SafeTensorsContent(string source, byte[] bytes, int dataStart, IReadOnlyList<SafeTensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        _bytes = bytes;
        _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
        _byName = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        foreach (var t in tensors) _byName[t.Name] = t;
    }

    /// <summary>The file name (or other description) used in error messages.</summary>
    public string Source { get; }

    /// <summary>Tensors ordered by their position in the data section.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The header's "__metadata__" (string to string), empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SafeTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The tensor's raw little-endian bytes.</summary>
    public ReadOnlySpan<byte> Data(SafeTensorInfo tensor) => _bytes.AsSpan(_dataStart + (int)tensor.Begin, (int)(tensor.End - tensor.Begin));

    /// <summary>The values of an F32 tensor; a FormatException naming the file and tensor for any other dtype.</summary>
    public float[] ReadF32(SafeTensorInfo tensor)
    {
        if (tensor.DType != "F32")
            throw new FormatException($"{Source}: tensor '{tensor.Name}' has dtype {tensor.DType}; expected F32.");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        return MemoryMarshal.Cast<byte, float>(Data(tensor)).ToArray();
    }
}

/// <summary>
/// The safetensors format (Hugging Face), written and read without a package:
/// <code>
/// u64 little-endian header length N | N bytes of UTF-8 JSON, padded with spaces so 8 + N is a multiple of 8
/// | data section: every tensor's raw little-endian values, back to back
/// </code>
/// The JSON maps each tensor name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (offsets
/// relative to the data section) and may hold "__metadata__": {string: string}.
/// <para>
/// The reader checks everything the reference implementation checks and a little more (duplicate names,
/// unknown fields, element-count overflow), and reports every problem as a <see cref="FormatException"/>
/// whose message starts with the file name: header length against the file size, the JSON, each entry's
/// fields, the dtype, the byte length against shape × dtype size, and that the offsets tile the data
/// section exactly (in range, ordered, no overlap, no gap, nothing after the last tensor).
/// </para>
/// </summary>
public static class SafeTensors
{
    public const string Extension = ".safetensors";

    public const string MetadataKey = "__metadata__";

    /// <summary>Largest header accepted (the reference implementation's limit): a lying length cannot make us allocate.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Bytes per element of every dtype the format defines.</summary>
    public static int? DTypeSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => null,
    };

    /// <summary>Serialises F32 tensors (written in the given order) and string metadata.</summary>
    public static byte[] ToBytes(IReadOnlyList<(string Name, int[] Shape, float[] Values)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var json = new MemoryStream();
        long offset = 0;
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var (name, shape, values) in tensors)
            {
                if (string.IsNullOrEmpty(name) || name == MetadataKey || !names.Add(name))
                    throw new ArgumentException($"Tensor name '{name}' is empty, reserved or used twice.");
                long count = 1;
                foreach (var d in shape) count *= d;
                if (count != values.Length)
                    throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(", ", shape)}] ({count} values) but {values.Length} values were given.");
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + 4L * values.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += 4L * values.Length;
            }
            w.WriteEndObject();
        }
        var headerLength = (int)json.Length;
        var padded = (headerLength + 8 + 7) / 8 * 8 - 8;
        var bytes = new byte[8 + padded + offset];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        json.GetBuffer().AsSpan(0, headerLength).CopyTo(bytes.AsSpan(8));
        bytes.AsSpan(8 + headerLength, padded - headerLength).Fill((byte)' ');
        var pos = 8 + padded;
        foreach (var (_, _, values) in tensors)
        {
            MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(bytes.AsSpan(pos));
            pos += 4 * values.Length;
        }
        return bytes;
    }

    /// <summary>Writes atomically: a temporary file in the target folder, flushed, then renamed over the target.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, int[] Shape, float[] Values)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        => IO.AtomicFile.Write(path, ToBytes(tensors, metadata));

    public static SafeTensorsContent Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FormatException($"{path}: the safetensors file does not exist.");
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses and validates a whole file; any problem is a FormatException starting with "<paramref name="source"/>:".</summary>
    public static SafeTensorsContent Parse(byte[] bytes, string source = "safetensors")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 8)
            throw Bad(source, $"the file holds {bytes.Length} bytes; at least the 8-byte header length is needed");
        var n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > MaxHeaderBytes)
            throw Bad(source, $"the header length {n} exceeds the limit of {MaxHeaderBytes} bytes");
        if (n > (ulong)(bytes.Length - 8))
            throw Bad(source, $"the header length {n} runs past the end of the file ({bytes.Length} bytes: at most {bytes.Length - 8} header bytes); the file is truncated or corrupted");
        if (n < 2 || bytes[8] != (byte)'{')
            throw Bad(source, "the header does not start with '{'; expected a JSON object");
        // JsonDocument accepts invalid UTF-8 inside strings and fails only when a string is read (with an
        // InvalidOperationException): check the encoding first.
        if (!System.Text.Unicode.Utf8.IsValid(bytes.AsSpan(8, (int)n)))
            throw Bad(source, "the header is not valid UTF-8");
        var dataStart = 8 + (int)n;
        long dataLength = bytes.Length - dataStart;

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Bad(source, $"the header is not valid JSON: {e.Message.TrimEnd('.')}", e);
        }
        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Bad(source, $"the header is a JSON {root.ValueKind.ToString().ToLowerInvariant()}; expected an object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw Bad(source, $"the header names '{p.Name}' twice");
                if (p.Name == MetadataKey)
                {
                    if (p.Value.ValueKind != JsonValueKind.Object)
                        throw Bad(source, $"\"{MetadataKey}\" is a JSON {p.Value.ValueKind.ToString().ToLowerInvariant()}; expected an object of strings");
                    foreach (var m in p.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw Bad(source, $"metadata entry '{m.Name}' is a JSON {m.Value.ValueKind.ToString().ToLowerInvariant()}; expected a string");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Bad(source, $"metadata entry '{m.Name}' appears twice");
                    }
                    continue;
                }
                tensors.Add(ParseEntry(source, p));
            }
        }

        // The offsets must tile the data section: sorted by begin, each starts where the previous ended.
        tensors.Sort(static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        SafeTensorInfo? previous = null;
        foreach (var t in tensors)
        {
            if (t.End > dataLength)
                throw Bad(source, $"tensor '{t.Name}' has data_offsets [{t.Begin}, {t.End}] past the end of the data section ({dataLength} bytes); the file is truncated or corrupted");
            if (t.Begin < expected)
                throw Bad(source, $"tensor '{t.Name}' (data_offsets [{t.Begin}, {t.End}]) overlaps tensor '{previous!.Name}' (data_offsets [{previous.Begin}, {previous.End}])");
            if (t.Begin > expected)
                throw Bad(source, $"the bytes [{expected}, {t.Begin}) of the data section before tensor '{t.Name}' belong to no tensor");
            expected = t.End;
            previous = t;
        }
        if (expected != dataLength)
            throw Bad(source, $"the tensors cover {expected} bytes but the data section holds {dataLength}; {dataLength - expected} bytes at its end belong to no tensor");
        return new SafeTensorsContent(source, bytes, dataStart, tensors, metadata);
    }

    private static SafeTensorInfo ParseEntry(string source, JsonProperty p)
    {
        var name = p.Name;
        if (name.Length == 0) throw Bad(source, "a tensor has an empty name");
        if (p.Value.ValueKind != JsonValueKind.Object)
            throw Bad(source, $"tensor '{name}' is a JSON {p.Value.ValueKind.ToString().ToLowerInvariant()}; expected {{\"dtype\", \"shape\", \"data_offsets\"}}");
        string? dtype = null;
        long[]? shape = null;
        long[]? offsets = null;
        foreach (var f in p.Value.EnumerateObject())
        {
            switch (f.Name)
            {
                case "dtype" when dtype is null:
                    if (f.Value.ValueKind != JsonValueKind.String) throw Bad(source, $"tensor '{name}': \"dtype\" must be a string");
                    dtype = f.Value.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = Integers(source, name, "shape", f.Value);
                    break;
                case "data_offsets" when offsets is null:
                    offsets = Integers(source, name, "data_offsets", f.Value);
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw Bad(source, $"tensor '{name}' gives \"{f.Name}\" twice");
                default:
                    throw Bad(source, $"tensor '{name}' has an unknown field \"{f.Name}\"; expected dtype, shape and data_offsets");
            }
        }
        if (dtype is null || shape is null || offsets is null)
            throw Bad(source, $"tensor '{name}' lacks \"{(dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets")}\"");
        var size = DTypeSize(dtype) ?? throw Bad(source, $"tensor '{name}' has unknown dtype \"{Clip(dtype)}\"; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2");
        if (offsets.Length != 2)
            throw Bad(source, $"tensor '{name}': \"data_offsets\" holds {offsets.Length} numbers; expected [begin, end]");
        var (begin, end) = (offsets[0], offsets[1]);
        if (end < begin) throw Bad(source, $"tensor '{name}' has data_offsets [{begin}, {end}]: the end lies before the begin");
        UInt128 bytes = (UInt128)size;
        foreach (var d in shape)
        {
            bytes *= (UInt128)d;
            if (bytes > long.MaxValue) throw Bad(source, $"tensor '{name}' has shape [{string.Join(", ", shape)}]: too many elements");
        }
        if ((long)bytes != end - begin)
            throw Bad(source, $"tensor '{name}' has dtype {dtype} and shape [{string.Join(", ", shape)}], so {(long)bytes} bytes, but its data_offsets [{begin}, {end}] span {end - begin}");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static long[] Integers(string source, string tensor, string field, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Array) throw Bad(source, $"tensor '{tensor}': \"{field}\" must be an array of non-negative integers");
        var values = new long[e.GetArrayLength()];
        var i = 0;
        foreach (var v in e.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x) || x < 0)
                throw Bad(source, $"tensor '{tensor}': \"{field}\" element {i} is {Clip(v.GetRawText())}; expected a non-negative integer");
            values[i++] = x;
        }
        return values;
    }

    private static string Clip(string s) => s.Length > 40 ? s[..40] + "..." : s;

    private static FormatException Bad(string source, string problem, Exception? inner = null)
        => new($"{source}: not a valid safetensors file: {problem}.", inner);
}
