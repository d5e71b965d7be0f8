namespace DistTrain.Cluster.Settings;

/// <summary>
/// Coordinator behaviour. MinimumWorkers: how many prepared workers a job waits for before its first
/// step (a fixed worker count makes runs reproducible). PrepareTimeout: how long to wait for them.
/// OutputRoot: where a job that names no output folder writes its checkpoint (OutputRoot/JobId), e.g. jobs
/// submitted to a cluster.
/// </summary>
/// <param name="MaxConsecutiveBadSteps">Steps in a row with a dropped non-finite gradient after which the job
/// stops (its last checkpoint is kept).</param>
public sealed record CoordinatorSettings(int MinimumWorkers = 1, TimeSpan? PrepareTimeout = null, string? OutputRoot = null,
    int MaxConsecutiveBadSteps = 3)
{
    public TimeSpan EffectivePrepareTimeout => PrepareTimeout ?? TimeSpan.FromMinutes(2);

    public void Validate()
    {
        if (MinimumWorkers < 1) throw new ArgumentException($"minimum workers must be >= 1 (got {MinimumWorkers})");
        if (EffectivePrepareTimeout <= TimeSpan.Zero) throw new ArgumentException("prepare timeout must be positive");
        if (MaxConsecutiveBadSteps < 1) throw new ArgumentException($"max consecutive bad steps must be >= 1 (got {MaxConsecutiveBadSteps})");
    }
}
