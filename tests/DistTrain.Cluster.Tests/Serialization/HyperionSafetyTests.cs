using System.Runtime.Serialization;
using Akka.Serialization;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cluster.Tests.Serialization;

public class HyperionSafetyTests : Akka.TestKit.Xunit2.TestKit
{
    public HyperionSafetyTests() : base(ClusterConfig.Load("akka.actor.provider = local", new Dictionary<string, string?>()))
    {
    }

    [Fact]
    public void The_configured_Hyperion_refuses_to_deserialize_an_unsafe_type()
    {
        var hyperion = Assert.IsType<HyperionSerializer>(Sys.Serialization.FindSerializerFor(new GetParameters("j")));
        Assert.True(hyperion.Settings.DisallowUnsafeType);

        // Our own Hyperion will not even write one, so forge the bytes a hostile peer could send with an
        // unrestricted Hyperion using the same format options (version tolerance, preserved references).
        Assert.ThrowsAny<Exception>(() => hyperion.ToBinary(new FileInfo("/etc/passwd")));
        var unrestricted = new Hyperion.Serializer(Hyperion.SerializerOptions.Default
            .WithDisallowUnsafeType(false).WithVersionTolerance(true).WithPreserveObjectReferences(true));
        using var ms = new MemoryStream();
        unrestricted.Serialize(new FileInfo("/etc/passwd"), ms);

        // A SerializationException (Akka wraps Hyperion's EvilDeserializationException), so remoting drops the
        // message instead of tearing down the association.
        var e = Assert.Throws<SerializationException>(() => hyperion.FromBinary(ms.ToArray(), typeof(object)));
        Assert.Contains("System.IO.FileInfo", e.ToString());
        Assert.Contains("Unsafe Type", e.ToString());
    }
}
