using System.Runtime.Serialization;
using Akka.Actor;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Serialization;

public class TensorMessageSerializerTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly TensorMessageSerializer _serializer;

    public TensorMessageSerializerTests() : base(ClusterConfig.Load("akka.actor.provider = local", new Dictionary<string, string?>()))
    {
        _serializer = new TensorMessageSerializer((ExtendedActorSystem)Sys);
    }

    private object RoundTrip(object message)
    {
        var bytes = _serializer.ToBinary(message);
        Assert.Equal(TensorMessageSerializer.SizeOf(message), bytes.Length);
        return _serializer.FromBinary(bytes, _serializer.Manifest(message));
    }

    public static IEnumerable<object[]> TensorSamples() =>
        ProtocolSamples.All(ActorRefs.Nobody).Where(m => m is ITensorMessage or TensorChunk).Select(m => new[] { m });

    [Theory]
    [MemberData(nameof(TensorSamples))]
    public void Every_tensor_message_survives_a_round_trip_field_for_field(object message)
    {
        var back = RoundTrip(message);
        Assert.NotSame(message, back);
        Deep.Equal(message, back);
    }

    [Fact]
    public void Empty_arrays_and_strings_round_trip()
    {
        object[] messages =
        [
            new ComputeGradients("", 0, 0, 0, 0, 0, [], 0, []),
            new GradientsComputed("", -1, int.MinValue, int.MaxValue, 0, "", [], 0, double.NaN, 0),
            new ParametersSnapshot("", long.MaxValue, []),
            new EvaluateShard("", long.MinValue, DataSplit.Test, 0, 0, []),
            new TensorChunk(Guid.Empty, 0, 1, "", 0, "", []),
        ];
        foreach (var m in messages) Deep.Equal(m, RoundTrip(m));
    }

    [Fact]
    public void A_million_floats_with_arbitrary_bit_patterns_come_back_bit_for_bit()
    {
        // Random 32-bit patterns: NaNs with payloads (quiet and signalling), denormals, infinities, -0.
        var rng = new Random(1234);
        var g = new float[1_000_000];
        for (var i = 0; i < g.Length; i++) g[i] = BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue));
        g[0] = BitConverter.Int32BitsToSingle(0x7F800001); // signalling NaN, payload 1
        g[1] = BitConverter.Int32BitsToSingle(unchecked((int)0xFFC12345)); // negative quiet NaN with payload
        g[2] = -0f;
        var message = new GradientsComputed("j", 1, 1, 1, 0, "w", g, 128, 3.5, 100);

        var bytes = _serializer.ToBinary(message);
        var back = Assert.IsType<GradientsComputed>(_serializer.FromBinary(bytes, "GC"));

        Assert.Equal(4_000_000 + 1 + 5 + 8 + 12 + 5 + 16 + 4, bytes.Length); // payload + version + header fields
        var expected = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(g);
        var actual = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(back.Gradient);
        Assert.True(expected.SequenceEqual(actual), "gradient bit patterns differ");
    }

    [Fact]
    public void ParametersSnapshot_bytes_follow_the_documented_little_endian_layout()
    {
        var bytes = _serializer.ToBinary(new ParametersSnapshot("jé", 0x0102030405060708, [1f, -2f]));
        byte[] expected =
        [
            2, // format version
            3, 0, 0, 0, (byte)'j', 0xC3, 0xA9, // JobId: UTF-8 byte count, bytes
            8, 7, 6, 5, 4, 3, 2, 1, // Version, int64 LE
            2, 0, 0, 0, // float count
            0x00, 0x00, 0x80, 0x3F, // 1.0f
            0x00, 0x00, 0x00, 0xC0, // -2.0f
        ];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void Manifests_are_the_short_documented_codes()
    {
        var samples = ProtocolSamples.All(ActorRefs.Nobody);
        Assert.Equal("CG", _serializer.Manifest(samples.OfType<ComputeGradients>().Single()));
        Assert.Equal("GC", _serializer.Manifest(samples.OfType<GradientsComputed>().Single()));
        Assert.Equal("PS", _serializer.Manifest(samples.OfType<ParametersSnapshot>().Single()));
        Assert.Equal("ES", _serializer.Manifest(samples.OfType<EvaluateShard>().Single()));
        Assert.Equal("TC", _serializer.Manifest(samples.OfType<TensorChunk>().Single()));
        Assert.Equal(7401, _serializer.Identifier);
    }

    [Fact]
    public void An_unknown_manifest_is_a_SerializationException_naming_it()
    {
        var e = Assert.Throws<SerializationException>(() => _serializer.FromBinary([1, 0, 0, 0, 0], "XX"));
        Assert.Contains("'XX'", e.Message);
    }

    [Fact]
    public void An_unknown_format_version_is_a_SerializationException()
    {
        var bytes = _serializer.ToBinary(new ParametersSnapshot("j", 1, [1f]));
        bytes[0] = 1; // an older build's message (version 1 carried CL's local steps after its parameters)
        var e = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "PS"));
        Assert.Contains("format version 2, found 1", e.Message);
    }

    [Fact]
    public void A_local_sgd_request_carries_its_local_steps_before_the_parameters_which_end_it()
    {
        // The parameters end the message, as in CG, so the data plane sends them straight from the array (or
        // through its shared-memory ring) instead of copying the whole message into a buffer first.
        var bytes = _serializer.ToBinary(new ComputeGradients("j", 1, 2, 3, 4, 5, [6], 7UL, [1f], LocalSteps: [8, 9]));
        byte[] expected =
        [
            2, // format version
            1, 0, 0, 0, (byte)'j', // JobId
            1, 0, 0, 0, 0, 0, 0, 0, // Version
            2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, // Attempt, Epoch, Step, ShardIndex
            7, 0, 0, 0, 0, 0, 0, 0, // Seed
            1, 0, 0, 0, 6, 0, 0, 0, // SampleIds
            2, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, // LocalSteps
            1, 0, 0, 0, 0x00, 0x00, 0x80, 0x3F, // Parameters
        ];
        Assert.Equal(expected, bytes);
        Assert.Equal("CL", _serializer.Manifest(new ComputeGradients("j", 1, 2, 3, 4, 5, [6], 7UL, [1f], LocalSteps: [8, 9])));
        Deep.Equal(new ComputeGradients("j", 1, 2, 3, 4, 5, [6], 7UL, [1f], LocalSteps: [8, 9]), _serializer.FromBinary(bytes, "CL"));
    }

    [Fact]
    public void A_null_field_is_refused_at_the_sender_with_its_name()
    {
        var e = Assert.Throws<ArgumentNullException>(() => _serializer.ToBinary(new GradientsComputed("j", 1, 1, 1, 0, null!, [1f], 1, 0, 0)));
        Assert.Contains("GradientsComputed.WorkerId", e.Message);
    }

    [Fact]
    public void A_message_it_does_not_handle_is_refused_naming_the_type()
    {
        var e = Assert.Throws<ArgumentException>(() => _serializer.ToBinary(new GetParameters("j")));
        Assert.Contains(typeof(GetParameters).FullName!, e.Message);
    }
}
