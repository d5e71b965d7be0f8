using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Checkpoints;

/// <summary>
/// Binary checkpoint file, little-endian:
/// <code>
/// "DTCKPT\r\n" (8 bytes magic) | u32 format version | u32 header length | header JSON (UTF-8)
/// | u64 parameter count | f32[] parameters
/// | u32 optimizer buffer count | per buffer: u64 length, f32[] values
/// [version 2 only: | u32 worker state count | per state: u32 slot, u32 optimizer kind + 1 (0: none), u64 step,
///   u32 buffer count, per buffer: u64 length, f32[] values; u32 1 and u64 length, f32[] residual, or u32 0]
/// | 32-byte SHA-256 of everything before it
/// </code>
/// Version 1 is written when there are no worker states (every mode but local SGD and 16-bit gradients), so
/// those files stay readable by builds that know only version 1.
/// Written to a temporary file in the same folder, flushed, then renamed over the target, so a crash
/// never leaves a half-written checkpoint under the real name.
/// </summary>
public static class CheckpointFile
{
    public static ReadOnlySpan<byte> Magic => "DTCKPT\r\n"u8;

    public const uint FormatVersion = 1;

    /// <summary>The format with a section of <see cref="WorkerState"/>s after the optimizer buffers.</summary>
    public const uint WorkerStatesFormatVersion = 2;

    // The header is written with the model spec's JSON conventions, minus the spec's computed read-only
    // properties (Hash): they cannot be read back, and serialising Hash would recurse into ToJson.
    private static readonly JsonSerializerOptions HeaderOptions = new(ModelSpec.JsonOptions)
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { OnlySettableSpecProperties } },
    };

    private static void OnlySettableSpecProperties(JsonTypeInfo info)
    {
        if (info.Type != typeof(ModelSpec)) return;
        for (var i = info.Properties.Count - 1; i >= 0; i--)
            if (info.Properties[i].Set is null) info.Properties.RemoveAt(i);
    }

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
        var json = JsonSerializer.SerializeToUtf8Bytes(header, HeaderOptions);
        var workers = checkpoint.WorkerStates ?? [];
        ms.Write(Magic);
        WriteU32(ms, workers.Count > 0 ? WorkerStatesFormatVersion : FormatVersion);
        WriteU32(ms, (uint)json.Length);
        ms.Write(json);
        WriteFloats(ms, checkpoint.Parameters);
        var buffers = checkpoint.OptimizerState?.Buffers ?? [];
        WriteU32(ms, (uint)buffers.Count);
        foreach (var b in buffers) WriteFloats(ms, b);
        if (workers.Count > 0)
        {
            WriteU32(ms, (uint)workers.Count);
            foreach (var w in workers)
            {
                if (w.Slot < 0) throw new ArgumentException($"worker state slot {w.Slot} is negative");
                WriteU32(ms, (uint)w.Slot);
                WriteU32(ms, w.Optimizer is { } o ? (uint)o.Kind + 1 : 0);
                WriteU64(ms, (ulong)(w.Optimizer?.Step ?? 0));
                var wb = w.Optimizer?.Buffers ?? [];
                WriteU32(ms, (uint)wb.Count);
                foreach (var b in wb) WriteFloats(ms, b);
                WriteU32(ms, w.Residual is null ? 0u : 1u);
                if (w.Residual is { } r) WriteFloats(ms, r);
            }
        }
        var hash = SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        ms.Write(hash);
        return ms.ToArray();
    }

    /// <summary>Writes atomically: temp file in the target folder, fsync, rename.</summary>
    public static void Write(string path, Checkpoint checkpoint) => IO.AtomicFile.Write(path, ToBytes(checkpoint));

    public static Checkpoint Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CheckpointFormatException(path, "the file does not exist");
        }
        return FromBytes(bytes, path);
    }

    /// <summary>
    /// Parses a checkpoint. Every way a file can be wrong (empty, not a checkpoint, another format
    /// version, truncated anywhere, any corrupted byte) ends in a <see cref="CheckpointFormatException"/>
    /// naming <paramref name="source"/> and the problem: the sections are walked first (so a truncated
    /// file says which section it ends in), then the checksum is verified, and only then is the header parsed.
    /// </summary>
    public static Checkpoint FromBytes(ReadOnlySpan<byte> bytes, string source = "checkpoint")
    {
        if (bytes.IsEmpty) throw new CheckpointFormatException(source, "the file is empty (0 bytes)");
        var magicLength = Math.Min(bytes.Length, Magic.Length);
        if (!bytes[..magicLength].SequenceEqual(Magic[..magicLength]))
            throw new CheckpointFormatException(source, "it does not start with the DistTrain checkpoint magic \"DTCKPT\"; it is not a DistTrain checkpoint");
        var reader = new Reader(bytes, source);
        reader.Skip(Magic.Length, "the magic");
        var version = reader.U32("the format version");
        if (version != FormatVersion && version != WorkerStatesFormatVersion)
            throw new CheckpointFormatException(source, $"format version {version} is not supported (this build reads versions {FormatVersion} and {WorkerStatesFormatVersion})");

        // Walk the sections, checking only lengths.
        var headerLength = reader.U32("the header length");
        var json = reader.Bytes(headerLength, "the header");
        var parameters = reader.FloatSection("the parameters");
        var count = reader.U32("the optimizer buffer count");
        if (count > MaxOptimizerBuffers)
            throw new CheckpointFormatException(source, $"it claims {count} optimizer buffers at offset {reader.Position - 4} (at most {MaxOptimizerBuffers} expected); the file is corrupted");
        Span<Range> buffers = stackalloc Range[(int)count];
        for (var i = 0; i < buffers.Length; i++) buffers[i] = reader.FloatSection($"optimizer buffer {i}");
        var workerSections = new List<(uint Slot, uint Kind, ulong Step, Range[] Buffers, Range? Residual)>();
        if (version == WorkerStatesFormatVersion)
        {
            var workers = reader.U32("the worker state count");
            if (workers > MaxWorkerStates)
                throw new CheckpointFormatException(source, $"it claims {workers} worker states at offset {reader.Position - 4} (at most {MaxWorkerStates} expected); the file is corrupted");
            for (var w = 0; w < workers; w++)
            {
                var slot = reader.U32($"worker state {w}'s slot");
                var kindCode = reader.U32($"worker state {w}'s optimizer kind");
                if (kindCode > (uint)OptimizerKind.Adadelta + 1 || slot > int.MaxValue)
                    throw new CheckpointFormatException(source, $"worker state {w} names slot {slot} and optimizer kind {kindCode} at offset {reader.Position - 8}; the file is corrupted");
                var step = reader.U64($"worker state {w}'s optimizer step");
                var n = reader.U32($"worker state {w}'s buffer count");
                if (n > MaxOptimizerBuffers || (kindCode == 0 && n > 0))
                    throw new CheckpointFormatException(source, $"worker state {w} claims {n} optimizer buffers at offset {reader.Position - 4}; the file is corrupted");
                var wb = new Range[n];
                for (var i = 0; i < wb.Length; i++) wb[i] = reader.FloatSection($"worker state {w}'s optimizer buffer {i}");
                var hasResidual = reader.U32($"worker state {w}'s residual flag");
                if (hasResidual > 1)
                    throw new CheckpointFormatException(source, $"worker state {w}'s residual flag is {hasResidual} at offset {reader.Position - 4}; the file is corrupted");
                Range? residual = hasResidual == 1 ? reader.FloatSection($"worker state {w}'s residual") : null;
                workerSections.Add((slot, kindCode, step, wb, residual));
            }
        }
        var bodyLength = reader.Position;
        var stored = reader.Bytes(32, "the SHA-256 checksum");
        if (!reader.AtEnd)
            throw new CheckpointFormatException(source, $"{reader.Remaining} unexpected bytes follow the checksum at offset {reader.Position}");
        Span<byte> actual = stackalloc byte[32];
        SHA256.HashData(bytes[..bodyLength], actual);
        if (!actual.SequenceEqual(bytes[stored]))
            throw new CheckpointFormatException(source, "its SHA-256 checksum does not match its contents: the file is corrupted");

        Header? header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(bytes[json], HeaderOptions);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new CheckpointFormatException(source, $"its header is not valid: {e.Message.TrimEnd('.')}");
        }
        if (header is null || header.Spec is null || header.Metadata is null)
            throw new CheckpointFormatException(source, "its header lacks the model spec or the metadata");
        if (header.OptimizerStateKind is null && count > 0)
            throw new CheckpointFormatException(source, $"it holds {count} optimizer buffers but its header names no optimizer state");
        var values = new float[count][];
        for (var i = 0; i < values.Length; i++) values[i] = ToFloats(bytes[buffers[i]]);
        OptimizerState? state = header.OptimizerStateKind is { } kind ? new OptimizerState(kind, header.OptimizerStep, values) : null;
        var workerStates = new List<WorkerState>(workerSections.Count);
        foreach (var (slot, kindCode, step, wb, residual) in workerSections)
        {
            var stateBuffers = new float[wb.Length][];
            for (var i = 0; i < wb.Length; i++) stateBuffers[i] = ToFloats(bytes[wb[i]]);
            var optimizer = kindCode == 0 ? null : new OptimizerState((OptimizerKind)(kindCode - 1), (long)step, stateBuffers);
            workerStates.Add(new WorkerState((int)slot, optimizer, residual is { } r ? ToFloats(bytes[r]) : null));
        }
        return new Checkpoint(header.Spec, ToFloats(bytes[parameters]), header.Optimizer, state, header.Metadata, workerStates.Count > 0 ? workerStates : null);
    }

    private const int MaxOptimizerBuffers = 16;

    private const int MaxWorkerStates = 1 << 16;

    private static float[] ToFloats(ReadOnlySpan<byte> bytes) => MemoryMarshal.Cast<byte, float>(bytes).ToArray();

    private static void WriteU32(Stream s, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        s.Write(b);
    }

    private static void WriteU64(Stream s, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
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

    // Walks the sections of a checkpoint; every shortfall is a CheckpointFormatException naming the section and offset.
    private ref struct Reader(ReadOnlySpan<byte> data, string source)
    {
        private readonly ReadOnlySpan<byte> _data = data;

        public int Position { get; private set; }

        public readonly bool AtEnd => Position == _data.Length;

        public readonly int Remaining => _data.Length - Position;

        public void Skip(int n, string what)
        {
            Need((ulong)n, what);
            Position += n;
        }

        public uint U32(string what)
        {
            Need(4, what);
            var v = BinaryPrimitives.ReadUInt32LittleEndian(_data[Position..]);
            Position += 4;
            return v;
        }

        public ulong U64(string what)
        {
            Need(8, what);
            var v = BinaryPrimitives.ReadUInt64LittleEndian(_data[Position..]);
            Position += 8;
            return v;
        }

        public Range Bytes(ulong n, string what)
        {
            Need(n, what);
            var start = Position;
            Position += (int)n;
            return start..Position;
        }

        /// <summary>A u64 value count followed by that many little-endian floats; returns the floats' byte range.</summary>
        public Range FloatSection(string what)
        {
            Need(8, what + " length");
            var count = BinaryPrimitives.ReadUInt64LittleEndian(_data[Position..]);
            Position += 8;
            if (count > (ulong)Remaining / 4)
                throw new CheckpointFormatException(source, $"it ends inside {what}: {count} values are announced at offset {Position - 8} but only {Remaining} bytes follow (the file is truncated or corrupted)");
            return Bytes(count * 4, what);
        }

        private readonly void Need(ulong n, string what)
        {
            if (n > (ulong)Remaining)
                throw new CheckpointFormatException(source, $"it is truncated: it ends inside {what} at offset {Position} (needs {n} more bytes, {Remaining} left)");
        }
    }
}

/// <summary>A checkpoint file that cannot be used; the message names the file and what is wrong.</summary>
public sealed class CheckpointFormatException(string source, string problem)
    : Exception($"Checkpoint {source} cannot be read: {problem}.")
{
    public string Origin { get; } = source;
}
