using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using DistTrain.Cluster.Protocol;

namespace DistTrain.Cluster.Serialization;

/// <summary>
/// Raw-bytes serializer for the tensor-carrying messages (<see cref="ITensorMessage"/>) and for
/// <see cref="TensorChunk"/>. Identifier <see cref="Id"/> = 7401 (Akka reserves 0–100; this number must
/// never change and never be reused, or nodes of different builds misread each other).
/// <para>
/// Every message is: one format-version byte (<see cref="FormatVersion"/>), then its fields in declaration
/// order, little-endian: int32/int64/uint64/float64 as such, strings as int32 UTF-8 byte count + bytes,
/// float[]/int[]/byte[] as int32 element count + raw elements; no field may be null. The float payload is
/// copied once each way (<c>MemoryMarshal.AsBytes</c>), and <see cref="ToBinary"/> computes the exact size
/// first, so the returned array is the only buffer.
/// </para>
/// <para>
/// Manifests: CG <see cref="ComputeGradients"/>, CL the same with local-SGD step sizes (an int[] before
/// Parameters), GC <see cref="GradientsComputed"/>, GH the same with a 16-bit gradient (after the empty
/// Gradient: one byte compression kind, int32 count, 2 bytes per value: half the float payload; decoded with a
/// receive pool, as on the data plane, it arrives as a GC whose gradient holds the decoded values), PS
/// <see cref="ParametersSnapshot"/>, ES <see cref="EvaluateShard"/>, WS <see cref="WorkerLocalState"/> (role byte,
/// ShardIndex, Version, optimizer kind byte (0: none, else kind + 1), its step as int64, int32 buffer count and
/// the buffers, then a residual flag byte and the residual), TC <see cref="TensorChunk"/>. Any
/// problem while reading (unknown manifest, wrong version, truncated or malformed bytes, trailing bytes)
/// throws <see cref="SerializationException"/>: Akka.Remote drops such a message with a log line, whereas any
/// other exception type tears down the TCP association.
/// </para>
/// </summary>
public sealed class TensorMessageSerializer : SerializerWithStringManifest
{
    public const int Id = 7401;

    /// <summary>2: CL carries its LocalSteps before Parameters (version 1 after), so that its parameters, like CG's, end the message.</summary>
    public const byte FormatVersion = 2;

    public const string ComputeGradientsManifest = "CG";
    public const string GradientsComputedManifest = "GC";
    public const string ComputeGradientsLocalManifest = "CL";
    public const string GradientsComputedHalfManifest = "GH";
    public const string ParametersSnapshotManifest = "PS";
    public const string EvaluateShardManifest = "ES";
    public const string TensorChunkManifest = "TC";
    public const string WorkerLocalStateManifest = "WS";

    public TensorMessageSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    public override int Identifier => Id;

    public override string Manifest(object o) => ManifestOf(o);

    public static string ManifestOf(object o) => o switch
    {
        ComputeGradients { LocalSteps: not null } => ComputeGradientsLocalManifest,
        ComputeGradients => ComputeGradientsManifest,
        GradientsComputed { Compressed: not null } => GradientsComputedHalfManifest,
        GradientsComputed => GradientsComputedManifest,
        ParametersSnapshot => ParametersSnapshotManifest,
        EvaluateShard => EvaluateShardManifest,
        WorkerLocalState => WorkerLocalStateManifest,
        TensorChunk => TensorChunkManifest,
        _ => throw Unsupported(o),
    };

    /// <summary>The exact number of bytes <see cref="ToBinary"/> produces for <paramref name="o"/>, without serializing it.</summary>
    public static int SizeOf(object o) => 1 + o switch
    {
        ComputeGradients m => S(m.JobId, "CG", "JobId") + 8 + 4 * 4 + 8 + S(m.SampleIds, "CG", "SampleIds") + S(m.Parameters, "CG", "Parameters")
            + (m.LocalSteps is null ? 0 : S(m.LocalSteps, "CG", "LocalSteps")),
        GradientsComputed m => S(m.JobId, "GC", "JobId") + 8 + 3 * 4 + S(m.WorkerId, "GC", "WorkerId") + 4 + 8 + 4 + S(m.Gradient, "GC", "Gradient")
            + (m.Compressed is null ? 0 : 1 + WireWriter.SizeOf(m.Compressed.Bits, nameof(GradientsComputed), "Compressed")),
        ParametersSnapshot m => S(m.JobId, "PS", "JobId") + 8 + S(m.Parameters, "PS", "Parameters"),
        EvaluateShard m => S(m.JobId, "ES", "JobId") + 8 + 3 * 4 + S(m.Parameters, "ES", "Parameters"),
        TensorChunk m => 16 + 2 * 4 + S(m.TargetPath, "TC", "TargetPath") + 4 + S(m.Manifest, "TC", "Manifest") + S(m.Bytes, "TC", "Bytes"),
        WorkerLocalState m => S(m.JobId, "WS", "JobId") + 1 + 4 + 8 + 1 + 8 + 4
            + (m.Optimizer?.Buffers.Sum(b => S(b, "WS", "Optimizer.Buffers")) ?? 0) + 1 + (m.Residual is null ? 0 : S(m.Residual, "WS", "Residual")),
        _ => throw Unsupported(o),
    };

    private static int S(string? s, string manifest, string field) => WireWriter.SizeOf(s, TypeName(manifest)!, field);

    private static int S(float[]? a, string manifest, string field) => WireWriter.SizeOf(a, TypeName(manifest)!, field);

    private static int S(int[]? a, string manifest, string field) => WireWriter.SizeOf(a, TypeName(manifest)!, field);

    private static int S(byte[]? a, string manifest, string field) => WireWriter.SizeOf(a, TypeName(manifest)!, field);

    /// <summary>The message type a manifest stands for, or null when the manifest is unknown.</summary>
    public static string? TypeName(string manifest) => manifest switch
    {
        ComputeGradientsManifest or ComputeGradientsLocalManifest => nameof(ComputeGradients),
        GradientsComputedManifest or GradientsComputedHalfManifest => nameof(GradientsComputed),
        ParametersSnapshotManifest => nameof(ParametersSnapshot),
        EvaluateShardManifest => nameof(EvaluateShard),
        WorkerLocalStateManifest => nameof(WorkerLocalState),
        TensorChunkManifest => nameof(TensorChunk),
        _ => null,
    };

    public override byte[] ToBinary(object obj) => Encode(obj);

    /// <summary>The serialized form of a tensor message or chunk (what <see cref="ToBinary"/> returns), exactly sized.</summary>
    public static byte[] Encode(object obj)
    {
        var bytes = GC.AllocateUninitializedArray<byte>(SizeOf(obj));
        EncodeInto(obj, bytes);
        return bytes;
    }

    /// <summary>
    /// Writes <paramref name="obj"/> into exactly <paramref name="bytes"/>, which must be <see cref="SizeOf"/>(obj)
    /// long (e.g. a slice of a pooled buffer: the data plane encodes without allocating).
    /// </summary>
    public static void EncodeInto(object obj, Span<byte> bytes) => EncodeInto(obj, bytes, omitTrailing: false);

    /// <summary>
    /// The array that ends <paramref name="obj"/>'s serialized form: the float payload of ComputeGradients,
    /// GradientsComputed, ParametersSnapshot and EvaluateShard, or the 16-bit values of a compressed
    /// GradientsComputed (GH). False for anything else. On a little-endian machine its bytes on the wire are the
    /// array's own bytes (<paramref name="bytes"/>), so a sender may write them straight from the array after the
    /// rest (<see cref="EncodeHeadInto"/>) instead of copying them first, e.g. into a data-plane ring.
    /// </summary>
    public static bool TryTrailingPayload(object obj, out ReadOnlySpan<byte> bytes)
    {
        static ReadOnlySpan<byte> Raw<T>(T[] a) where T : unmanaged => System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan());
        switch (BitConverter.IsLittleEndian ? obj : null)
        {
            case GradientsComputed { Compressed: { } c }: bytes = Raw(c.Bits); return true;
            case GradientsComputed m: bytes = Raw(m.Gradient); return true;
            case ComputeGradients m: bytes = Raw(m.Parameters); return true;
            case ParametersSnapshot m: bytes = Raw(m.Parameters); return true;
            case EvaluateShard m: bytes = Raw(m.Parameters); return true;
            default: bytes = default; return false;
        }
    }

    /// <summary>
    /// Writes <paramref name="obj"/>'s serialized form without the raw bytes of its trailing payload
    /// (<see cref="TryTrailingPayload"/>; their element count included) into exactly <paramref name="bytes"/>:
    /// <see cref="SizeOf"/>(obj) minus that payload's bytes. The caller sends the payload's bytes right after.
    /// </summary>
    public static void EncodeHeadInto(object obj, Span<byte> bytes)
    {
        if (!TryTrailingPayload(obj, out _)) throw new ArgumentException($"a {obj.GetType().Name} of this form has no trailing payload; use EncodeInto");
        EncodeInto(obj, bytes, omitTrailing: true);
    }

    private static void EncodeInto(object obj, Span<byte> bytes, bool omitTrailing)
    {
        var w = new WireWriter(bytes);
        w.Byte(FormatVersion);
        switch (obj)
        {
            case ComputeGradients m:
                w.String(m.JobId);
                w.Int64(m.Version);
                w.Int32(m.Attempt);
                w.Int32(m.Epoch);
                w.Int32(m.Step);
                w.Int32(m.ShardIndex);
                w.UInt64(m.Seed);
                w.Ints(m.SampleIds);
                if (m.LocalSteps is { } local) w.Ints(local); // before the parameters, so that they end the message (CL, format 2)
                w.Floats(m.Parameters, omitTrailing);
                break;
            case GradientsComputed m:
                w.String(m.JobId);
                w.Int64(m.Version);
                w.Int32(m.Attempt);
                w.Int32(m.Step);
                w.Int32(m.ShardIndex);
                w.String(m.WorkerId);
                w.Int32(m.Samples);
                w.Double(m.LossSum);
                w.Int32(m.Correct);
                w.Floats(m.Gradient, omitTrailing && m.Compressed is null);
                if (m.Compressed is { } c)
                {
                    w.Byte((byte)c.Kind);
                    w.UShorts(c.Bits, omitTrailing);
                }
                break;
            case ParametersSnapshot m:
                w.String(m.JobId);
                w.Int64(m.Version);
                w.Floats(m.Parameters, omitTrailing);
                break;
            case EvaluateShard m:
                w.String(m.JobId);
                w.Int64(m.Version);
                w.Int32((int)m.Split);
                w.Int32(m.Start);
                w.Int32(m.Length);
                w.Floats(m.Parameters, omitTrailing);
                break;
            case WorkerLocalState m:
                w.String(m.JobId);
                w.Byte((byte)m.Role);
                w.Int32(m.ShardIndex);
                w.Int64(m.Version);
                w.Byte(m.Optimizer is { } o ? (byte)(o.Kind + 1) : (byte)0);
                w.Int64(m.Optimizer?.Step ?? 0);
                w.Int32(m.Optimizer?.Buffers.Count ?? 0);
                foreach (var b in m.Optimizer?.Buffers ?? []) w.Floats(b);
                w.Byte(m.Residual is null ? (byte)0 : (byte)1);
                if (m.Residual is { } residual) w.Floats(residual);
                break;
            case TensorChunk m:
                w.Guid(m.TransferId);
                w.Int32(m.Index);
                w.Int32(m.Count);
                w.String(m.TargetPath);
                w.Int32(m.SerializerId);
                w.String(m.Manifest);
                w.Bytes(m.Bytes);
                break;
        }
        if (w.Position != bytes.Length)
            throw new InvalidOperationException($"{obj.GetType().Name}: wrote {w.Position} bytes but sized {bytes.Length}; SizeOf and ToBinary disagree.");
    }

    public override object FromBinary(byte[] bytes, string manifest) => Decode(bytes, manifest);

    /// <summary>
    /// Decodes from any span (e.g. a pooled reassembly buffer). With <paramref name="pool"/>, the tensor payload
    /// of ComputeGradients (Parameters), GradientsComputed (Gradient) and EvaluateShard (Parameters) is rented
    /// from it, for the consuming actor to hand back (<see cref="ReceiveBufferPool"/>).
    /// </summary>
    public static object Decode(ReadOnlySpan<byte> bytes, string manifest, ReceiveBufferPool? pool = null) =>
        Decode(bytes, manifest, pool, default, hasTrailing: false);

    /// <summary>
    /// Decodes a message whose serialized form stops after its trailing float array's element count
    /// (<see cref="EncodeHeadInto"/>): the array's bytes are <paramref name="trailingFloats"/> (e.g. a data-plane
    /// shared-memory ring), copied once into the result (from <paramref name="pool"/> when given).
    /// </summary>
    public static object Decode(ReadOnlySpan<byte> head, string manifest, ReceiveBufferPool? pool, ReadOnlySpan<byte> trailingFloats) =>
        Decode(head, manifest, pool, trailingFloats, hasTrailing: true);

    /// <summary>
    /// Decodes a message whose serialized form stops after its trailing float array's element count, that array
    /// being <paramref name="trailingFloats"/>, already filled (the data plane reads a payload from the socket
    /// straight into it); the result carries that array itself.
    /// </summary>
    public static object Decode(ReadOnlySpan<byte> head, string manifest, float[] trailingFloats)
    {
        var type = TypeName(manifest) ?? throw new SerializationException($"DistTrain tensor serializer (id {Id}): unknown manifest '{manifest}'");
        return Decode(new WireReader(head, type, trailingFloats), manifest, null);
    }

    /// <summary>
    /// Where the element count of the trailing float array (<see cref="TryTrailingPayload"/>) sits in the serialized
    /// form that <paramref name="bytes"/> begins with, or -1 when the manifest has no trailing array or the fields
    /// before it do not fit in <paramref name="bytes"/> or are malformed (the caller then reads the message whole).
    /// </summary>
    public static int TrailingFloatsCountOffset(ReadOnlySpan<byte> bytes, string manifest)
    {
        if (!BitConverter.IsLittleEndian || manifest is not (ComputeGradientsManifest or ComputeGradientsLocalManifest or GradientsComputedManifest or ParametersSnapshotManifest or EvaluateShardManifest))
            return -1;
        var r = new WireReader(bytes, manifest);
        try
        {
            if (r.Byte("format version") != FormatVersion) return -1;
            r.Skip("JobId", 1);
            r.Int64("Version");
            switch (manifest)
            {
                case ComputeGradientsManifest or ComputeGradientsLocalManifest:
                    for (var i = 0; i < 4; i++) r.Int32("Attempt, Epoch, Step, ShardIndex");
                    r.UInt64("Seed");
                    r.Skip("SampleIds", sizeof(int));
                    if (manifest == ComputeGradientsLocalManifest) r.Skip("LocalSteps", sizeof(int));
                    break;
                case GradientsComputedManifest:
                    for (var i = 0; i < 3; i++) r.Int32("Attempt, Step, ShardIndex");
                    r.Skip("WorkerId", 1);
                    r.Int32("Samples");
                    r.Double("LossSum");
                    r.Int32("Correct");
                    break;
                case EvaluateShardManifest:
                    for (var i = 0; i < 3; i++) r.Int32("Split, Start, Length");
                    break;
            }
            return r.Remaining >= 4 ? r.Position : -1;
        }
        catch (SerializationException)
        {
            return -1;
        }
    }

    private static object Decode(ReadOnlySpan<byte> bytes, string manifest, ReceiveBufferPool? pool, ReadOnlySpan<byte> trailing, bool hasTrailing)
    {
        var type = TypeName(manifest) ?? throw new SerializationException(
            $"DistTrain tensor serializer (id {Id}): unknown manifest '{manifest}'; expected one of CG, CL, GC, GH, PS, ES, WS, TC. " +
            "Is the sender running a newer build?");
        return Decode(hasTrailing ? new WireReader(bytes, type, trailing) : new WireReader(bytes, type), manifest, pool);
    }

    private static object Decode(WireReader r, string manifest, ReceiveBufferPool? pool)
    {
        var version = r.Byte("format version");
        if (version != FormatVersion)
            throw r.Error("format version", 0, $"expected format version {FormatVersion}, found {version}");
        object result;
        switch (manifest)
        {
            case ComputeGradientsManifest or ComputeGradientsLocalManifest:
            {
                var jobId = r.String("JobId");
                var ver = r.Int64("Version");
                var attempt = r.Int32("Attempt");
                var epoch = r.Int32("Epoch");
                var step = r.Int32("Step");
                var shard = r.Int32("ShardIndex");
                var seed = r.UInt64("Seed");
                var ids = r.Ints("SampleIds");
                var local = manifest == ComputeGradientsLocalManifest ? r.Ints("LocalSteps") : null;
                var parameters = r.Floats("Parameters", pool);
                result = new ComputeGradients(jobId, ver, attempt, epoch, step, shard, ids, seed, parameters, local);
                break;
            }
            case GradientsComputedManifest or GradientsComputedHalfManifest:
            {
                var jobId = r.String("JobId");
                var ver = r.Int64("Version");
                var attempt = r.Int32("Attempt");
                var step = r.Int32("Step");
                var shard = r.Int32("ShardIndex");
                var worker = r.String("WorkerId");
                var samples = r.Int32("Samples");
                var loss = r.Double("LossSum");
                var correct = r.Int32("Correct");
                var gradient = r.Floats("Gradient", pool);
                Compression.CompressedTensor? compressed = null;
                if (manifest == GradientsComputedHalfManifest)
                {
                    var at = r.Position;
                    var kind = (Jobs.GradientCompression)r.Byte("Compressed.Kind");
                    if (kind is not (Jobs.GradientCompression.Fp16 or Jobs.GradientCompression.Bf16))
                        throw r.Error("Compressed.Kind", at, $"expected 1 (fp16) or 2 (bf16), found {(int)kind}");
                    if (gradient.Length != 0)
                        throw r.Error("Gradient", at, $"expected no float32 values beside a 16-bit gradient, found {gradient.Length}");
                    // On the data plane (a receive pool) the 16-bit values become the float32 gradient the parameter server
                    // decodes them into anyway, here on the connection's receive thread: no 16-bit array allocated per
                    // message, and the decode leaves the parameter server's critical path. The values are the same bits.
                    if (pool is not null) gradient = r.UShortsAsFloats("Compressed.Bits", kind, pool);
                    else compressed = new Compression.CompressedTensor(kind, r.UShorts("Compressed.Bits"));
                }
                result = new GradientsComputed(jobId, ver, attempt, step, shard, worker, gradient, samples, loss, correct, compressed);
                break;
            }
            case ParametersSnapshotManifest:
            {
                var jobId = r.String("JobId");
                var ver = r.Int64("Version");
                var parameters = r.Floats("Parameters");
                result = new ParametersSnapshot(jobId, ver, parameters);
                break;
            }
            case EvaluateShardManifest:
            {
                var jobId = r.String("JobId");
                var ver = r.Int64("Version");
                var at = r.Position;
                var split = r.Int32("Split");
                if (!Enum.IsDefined((DataSplit)split))
                    throw r.Error("Split", at, $"expected a DataSplit (0 = Train, 1 = Validation, 2 = Test), found {split}");
                var start = r.Int32("Start");
                var length = r.Int32("Length");
                var parameters = r.Floats("Parameters", pool);
                result = new EvaluateShard(jobId, ver, (DataSplit)split, start, length, parameters);
                break;
            }
            case WorkerLocalStateManifest:
            {
                var jobId = r.String("JobId");
                var at = r.Position;
                var role = r.Byte("Role");
                if (!Enum.IsDefined((WorkerStateRole)role))
                    throw r.Error("Role", at, $"expected 0 (Request), 1 (Report) or 2 (Restore), found {role}");
                var shard = r.Int32("ShardIndex");
                var ver = r.Int64("Version");
                at = r.Position;
                var kind = r.Byte("Optimizer.Kind");
                if (kind > (byte)Core.Optimizers.OptimizerKind.Adadelta + 1)
                    throw r.Error("Optimizer.Kind", at, $"expected 0 (none) to {(int)Core.Optimizers.OptimizerKind.Adadelta + 1}, found {kind}");
                var step = r.Int64("Optimizer.Step");
                at = r.Position;
                var count = r.Int32("Optimizer.Buffers");
                if (count < 0 || count > 16 || (kind == 0 && count > 0))
                    throw r.Error("Optimizer.Buffers", at, $"expected 0 to 16 buffers (none without an optimizer), found {count}");
                var buffers = new float[count][];
                for (var i = 0; i < count; i++) buffers[i] = r.Floats("Optimizer.Buffers");
                at = r.Position;
                var hasResidual = r.Byte("Residual flag");
                if (hasResidual > 1) throw r.Error("Residual flag", at, $"expected 0 or 1, found {hasResidual}");
                var residual = hasResidual == 1 ? r.Floats("Residual") : null;
                var optimizer = kind == 0 ? null : new Core.Optimizers.OptimizerState((Core.Optimizers.OptimizerKind)(kind - 1), step, buffers);
                result = new WorkerLocalState(jobId, (WorkerStateRole)role, shard, ver, optimizer, residual);
                break;
            }
            default:
            {
                var id = r.Guid("TransferId");
                var index = r.Int32("Index");
                var count = r.Int32("Count");
                var target = r.String("TargetPath");
                var serializerId = r.Int32("SerializerId");
                var innerManifest = r.String("Manifest");
                var payload = r.Bytes("Bytes");
                result = new TensorChunk(id, index, count, target, serializerId, innerManifest, payload);
                break;
            }
        }
        r.End();
        return result;
    }

    private static ArgumentException Unsupported(object? o) => new(
        $"DistTrain tensor serializer (id {Id}) cannot serialize {o?.GetType().FullName ?? "null"}; it handles ComputeGradients, " +
        "GradientsComputed, ParametersSnapshot, EvaluateShard, WorkerLocalState and TensorChunk. Check the serialization-bindings in cluster-config/base.conf.");
}
