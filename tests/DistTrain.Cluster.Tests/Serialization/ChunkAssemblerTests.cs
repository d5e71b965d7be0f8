using DistTrain.Cluster.Serialization;

namespace DistTrain.Cluster.Tests.Serialization;

public class ChunkAssemblerTests
{
    private static readonly ChunkingSettings Small = new(MaxTransferBytes: 1000, MaxPendingBytes: 1500, MaxChunksPerTransfer: 16)
    {
        TransferTimeout = TimeSpan.FromSeconds(10),
    };

    private static byte[] Payload(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static TensorChunk[] Split(Guid id, byte[] payload, int parts, string manifest = "GC")
    {
        var size = (payload.Length + parts - 1) / parts;
        var chunks = new TensorChunk[parts];
        for (var i = 0; i < parts; i++)
        {
            var start = Math.Min(i * size, payload.Length);
            chunks[i] = new TensorChunk(id, i, parts, "akka://t/user/target", TensorMessageSerializer.Id, manifest,
                payload[start..Math.Min(start + size, payload.Length)]);
        }
        return chunks;
    }

    [Fact]
    public void Chunks_arriving_in_any_order_reassemble_to_the_original_bytes()
    {
        var a = new ChunkAssembler(Small);
        var payload = Payload(700, 1);
        var chunks = Split(Guid.NewGuid(), payload, 4);

        Assert.Equal(ChunkStatus.Incomplete, a.Add(chunks[2], 0).Status);
        Assert.Equal(ChunkStatus.Incomplete, a.Add(chunks[0], 1).Status);
        Assert.Equal(ChunkStatus.Incomplete, a.Add(chunks[3], 2).Status);
        Assert.Equal(chunks[0].Bytes.Length + chunks[2].Bytes.Length + chunks[3].Bytes.Length, a.PendingBytes);
        var done = a.Add(chunks[1], 3);

        Assert.Equal(ChunkStatus.Complete, done.Status);
        Assert.Equal(payload, done.Payload);
        Assert.Equal(0, a.PendingBytes);
        Assert.Equal(0, a.PendingTransfers);
        Assert.Equal(1, a.Completed);
    }

    [Fact]
    public void A_duplicate_chunk_is_ignored_and_not_counted_twice()
    {
        var a = new ChunkAssembler(Small);
        var chunks = Split(Guid.NewGuid(), Payload(300, 2), 3);
        a.Add(chunks[0], 0);
        Assert.Equal(ChunkStatus.Ignored, a.Add(chunks[0], 0).Status);
        Assert.Equal(100, a.PendingBytes);
        a.Add(chunks[1], 0);
        Assert.Equal(ChunkStatus.Complete, a.Add(chunks[2], 0).Status);
        Assert.Equal(ChunkStatus.Ignored, a.Add(chunks[2], 0).Status); // a late copy after delivery
        Assert.Equal(0, a.PendingTransfers);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(int.MaxValue, 0)]
    [InlineData(17, 0)] // more than MaxChunksPerTransfer
    [InlineData(4, 4)] // index outside 0..count-1
    [InlineData(4, -1)]
    public void An_absurd_count_or_index_is_rejected_without_storing_anything(int count, int index)
    {
        var a = new ChunkAssembler(Small);
        var r = a.Add(new TensorChunk(Guid.NewGuid(), index, count, "akka://t/user/x", 1, "m", new byte[10]), 0);
        Assert.Equal(ChunkStatus.Rejected, r.Status);
        Assert.Contains(count == 4 ? "index" : "count", r.Reason);
        Assert.Equal(0, a.PendingTransfers);
        Assert.Equal(0, a.PendingBytes);
    }

    [Fact]
    public void A_transfer_larger_than_the_limit_is_dropped_when_it_crosses_it()
    {
        var a = new ChunkAssembler(Small);
        var chunks = Split(Guid.NewGuid(), Payload(1200, 3), 4); // 300-byte chunks, limit 1000
        for (var i = 0; i < 3; i++) Assert.Equal(ChunkStatus.Incomplete, a.Add(chunks[i], 0).Status);
        var r = a.Add(chunks[3], 0);
        Assert.Equal(ChunkStatus.Rejected, r.Status);
        Assert.Contains("max-transfer-bytes", r.Reason);
        Assert.Equal(0, a.PendingBytes);
        Assert.Equal(ChunkStatus.Ignored, a.Add(chunks[0], 0).Status); // its stragglers do not restart it
    }

    [Fact]
    public void Incomplete_transfers_together_cannot_exceed_the_pending_budget()
    {
        var a = new ChunkAssembler(Small);
        var first = Split(Guid.NewGuid(), Payload(1800, 4), 2); // 900-byte chunks
        var second = Split(Guid.NewGuid(), Payload(1800, 5), 2);
        Assert.Equal(ChunkStatus.Incomplete, a.Add(first[0], 0).Status);
        var r = a.Add(second[0], 0); // 900 + 900 > 1500
        Assert.Equal(ChunkStatus.Rejected, r.Status);
        Assert.Contains("max-pending-bytes", r.Reason);
        Assert.Equal(900, a.PendingBytes);
        Assert.Equal(1, a.PendingTransfers);
    }

    [Fact]
    public void A_chunk_that_contradicts_its_transfer_drops_the_whole_transfer()
    {
        var a = new ChunkAssembler(Small);
        var id = Guid.NewGuid();
        var chunks = Split(id, Payload(300, 6), 3);
        a.Add(chunks[0], 0);
        var r = a.Add(chunks[1] with { Manifest = "PS" }, 0);
        Assert.Equal(ChunkStatus.Rejected, r.Status);
        Assert.Contains("manifest 'PS'", r.Reason);
        Assert.Equal(0, a.PendingTransfers);
        Assert.Equal(0, a.PendingBytes);
    }

    [Fact]
    public void A_chunk_carrying_a_chunk_is_rejected()
    {
        var a = new ChunkAssembler(Small);
        var r = a.Add(Split(Guid.NewGuid(), Payload(10, 7), 2, TensorMessageSerializer.TensorChunkManifest)[0], 0);
        Assert.Equal(ChunkStatus.Rejected, r.Status);
    }

    [Fact]
    public void An_idle_transfer_expires_after_the_timeout_and_its_late_chunks_are_ignored()
    {
        var a = new ChunkAssembler(Small);
        var chunks = Split(Guid.NewGuid(), Payload(300, 8), 3);
        a.Add(chunks[0], 1_000);
        a.Add(chunks[1], 5_000);

        Assert.Equal(0, a.Expire(14_000)); // idle 9 s < 10 s
        Assert.Equal(1, a.Expire(15_001));
        Assert.Equal(0, a.PendingTransfers);
        Assert.Equal(0, a.PendingBytes);
        Assert.Equal(1, a.Expired);
        Assert.Equal(ChunkStatus.Ignored, a.Add(chunks[2], 15_002).Status);

        a.Expire(30_000); // the tombstone is forgotten after another timeout
        Assert.Equal(ChunkStatus.Incomplete, a.Add(chunks[2], 30_001).Status);
    }
}
