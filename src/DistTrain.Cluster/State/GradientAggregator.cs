using DistTrain.Core.Training;

namespace DistTrain.Cluster.State;

public enum ContributionOutcome
{
    /// <summary>Counted towards the step.</summary>
    Accepted,
    /// <summary>Computed from another parameter version (late or duplicated delivery): ignored.</summary>
    Stale,
    /// <summary>This shard already arrived for the step (a re-issued shard's second answer): ignored.</summary>
    Duplicate,
    /// <summary>No shard with this index is expected in the current step: ignored.</summary>
    UnknownShard,
    /// <summary>The gradient length differs from the model's parameter count (mismatched model): refused.</summary>
    WrongSize,
    /// <summary>NaN or infinity in the gradient or loss: refused so it never reaches the parameters.</summary>
    NonFinite,
    /// <summary>No step is in progress.</summary>
    NoStep,
}

/// <summary>
/// The parameter server's bookkeeping for one synchronous step: which shards are expected, which arrived,
/// and the sample-weighted average of their gradient sums. Gradients are summed in shard order, not
/// arrival order, so the result is bit-for-bit reproducible however messages interleave. Pure state, no Akka.
/// </summary>
public sealed class GradientAggregator
{
    private readonly int _parameterCount;
    private float[]?[] _slots = [];
    private bool[] _dropped = [];
    private int _received;

    public GradientAggregator(int parameterCount) => _parameterCount = parameterCount;

    public long Version { get; private set; } = -1;

    public int Attempt { get; private set; }

    public int Epoch { get; private set; }

    public int Step { get; private set; }

    public int ShardCount { get; private set; }

    public bool InProgress { get; private set; }

    public BatchResult Totals { get; private set; }

    /// <summary>Shards of this step whose gradient was refused as non-finite (they count as answered).</summary>
    public int DroppedShards { get; private set; }

    public bool IsComplete => InProgress && _received + DroppedShards == ShardCount;

    /// <summary>True when shard <paramref name="shardIndex"/>'s gradient was accepted into the current step.</summary>
    public bool IsAccepted(int shardIndex) => (uint)shardIndex < (uint)ShardCount && _slots[shardIndex] is not null;

    /// <summary>Starts (or restarts, with a higher attempt) the step from parameter version <paramref name="version"/>.</summary>
    public void Begin(long version, int attempt, int epoch, int step, int shardCount)
    {
        // Slots are cleared here, not at completion, so IsAccepted still answers for the step just completed.
        if (shardCount < 1) throw new ArgumentOutOfRangeException(nameof(shardCount), shardCount, "a step needs at least one shard");
        if (_slots.Length < shardCount)
        {
            _slots = new float[]?[shardCount];
            _dropped = new bool[shardCount];
        }
        Array.Clear(_slots);
        Array.Clear(_dropped);
        DroppedShards = 0;
        Version = version;
        Attempt = attempt;
        Epoch = epoch;
        Step = step;
        ShardCount = shardCount;
        _received = 0;
        Totals = default;
        InProgress = true;
    }

    public ContributionOutcome Add(long version, int attempt, int shardIndex, float[] gradientSum, int samples, double lossSum, int correct)
    {
        if (!InProgress) return ContributionOutcome.NoStep;
        if (version != Version || attempt != Attempt) return ContributionOutcome.Stale;
        if ((uint)shardIndex >= (uint)ShardCount) return ContributionOutcome.UnknownShard;
        if (_slots[shardIndex] is not null || _dropped[shardIndex]) return ContributionOutcome.Duplicate;
        if (gradientSum.Length != _parameterCount) return ContributionOutcome.WrongSize;
        if (!double.IsFinite(lossSum) || !GradientMath.AllFinite(gradientSum))
        {
            // Answered, but never averaged: a NaN or infinity must not reach the parameters.
            _dropped[shardIndex] = true;
            DroppedShards++;
            return ContributionOutcome.NonFinite;
        }
        _slots[shardIndex] = gradientSum;
        _received++;
        Totals += new BatchResult(samples, lossSum, correct);
        return ContributionOutcome.Accepted;
    }

    /// <summary>
    /// Writes Σ gradientSum / Σ samples over the shards that were accepted into <paramref name="mean"/> and
    /// ends the step. Returns false, leaving <paramref name="mean"/> untouched, when every shard was
    /// dropped as non-finite: then there is nothing to apply.
    /// </summary>
    public bool CompleteInto(Span<float> mean)
    {
        if (!IsComplete) throw new InvalidOperationException($"Step {Step} of version {Version} has {_received + DroppedShards} of {ShardCount} shards; it cannot be averaged yet.");
        if (mean.Length != _parameterCount) throw new ArgumentException($"mean buffer has {mean.Length} values; {_parameterCount} expected");
        var applied = _received > 0;
        if (applied)
        {
            // ((s0 + s1) + ... + sN) * (1/n) over the accepted shards in shard order, fused into as few passes as possible.
            var inv = 1f / Totals.Samples;
            int first = -1, last = -1;
            for (var i = 0; i < ShardCount; i++)
            {
                if (_slots[i] is null) continue;
                if (first < 0) first = i;
                last = i;
            }
            if (first == last)
            {
                GradientMath.ScaleInto(mean, _slots[first], inv);
            }
            else
            {
                _slots[first]!.CopyTo(mean);
                for (var i = first + 1; i < last; i++)
                    if (_slots[i] is { } g) GradientMath.Add(mean, g);
                GradientMath.AddThenScale(mean, _slots[last], inv);
            }
        }
        InProgress = false;
        return applied;
    }

    /// <summary>
    /// Replaces an accepted shard's gradient by a private copy, so that its sender may reuse the buffer
    /// (a straggler's shard re-issued to it within the same step, in one process). No-op otherwise.
    /// </summary>
    public void DetachSlot(int shardIndex)
    {
        if ((uint)shardIndex < (uint)ShardCount && _slots[shardIndex] is { } g) _slots[shardIndex] = (float[])g.Clone();
    }

    /// <summary>Abandons the step (e.g. the job stopped).</summary>
    public void Cancel()
    {
        Array.Clear(_slots);
        InProgress = false;
    }
}
