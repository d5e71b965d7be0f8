using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Checkpoints;

/// <summary>
/// Binary checkpoint file, little-endian:
/// <code>
/// "DTCKPT\r\n" (8 bytes magic) | u32 format version | u32 header length | header JSON (UTF-8)
/// | u64 parameter count | f32[] parameters
/// | u32 optimizer buffer count | per buffer: u64 length, f32[] values
/// | 32-byte SHA-256 of everything before it
/// </code>
/// Written to a temporary file in the same folder, flushed, then renamed over the target, so a crash
/// never leaves a half-written checkpoint under the real name.
/// </summary>
public static class CheckpointFile
{
    public static ReadOnlySpan<byte> Magic => "DTCKPT\r\n"u8;

    public const uint FormatVersion = 1;

    private sealed record Header(
        ModelSpec Spec,
        CheckpointMetadata Metadata,
        OptimizerSpec? Optimizer,
        OptimizerKind? OptimizerStateKind,
        long OptimizerStep);

    public static byte[] ToBytes(Checkpoint checkpoint)
    {
        using var ms = new MemoryStream();
        var header = new Header(checkpoint.Spec, checkpoint.Metadata, checkpoint.Optimizer, checkpoint.OptimizerState?.Kind, checkpoint.OptimizerState?.Step ?? 0);
        var json = JsonSerializer.SerializeToUtf8Bytes(header, ModelSpec.JsonOptions);
        ms.Write(Magic);
        WriteU32(ms, FormatVersion);
        WriteU32(ms, (uint)json.Length);
        ms.Write(json);
        WriteFloats(ms, checkpoint.Parameters);
        var buffers = checkpoint.OptimizerState?.Buffers ?? [];
        WriteU32(ms, (uint)buffers.Count);
        foreach (var b in buffers) WriteFloats(ms, b);
        var hash = SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        ms.Write(hash);
        return ms.ToArray();
    }

    /// <summary>Writes atomically: temp file in the target folder, fsync, rename.</summary>
    public static void Write(string path, Checkpoint checkpoint)
    {
        var bytes = ToBytes(checkpoint);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.WriteThrough))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static Checkpoint Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new CheckpointFormatException(path, "the file does not exist");
        }
        return FromBytes(bytes, path);
    }

    public static Checkpoint FromBytes(ReadOnlySpan<byte> bytes, string source = "checkpoint")
    {
        var minimum = Magic.Length + 8 + 32;
        if (bytes.Length < Magic.Length || !bytes[..Magic.Length].SequenceEqual(Magic))
            throw new CheckpointFormatException(source, "it does not start with the DistTrain checkpoint magic \"DTCKPT\"; it is not a DistTrain checkpoint");
        if (bytes.Length < minimum)
            throw new CheckpointFormatException(source, $"it is truncated ({bytes.Length} bytes; a checkpoint has at least {minimum})");
        var body = bytes[..^32];
        var stored = bytes[^32..];
        Span<byte> actual = stackalloc byte[32];
        SHA256.HashData(body, actual);
        var reader = new Reader(body, source);
        reader.Skip(Magic.Length);
        var version = reader.U32("format version");
        if (version != FormatVersion)
            throw new CheckpointFormatException(source, $"format version {version} is not supported (this build reads version {FormatVersion})");
        if (!actual.SequenceEqual(stored))
            throw new CheckpointFormatException(source, "its checksum does not match: the file is truncated or corrupted");
        var headerLength = (int)reader.U32("header length");
        var json = reader.Bytes(headerLength, "header");
        Header header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(json, ModelSpec.JsonOptions) ?? throw new JsonException("empty header");
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(source, $"its header is not valid: {e.Message}");
        }
        var parameters = reader.Floats("parameters");
        var count = reader.U32("optimizer buffer count");
        if (count > 16) throw new CheckpointFormatException(source, $"it claims {count} optimizer buffers (at most 16 expected)");
        var buffers = new float[count][];
        for (var i = 0; i < count; i++) buffers[i] = reader.Floats($"optimizer buffer {i}");
        if (!reader.AtEnd) throw new CheckpointFormatException(source, $"{reader.Remaining} unexpected bytes follow the last section");
        OptimizerState? state = header.OptimizerStateKind is { } kind ? new OptimizerState(kind, header.OptimizerStep, buffers) : null;
        return new Checkpoint(header.Spec, parameters, header.Optimizer, state, header.Metadata);
    }

    private static void WriteU32(Stream s, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        s.Write(b);
    }

    private static void WriteFloats(Stream s, ReadOnlySpan<float> values)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)values.Length);
        s.Write(b);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        s.Write(MemoryMarshal.AsBytes(values));
    }

    private ref struct Reader(ReadOnlySpan<byte> data, string source)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public readonly bool AtEnd => _pos == _data.Length;

        public readonly int Remaining => _data.Length - _pos;

        public void Skip(int n) => _pos += n;

        public uint U32(string what)
        {
            Need(4, what);
            var v = BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
            _pos += 4;
            return v;
        }

        public ReadOnlySpan<byte> Bytes(int n, string what)
        {
            if (n < 0) throw new CheckpointFormatException(source, $"{what} has a negative length");
            Need(n, what);
            var s = _data.Slice(_pos, n);
            _pos += n;
            return s;
        }

        public float[] Floats(string what)
        {
            Need(8, what + " length");
            var len = BinaryPrimitives.ReadUInt64LittleEndian(_data[_pos..]);
            _pos += 8;
            if (len > (ulong)(Remaining / 4)) throw new CheckpointFormatException(source, $"{what} claims {len} values at offset {_pos - 8} but only {Remaining} bytes remain");
            var values = MemoryMarshal.Cast<byte, float>(_data.Slice(_pos, (int)len * 4)).ToArray();
            _pos += (int)len * 4;
            return values;
        }

        private readonly void Need(int n, string what)
        {
            if (_pos + n > _data.Length) throw new CheckpointFormatException(source, $"it ends inside {what} at offset {_pos} (needs {n} more bytes, {Remaining} left)");
        }
    }
}

/// <summary>A checkpoint file that cannot be used; the message names the file and what is wrong.</summary>
public sealed class CheckpointFormatException(string source, string problem)
    : Exception($"Checkpoint {source} cannot be read: {problem}.")
{
    public string Origin { get; } = source;
}
