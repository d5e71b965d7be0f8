using Akka.Configuration;

namespace DistTrain.Cluster.Transport;

/// <summary>
/// Settings of the tensor data plane, read from <c>disttrain.data-plane</c> (documented in
/// cluster-config/base.conf).
/// </summary>
/// <param name="Enabled">Off: every tensor message goes through Akka.Remote (and ChunkingTransport).</param>
/// <param name="Port">TCP port to listen on; 0 = any free port (peers learn it through the cluster).</param>
/// <param name="MaxFrameBytes">Largest frame a receiver accepts; a larger one drops the connection with an error.</param>
public sealed record DataPlaneSettings(bool Enabled = true, int Port = 0, int MaxFrameBytes = 512 << 20)
{
    public const string ConfigPath = "disttrain.data-plane";

    /// <summary>How long to wait for a peer's data-plane port (asked through Akka) before falling back for a while.</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A send blocked this long (the peer stopped reading) drops the connection; the message goes through Akka.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After a failed resolve, connect or send, the peer's messages go through Akka this long before the next try.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// On: a connection to a peer on the same machine (one that can map a file this node creates in
    /// <see cref="SharedMemoryDirectory"/>) moves tensor payloads through a shared-memory ring (<see cref="SharedMemoryRing"/>).
    /// </summary>
    public bool SharedMemory { get; init; } = true;

    /// <summary>Data bytes of each connection's ring; payloads above half of it travel inline on the socket.</summary>
    public int SharedMemoryRingBytes { get; init; } = 8 << 20;

    /// <summary>Where ring files are created and accepted from (a tmpfs); not in HOCON (tests point it elsewhere).</summary>
    public string SharedMemoryDirectory { get; init; } = "/dev/shm";

    public void Validate()
    {
        if (SharedMemoryRingBytes is < SharedMemoryRing.MinCapacity or > SharedMemoryRing.MaxCapacity)
            throw new ArgumentException(
                $"{ConfigPath}.shared-memory-ring must be {SharedMemoryRing.MinCapacity >> 10}KiB-{SharedMemoryRing.MaxCapacity >> 20}MiB (got {SharedMemoryRingBytes} bytes)");
        if (string.IsNullOrEmpty(SharedMemoryDirectory)) throw new ArgumentException("the data plane's shared-memory directory is empty");
        if (Port is < 0 or > 65535) throw new ArgumentException($"{ConfigPath}.port must be 0 (any free port) or 1-65535 (got {Port})");
        if (MaxFrameBytes < 1024) throw new ArgumentException($"{ConfigPath}.max-frame-bytes must be >= 1024 (got {MaxFrameBytes})");
        Positive(ResolveTimeout, "resolve-timeout");
        Positive(ConnectTimeout, "connect-timeout");
        Positive(SendTimeout, "send-timeout");
        Positive(RetryAfter, "retry-after");
    }

    private static void Positive(TimeSpan t, string key)
    {
        if (t <= TimeSpan.Zero) throw new ArgumentException($"{ConfigPath}.{key} must be a positive duration (got {t})");
    }

    /// <summary>Reads <c>disttrain.data-plane</c>; missing keys keep their defaults.</summary>
    public static DataPlaneSettings FromConfig(Config config)
    {
        var d = new DataPlaneSettings();
        var c = config.GetConfig(ConfigPath);
        if (c is null || c.IsEmpty) return d;
        var max = c.GetByteSize("max-frame-bytes", d.MaxFrameBytes) ?? d.MaxFrameBytes;
        if (max is < 0 or > int.MaxValue) throw new ArgumentException($"{ConfigPath}.max-frame-bytes must be at most {int.MaxValue} bytes (got {max})");
        var ring = c.GetByteSize("shared-memory-ring", d.SharedMemoryRingBytes) ?? d.SharedMemoryRingBytes;
        if (ring is < 0 or > int.MaxValue)
            throw new ArgumentException($"{ConfigPath}.shared-memory-ring must be {SharedMemoryRing.MinCapacity >> 10}KiB-{SharedMemoryRing.MaxCapacity >> 20}MiB (got {ring} bytes)");
        var s = new DataPlaneSettings(c.GetBoolean("enabled", d.Enabled), c.GetInt("port", d.Port), (int)max)
        {
            SharedMemory = c.GetBoolean("shared-memory", d.SharedMemory),
            SharedMemoryRingBytes = (int)ring,
            ResolveTimeout = c.GetTimeSpan("resolve-timeout", d.ResolveTimeout, allowInfinite: false),
            ConnectTimeout = c.GetTimeSpan("connect-timeout", d.ConnectTimeout, allowInfinite: false),
            SendTimeout = c.GetTimeSpan("send-timeout", d.SendTimeout, allowInfinite: false),
            RetryAfter = c.GetTimeSpan("retry-after", d.RetryAfter, allowInfinite: false),
        };
        s.Validate();
        return s;
    }

    /// <summary>
    /// Why the data plane cannot run on a node with this Akka configuration, or null when it can. With TLS
    /// on (<c>akka.remote.dot-netty.tcp.enable-ssl</c>) the data plane stays off: its socket is plain TCP, and
    /// tensors must not leave the encrypted transport (docs/security.md).
    /// </summary>
    public static string? UnavailableReason(Config config) =>
        config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl", false)
            ? "TLS is on (akka.remote.dot-netty.tcp.enable-ssl) and the data plane is plain TCP; tensors stay on Akka.Remote over TLS"
            : null;
}
