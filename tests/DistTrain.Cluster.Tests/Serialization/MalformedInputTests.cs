using System.Buffers.Binary;
using System.Runtime.Serialization;
using Akka.Actor;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;

namespace DistTrain.Cluster.Tests.Serialization;

/// <summary>
/// Whatever bytes arrive, FromBinary either decodes them or throws SerializationException: any other
/// exception would tear down the remoting association (DESIGN.md §5).
/// </summary>
public class MalformedInputTests
{
    public static IEnumerable<object[]> Valid() =>
    [
        ["CG", new ComputeGradients("job", 3, 1, 2, 5, 1, [4, 8, 15, 16], 42, [0.5f, 1.5f, -2f])],
        ["GC", new GradientsComputed("job", 3, 1, 5, 1, "wörker", [0.25f, float.NaN, 3f, 4f], 4, 1.25, 3)],
        ["PS", new ParametersSnapshot("job", 3, [1f, 2f, 3f, 4f, 5f])],
        ["ES", new EvaluateShard("job", 3, DataSplit.Validation, 10, 5, [1f, 2f, 3f])],
        ["WS", new WorkerLocalState("job", WorkerStateRole.Report, 1, 6,
            new DistTrain.Core.Optimizers.OptimizerState(DistTrain.Core.Optimizers.OptimizerKind.Adam, 4, [[1f, 2f], [3f, 4f]]), [0.5f, -0.5f])],
        ["TC", new TensorChunk(Guid.Parse("6b29fc40-ca47-1067-b31d-00dd010662da"), 2, 4, "akka.tcp://disttrain@n:1/user/w", 7401, "GC", [9, 8, 7, 6])],
    ];

    private static void DecodesOrRefuses(byte[] bytes, string manifest, string what, List<string> failures, ref int refused)
    {
        try
        {
            TensorMessageSerializer.Decode(bytes, manifest);
        }
        catch (SerializationException e)
        {
            refused++;
            if (!e.Message.Contains("offset", StringComparison.Ordinal))
                failures.Add($"{what}: message does not name the offset: {e.Message}");
        }
        catch (Exception e)
        {
            failures.Add($"{what}: {e.GetType().Name}: {e.Message}");
        }
    }

    [Theory]
    [MemberData(nameof(Valid))]
    public void Truncated_flipped_and_random_bytes_only_ever_raise_SerializationException(string manifest, object message)
    {
        var valid = TensorMessageSerializer.Encode(message);
        var failures = new List<string>();
        var refused = 0;
        var cases = 0;

        // Every truncation: the header says how much follows, so each one must be refused.
        for (var len = 0; len < valid.Length; len++, cases++)
            DecodesOrRefuses(valid[..len], manifest, $"truncated to {len}", failures, ref refused);
        Assert.Equal(valid.Length, refused);

        var rng = new Random(manifest.GetHashCode(StringComparison.Ordinal) ^ 20240611);
        for (var i = 0; i < 300; i++, cases++)
        {
            var b = (byte[])valid.Clone();
            var flips = 1 + rng.Next(3);
            for (var f = 0; f < flips; f++) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
            DecodesOrRefuses(b, manifest, $"bit flips #{i}", failures, ref refused);
        }
        for (var i = 0; i < 300; i++, cases++)
        {
            var b = new byte[rng.Next(0, 2 * valid.Length)];
            rng.NextBytes(b);
            if (b.Length > 0 && i % 2 == 0) b[0] = TensorMessageSerializer.FormatVersion; // get past the version check
            DecodesOrRefuses(b, manifest, $"random #{i}", failures, ref refused);
        }
        // Trailing garbage after a valid message.
        DecodesOrRefuses([.. valid, 0], manifest, "trailing byte", failures, ref refused);
        cases++;

        Assert.True(cases >= 500, $"only {cases} cases");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    [Fact]
    public void A_huge_claimed_length_is_refused_before_anything_is_allocated()
    {
        var valid = TensorMessageSerializer.Encode(new ParametersSnapshot("job", 3, [1f, 2f]));
        // version(1) + JobId (4 + 3) + Version (8) = 16: the float count follows.
        BinaryPrimitives.WriteInt32LittleEndian(valid.AsSpan(16), int.MaxValue);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SerializationException>(() => TensorMessageSerializer.Decode(valid, "PS"));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("ParametersSnapshot", e.Message);
        Assert.Contains("offset 16", e.Message);
        Assert.Contains("'Parameters'", e.Message);
        Assert.Contains("found a count of 2147483647", e.Message);
        Assert.True(allocated < 64 * 1024, $"allocated {allocated} bytes while refusing");
    }

    [Fact]
    public void A_worker_state_with_an_unknown_role_or_optimizer_kind_is_refused_naming_the_field()
    {
        // "job" is 4 + 3 bytes after the version byte: the role is at offset 8, the optimizer kind at 8 + 1 + 4 + 8 = 21.
        var valid = TensorMessageSerializer.Encode(new WorkerLocalState("job", WorkerStateRole.Report, 1, 6,
            new DistTrain.Core.Optimizers.OptimizerState(DistTrain.Core.Optimizers.OptimizerKind.Sgd, 4, [[1f]])));
        var role = (byte[])valid.Clone();
        role[8] = 9;
        Assert.Contains("Role", Assert.Throws<SerializationException>(() => TensorMessageSerializer.Decode(role, "WS")).Message);
        var kind = (byte[])valid.Clone();
        kind[21] = 7;
        Assert.Contains("Optimizer.Kind", Assert.Throws<SerializationException>(() => TensorMessageSerializer.Decode(kind, "WS")).Message);
    }

    [Fact]
    public void An_undefined_DataSplit_is_refused()
    {
        var valid = TensorMessageSerializer.Encode(new EvaluateShard("job", 3, DataSplit.Test, 0, 1, [1f]));
        BinaryPrimitives.WriteInt32LittleEndian(valid.AsSpan(16), 7);
        var e = Assert.Throws<SerializationException>(() => TensorMessageSerializer.Decode(valid, "ES"));
        Assert.Contains("DataSplit", e.Message);
    }
}
