namespace DistTrain.Cluster.Serialization;

public enum ChunkStatus
{
    /// <summary>Stored; the transfer still misses chunks.</summary>
    Incomplete,
    /// <summary>The last missing chunk arrived; <see cref="ChunkResult.Payload"/> holds the whole message.</summary>
    Complete,
    /// <summary>The chunk (and its whole transfer) was refused; <see cref="ChunkResult.Reason"/> says why.</summary>
    Rejected,
    /// <summary>A duplicate, or a late chunk of a transfer that was already dropped or delivered.</summary>
    Ignored,
}

public readonly record struct ChunkResult(ChunkStatus Status, byte[]? Payload = null, string? Reason = null);

/// <summary>
/// Reassembles chunked transfers with bounded memory: absurd chunk counts, transfers larger than
/// <see cref="ChunkingSettings.MaxTransferBytes"/>, chunks that disagree with their transfer's first
/// chunk, and anything that would push the bytes held above <see cref="ChunkingSettings.MaxPendingBytes"/>
/// are rejected (the whole transfer is dropped); transfers idle for longer than
/// <see cref="ChunkingSettings.TransferTimeout"/> are dropped by <see cref="Expire"/>. Dropped and delivered
/// transfer ids are remembered for one timeout so that their late chunks do not start a new transfer.
/// Pure state (the time is passed in); the actor around it is <see cref="ChunkReceiver"/>.
/// </summary>
public sealed class ChunkAssembler(ChunkingSettings settings)
{
    private sealed class Transfer(TensorChunk first, long now)
    {
        public readonly int Count = first.Count;
        public readonly string TargetPath = first.TargetPath;
        public readonly int SerializerId = first.SerializerId;
        public readonly string Manifest = first.Manifest;
        public readonly byte[]?[] Parts = new byte[]?[first.Count];
        public int Received;
        public long Bytes;
        public long LastActivity = now;
    }

    private readonly Dictionary<Guid, Transfer> _transfers = [];
    private readonly Dictionary<Guid, long> _finished = []; // id -> when it may be forgotten
    private readonly List<Guid> _scratch = [];

    public ChunkingSettings Settings { get; } = settings;

    public int PendingTransfers => _transfers.Count;

    public long PendingBytes { get; private set; }

    public long Completed { get; private set; }

    public long Rejected { get; private set; }

    public long Expired { get; private set; }

    public ChunkResult Add(TensorChunk chunk, long nowMs)
    {
        if (_finished.ContainsKey(chunk.TransferId)) return new ChunkResult(ChunkStatus.Ignored);
        if (chunk.Count < 1 || chunk.Count > Settings.MaxChunksPerTransfer)
            return Reject(chunk.TransferId, nowMs, $"chunk count {chunk.Count} is outside 1..{Settings.MaxChunksPerTransfer}");
        if (chunk.Index < 0 || chunk.Index >= chunk.Count)
            return Reject(chunk.TransferId, nowMs, $"chunk index {chunk.Index} is outside 0..{chunk.Count - 1}");
        if (chunk.SerializerId == TensorMessageSerializer.Id && chunk.Manifest == TensorMessageSerializer.TensorChunkManifest)
            return Reject(chunk.TransferId, nowMs, "a chunk may not carry another chunk");

        if (!_transfers.TryGetValue(chunk.TransferId, out var t))
        {
            t = new Transfer(chunk, nowMs);
            _transfers.Add(chunk.TransferId, t);
        }
        else if (chunk.Count != t.Count || chunk.SerializerId != t.SerializerId || chunk.Manifest != t.Manifest || chunk.TargetPath != t.TargetPath)
        {
            return Reject(chunk.TransferId, nowMs,
                $"chunk {chunk.Index} says count {chunk.Count}, serializer {chunk.SerializerId}, manifest '{chunk.Manifest}', target {chunk.TargetPath}; " +
                $"the transfer's first chunk said {t.Count}, {t.SerializerId}, '{t.Manifest}', {t.TargetPath}");
        }

        if (t.Parts[chunk.Index] is not null) return new ChunkResult(ChunkStatus.Ignored);
        var size = chunk.Bytes.Length;
        if (t.Bytes + size > Settings.MaxTransferBytes)
            return Reject(chunk.TransferId, nowMs, $"the transfer would exceed {Settings.MaxTransferBytes} bytes (max-transfer-bytes)");
        if (PendingBytes + size > Settings.MaxPendingBytes)
            return Reject(chunk.TransferId, nowMs,
                $"holding it would exceed {Settings.MaxPendingBytes} bytes of incomplete transfers (max-pending-bytes; {_transfers.Count} pending)");

        t.Parts[chunk.Index] = chunk.Bytes;
        t.Received++;
        t.Bytes += size;
        t.LastActivity = nowMs;
        PendingBytes += size;
        if (t.Received < t.Count) return new ChunkResult(ChunkStatus.Incomplete);

        var payload = GC.AllocateUninitializedArray<byte>(checked((int)t.Bytes));
        var at = 0;
        foreach (var part in t.Parts)
        {
            part!.CopyTo(payload, at);
            at += part.Length;
        }
        Forget(chunk.TransferId, t, nowMs);
        Completed++;
        return new ChunkResult(ChunkStatus.Complete, payload);
    }

    /// <summary>Drops transfers idle for longer than the timeout; returns how many were dropped.</summary>
    public int Expire(long nowMs)
    {
        var timeout = (long)Settings.TransferTimeout.TotalMilliseconds;
        _scratch.Clear();
        foreach (var (id, t) in _transfers)
            if (nowMs - t.LastActivity > timeout) _scratch.Add(id);
        foreach (var id in _scratch) Forget(id, _transfers[id], nowMs);
        Expired += _scratch.Count;
        var dropped = _scratch.Count;

        _scratch.Clear();
        foreach (var (id, until) in _finished)
            if (nowMs >= until) _scratch.Add(id);
        foreach (var id in _scratch) _finished.Remove(id);
        return dropped;
    }

    private ChunkResult Reject(Guid id, long nowMs, string reason)
    {
        if (_transfers.TryGetValue(id, out var t)) Forget(id, t, nowMs);
        else Remember(id, nowMs);
        Rejected++;
        return new ChunkResult(ChunkStatus.Rejected, Reason: reason);
    }

    private void Forget(Guid id, Transfer t, long nowMs)
    {
        PendingBytes -= t.Bytes;
        _transfers.Remove(id);
        Remember(id, nowMs);
    }

    private void Remember(Guid id, long nowMs)
    {
        // Bounded: a flood of bogus ids cannot grow this without limit.
        if (_finished.Count >= Settings.MaxRememberedTransfers) return;
        _finished[id] = nowMs + (long)Settings.TransferTimeout.TotalMilliseconds;
    }
}
