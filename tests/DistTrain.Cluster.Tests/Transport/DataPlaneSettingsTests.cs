using Akka.Configuration;
using DistTrain.Cluster.Settings;
using DistTrain.Cluster.Transport;

namespace DistTrain.Cluster.Tests.Transport;

public class DataPlaneSettingsTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    [Fact]
    public void Base_conf_turns_the_data_plane_on_with_a_512MiB_frame_limit()
    {
        var s = DataPlaneSettings.FromConfig(ClusterConfig.Load(environment: NoEnvironment));
        Assert.True(s.Enabled);
        Assert.Equal(0, s.Port);
        Assert.Equal(512 << 20, s.MaxFrameBytes);
        Assert.Equal(TimeSpan.FromSeconds(10), s.SendTimeout);
        Assert.True(s.SharedMemory);
        Assert.Equal(8 << 20, s.SharedMemoryRingBytes);
    }

    [Fact]
    public void DISTTRAIN_DATA_PLANE_off_turns_it_off_and_other_values_are_refused_by_name()
    {
        var off = ClusterConfig.Load(environment: new Dictionary<string, string?> { ["DISTTRAIN_DATA_PLANE"] = "OFF" });
        Assert.False(DataPlaneSettings.FromConfig(off).Enabled);
        var e = Assert.Throws<ArgumentException>(() => ClusterConfig.Load(environment: new Dictionary<string, string?> { ["DISTTRAIN_DATA_PLANE"] = "maybe" }));
        Assert.StartsWith("DISTTRAIN_DATA_PLANE must be on or off", e.Message);
    }

    [Theory]
    [InlineData("port = 70000", "disttrain.data-plane.port")]
    [InlineData("max-frame-bytes = 100b", "disttrain.data-plane.max-frame-bytes")]
    [InlineData("send-timeout = 0s", "disttrain.data-plane.send-timeout")]
    [InlineData("shared-memory-ring = 1KiB", "disttrain.data-plane.shared-memory-ring")]
    [InlineData("shared-memory-ring = 4GiB", "disttrain.data-plane.shared-memory-ring")]
    public void Bad_values_name_their_key(string hocon, string key)
    {
        var config = ConfigurationFactory.ParseString($"disttrain.data-plane {{ {hocon} }}");
        var e = Assert.Throws<ArgumentException>(() => DataPlaneSettings.FromConfig(config));
        Assert.StartsWith(key, e.Message);
    }

    [Fact]
    public void With_TLS_on_the_data_plane_is_unavailable_and_says_why()
    {
        Assert.Null(DataPlaneSettings.UnavailableReason(ClusterConfig.Load(environment: NoEnvironment)));
        var tls = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.enable-ssl = true");
        Assert.Contains("TLS", DataPlaneSettings.UnavailableReason(tls));
    }
}
