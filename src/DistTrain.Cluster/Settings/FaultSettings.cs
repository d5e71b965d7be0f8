using Akka.Configuration;

namespace DistTrain.Cluster.Settings;

/// <summary>
/// Fault-tolerance knobs, read from the node's configuration (cluster-config/base.conf, <c>disttrain.*</c>).
/// StepDeadline: how long a shard may stay unanswered before the parameter server re-issues it to a worker
/// of the same step that has already answered (null = never). ReplicateEvery: every this many steps the
/// coordinator and parameter server copy their state to the standby actors on the other ps nodes (0 = off).
/// </summary>
public sealed record FaultSettings(TimeSpan? StepDeadline = null, int ReplicateEvery = 0)
{
    public const string StepDeadlineKey = "disttrain.step-deadline";
    public const string ReplicateEveryKey = "disttrain.replicate-every";

    public static readonly FaultSettings Off = new();

    public void Validate()
    {
        if (StepDeadline is { } d && d <= TimeSpan.Zero) throw new ArgumentException($"{StepDeadlineKey} must be positive or off (got {d})");
        if (ReplicateEvery < 0) throw new ArgumentException($"{ReplicateEveryKey} must be >= 0 (got {ReplicateEvery})");
    }

    /// <summary>Absent keys mean off; <c>step-deadline = off</c> (or 0) turns the deadline off.</summary>
    public static FaultSettings FromConfig(Config config)
    {
        TimeSpan? deadline = null;
        if (config.HasPath(StepDeadlineKey))
        {
            var raw = config.GetString(StepDeadlineKey, "off")?.Trim() ?? "off";
            if (raw is not ("off" or "0" or ""))
            {
                var value = config.GetTimeSpan(StepDeadlineKey, null, allowInfinite: false);
                if (value <= TimeSpan.Zero) throw new ArgumentException($"{StepDeadlineKey} must be a positive duration or off (got '{raw}')");
                deadline = value;
            }
        }
        var every = config.HasPath(ReplicateEveryKey) ? config.GetInt(ReplicateEveryKey) : 0;
        var s = new FaultSettings(deadline, every);
        s.Validate();
        return s;
    }
}
