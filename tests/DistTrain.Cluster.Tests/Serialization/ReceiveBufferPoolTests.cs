using System.Runtime.CompilerServices;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.State;

namespace DistTrain.Cluster.Tests.Serialization;

public class ReceiveBufferPoolTests
{
    [Fact]
    public void A_returned_array_is_lent_again_for_the_same_length()
    {
        var pool = new ReceiveBufferPool();
        var a = pool.Rent(1000);

        Assert.True(pool.Return(a));
        var b = pool.Rent(1000);

        Assert.Same(a, b);
        Assert.Equal((2L, 1L, 1L, 0L), pool.Stats);
    }

    [Fact]
    public void A_returned_array_is_never_lent_for_another_length()
    {
        var pool = new ReceiveBufferPool();
        var a = pool.Rent(1000);
        pool.Return(a);

        var b = pool.Rent(999);

        Assert.NotSame(a, b);
        Assert.Equal(999, b.Length);
        Assert.Equal(1, pool.IdleCount(1000));
    }

    [Fact]
    public void An_array_the_pool_did_not_lend_is_refused_and_never_lent()
    {
        // A local-mode worker's gradient buffer or the ps's master parameters must never be handed to a decoder.
        var pool = new ReceiveBufferPool();
        var own = new float[1000];

        Assert.False(pool.Return(own));
        var lent = pool.Rent(1000);

        Assert.NotSame(own, lent);
        Assert.Equal(0, pool.IdleCount(1000));
        Assert.Equal(1L, pool.Stats.Refused);
    }

    [Fact]
    public void A_second_return_of_the_same_array_is_refused()
    {
        var pool = new ReceiveBufferPool();
        var a = pool.Rent(1000);

        Assert.True(pool.Return(a));
        Assert.False(pool.Return(a));

        Assert.Equal(1, pool.IdleCount(1000));
        Assert.Same(a, pool.Rent(1000));
        Assert.NotSame(a, pool.Rent(1000)); // lent once, not twice
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference RentAndDrop(ReceiveBufferPool pool) => new(pool.Rent(1000));

    [Fact]
    public void An_array_never_returned_is_garbage_the_pool_does_not_keep_alive()
    {
        var pool = new ReceiveBufferPool();
        var lost = RentAndDrop(pool);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(lost.IsAlive);
        Assert.Equal(0, pool.IdleCount(1000));
        Assert.Equal(1000, pool.Rent(1000).Length);
    }

    [Fact]
    public void The_pool_keeps_at_most_MaxPerLength_idle_arrays_per_length_and_MaxLengths_lengths()
    {
        var pool = new ReceiveBufferPool();
        var many = new float[ReceiveBufferPool.MaxPerLength + 2][];
        for (var i = 0; i < many.Length; i++) many[i] = pool.Rent(500);
        foreach (var a in many) Assert.True(pool.Return(a));
        Assert.Equal(ReceiveBufferPool.MaxPerLength, pool.IdleCount(500));

        // Lengths 501.. are newer than 500: the least recently used length goes first.
        for (var n = 1; n <= ReceiveBufferPool.MaxLengths; n++) pool.Return(pool.Rent(500 + n));

        Assert.Equal(0, pool.IdleCount(500));
        for (var n = 1; n <= ReceiveBufferPool.MaxLengths; n++) Assert.Equal(1, pool.IdleCount(500 + n));
    }

    [Fact]
    public void Empty_arrays_are_never_pooled()
    {
        var pool = new ReceiveBufferPool();
        var empty = pool.Rent(0);

        Assert.Empty(empty);
        Assert.False(pool.Return(empty));
    }

    [Fact]
    public void A_decoded_gradient_rented_from_the_pool_is_reused_by_the_next_decode_with_the_new_values()
    {
        var pool = new ReceiveBufferPool();
        GradientsComputed Message(float scale)
        {
            var g = new float[3000];
            for (var i = 0; i < g.Length; i++) g[i] = scale * (i - 1500);
            return new GradientsComputed("job", 1, 1, 0, 0, "w", g, 8, 1.5, 3);
        }
        var first = (GradientsComputed)TensorMessageSerializer.Decode(TensorMessageSerializer.Encode(Message(1f)), "GC", pool);
        Assert.True(pool.Return(first.Gradient));

        var second = (GradientsComputed)TensorMessageSerializer.Decode(TensorMessageSerializer.Encode(Message(-2f)), "GC", pool);

        Assert.Same(first.Gradient, second.Gradient);
        Assert.Equal(Message(-2f).Gradient, second.Gradient);
    }

    [Fact]
    public void Decoding_without_a_pool_allocates_arrays_the_pool_refuses()
    {
        // What Akka.Remote's serializer decodes (the fallback path) never enters the pool.
        var pool = new ReceiveBufferPool();
        var m = new ComputeGradients("job", 1, 1, 0, 0, 0, [1, 2], 7, new float[2000]);
        var decoded = (ComputeGradients)TensorMessageSerializer.Decode(TensorMessageSerializer.Encode(m), "CG");

        Assert.False(pool.Return(decoded.Parameters));
    }

    [Fact]
    public void The_aggregator_hands_back_only_pooled_gradients_and_only_after_the_step()
    {
        var pool = new ReceiveBufferPool();
        var agg = new GradientAggregator(100);
        agg.Begin(version: 0, attempt: 1, epoch: 0, step: 0, shardCount: 2);
        var wire = pool.Rent(100);
        var local = new float[100]; // a same-process worker's own buffer
        Array.Fill(wire, 1f);
        Array.Fill(local, 3f);
        agg.Add(0, 1, 0, wire, 2, 1.0, 1);
        agg.Add(0, 1, 1, local, 2, 1.0, 1);

        Assert.Throws<InvalidOperationException>(() => agg.ReleaseGradients(pool));
        var mean = new float[100];
        Assert.True(agg.CompleteInto(mean));
        agg.ReleaseGradients(pool);

        Assert.Equal(1f, mean[0]); // (1 + 3) / 4 samples: computed before the arrays went back
        Assert.Equal(1, pool.IdleCount(100));
        Assert.Same(wire, pool.Rent(100));
        Assert.Equal(1L, pool.Stats.Refused); // the local buffer
        Assert.True(agg.IsAccepted(0) && agg.IsAccepted(1));
    }
}
