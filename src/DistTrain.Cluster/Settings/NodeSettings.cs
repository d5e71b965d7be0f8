namespace DistTrain.Cluster.Settings;

/// <summary>
/// One cluster node: its roles, where it listens, how others reach it, which seeds it joins, how many
/// worker actors it runs (worker role) and how many workers a job waits for (ps role). Validated here so
/// a bad setting fails before an ActorSystem starts.
/// </summary>
public sealed record NodeSettings(
    IReadOnlyList<string> Roles,
    string Host = "127.0.0.1",
    int Port = 4053,
    string? PublicHost = null,
    IReadOnlyList<string>? Seeds = null,
    int Workers = 1,
    int MinWorkers = 1,
    string SystemName = "disttrain")
{
    public static readonly IReadOnlySet<string> KnownRoles = new HashSet<string>(StringComparer.Ordinal) { "seed", "ps", "worker", "client" };

    public bool Has(string role) => Roles.Contains(role);

    public IReadOnlyList<string> SeedList => Seeds ?? [];

    public void Validate()
    {
        if (Roles.Count == 0) throw new ArgumentException("a node needs at least one role: seed, ps or worker (--roles / DISTTRAIN_ROLES)");
        foreach (var r in Roles)
            if (!KnownRoles.Contains(r)) throw new ArgumentException($"unknown role '{r}'; roles are seed, ps and worker (--roles / DISTTRAIN_ROLES)");
        if (Port is < 0 or > 65535) throw new ArgumentException($"port {Port} is outside 0..65535 (--port / DISTTRAIN_PORT)");
        if (string.IsNullOrWhiteSpace(Host)) throw new ArgumentException("host must not be empty (--host / DISTTRAIN_HOST)");
        if (Workers < 0) throw new ArgumentException($"workers must be >= 0 (got {Workers})");
        if (MinWorkers < 1) throw new ArgumentException($"min-workers must be >= 1 (got {MinWorkers})");
        foreach (var s in SeedList)
        {
            if (!Uri.TryCreate(s, UriKind.Absolute, out var u) || u.Scheme is not ("akka.tcp" or "akka.ssl.tcp") || u.Port <= 0 || string.IsNullOrEmpty(u.UserInfo))
                throw new ArgumentException($"seed '{s}' is not an Akka address; expected akka.tcp://{SystemName}@HOST:PORT (akka.ssl.tcp:// with TLS on) (--seeds / DISTTRAIN_SEEDS)");
            if (u.UserInfo != SystemName)
                throw new ArgumentException($"seed '{s}' names actor system '{u.UserInfo}' but this node's system is '{SystemName}'");
        }
        if (SeedList.Count == 0 && !Has("seed"))
            throw new ArgumentException("a node that is not a seed needs --seeds (or DISTTRAIN_SEEDS) to find the cluster");
    }
}
