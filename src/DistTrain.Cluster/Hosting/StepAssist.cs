using DistTrain.Core.Kernels;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// Local mode's hand-off between workers and the parameter server's <see cref="WorkTeam"/>: a worker whose
/// gradient did not complete the step lends its thread to the step's averaging and optimizer pass
/// (<see cref="WorkTeam.Assist"/>) for at most <see cref="Budget"/>, instead of returning to the pool and
/// leaving the pass to wake a parked helper. It then finds its next shard already in its mailbox, so a
/// synchronous step has no thread wake-up at its end. Only for the synchronous path (the other modes have
/// no such pass) and only when each worker has a core of its own (it spins).
/// </summary>
public sealed record StepAssist(WorkTeam Team, TimeSpan Budget)
{
    /// <summary>Set to <c>off</c> to leave the pass to the team's parked helpers (for comparison).</summary>
    public const string EnvironmentVariable = "DISTTRAIN_LOCAL_ASSIST";

    /// <summary>How long a worker waits for the others by default: a few times a small model's step, well under a large one's imbalance cost.</summary>
    public static readonly TimeSpan DefaultBudget = TimeSpan.FromMilliseconds(2);

    /// <summary>Whether local mode should use it: more than one worker, no more workers than cores, and not turned off.</summary>
    public static bool Wanted(int workers) =>
        workers > 1 && workers <= Environment.ProcessorCount
        && !string.Equals(Environment.GetEnvironmentVariable(EnvironmentVariable), "off", StringComparison.OrdinalIgnoreCase);

    /// <summary>The team's pass count, taken before the worker sends its gradient (see <see cref="AfterSend"/>).</summary>
    public long BeforeSend() => Team.Runs;

    /// <summary>
    /// Assists the step's pass, unless the send ran a pass itself: on a local parameter server with the inline
    /// dispatcher the last gradient completes the step on the sending thread, and the next pass then waits for
    /// this worker's next gradient. Returns whether this thread took a range.
    /// </summary>
    public bool AfterSend(long before) => Team.Assist(Budget, before);
}
