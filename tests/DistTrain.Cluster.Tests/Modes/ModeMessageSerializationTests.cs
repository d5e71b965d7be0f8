using Akka.Actor;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Tests.Serialization;

namespace DistTrain.Cluster.Tests.Modes;

public class ModeMessageSerializationTests : Akka.TestKit.Xunit2.TestKit
{
    public ModeMessageSerializationTests() : base(ClusterConfig.Load("akka.actor.provider = local", new Dictionary<string, string?>()))
    {
    }

    [Fact]
    public void Messages_with_mode_fields_survive_their_bound_serializer_field_for_field()
    {
        foreach (var m in ProtocolSamples.ModeVariants(TestActor))
        {
            var serializer = Sys.Serialization.FindSerializerFor(m);
            Assert.Equal(m is ITensorMessage ? TensorMessageSerializer.Id : Sys.Serialization.FindSerializerForType(typeof(IDistTrainMessage)).Identifier,
                serializer.Identifier);
            var bytes = serializer.ToBinary(m);
            var manifest = serializer is Akka.Serialization.SerializerWithStringManifest s ? s.Manifest(m) : null;
            var back = manifest is null ? serializer.FromBinary(bytes, m.GetType()) : Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
            Deep.Equal(m, back);
        }
    }

    [Fact]
    public void Local_sgd_and_half_precision_messages_get_their_own_manifests_and_plain_ones_keep_theirs()
    {
        var variants = ProtocolSamples.ModeVariants(ActorRefs.Nobody);
        Assert.Equal("CL", TensorMessageSerializer.ManifestOf(variants.OfType<ComputeGradients>().Single()));
        Assert.Equal("GH", TensorMessageSerializer.ManifestOf(variants.OfType<GradientsComputed>().Single()));
        var plain = ProtocolSamples.All(ActorRefs.Nobody);
        Assert.Equal("CG", TensorMessageSerializer.ManifestOf(plain.OfType<ComputeGradients>().Single()));
        Assert.Equal("GC", TensorMessageSerializer.ManifestOf(plain.OfType<GradientsComputed>().Single()));
    }
}
