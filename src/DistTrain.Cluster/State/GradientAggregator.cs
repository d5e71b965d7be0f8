using DistTrain.Core.Kernels;
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
    private BatchResult[] _results = [];
    private readonly List<int> _droppedAtCompletion = [];
    private int _received;

    private float[] _mean = [];         // CompleteInto's target, for the cached range delegate
    private float _inverseSamples;      // 1 / the accepted shards' samples, while a step completes
    private readonly Func<int, int, bool> _averageRange; // one delegate for every step: no allocation per step

    public GradientAggregator(int parameterCount)
    {
        _parameterCount = parameterCount;
        _averageRange = (start, length) => Average(_mean, start, length);
    }

    public long Version { get; private set; } = -1;

    public int Attempt { get; private set; }

    public int Epoch { get; private set; }

    public int Step { get; private set; }

    public int ShardCount { get; private set; }

    public bool InProgress { get; private set; }

    /// <summary>Samples, loss and correct counts of the shards accepted so far, summed in shard order (not arrival order).</summary>
    public BatchResult Totals
    {
        get
        {
            var t = default(BatchResult);
            for (var i = 0; i < ShardCount; i++) if (_slots[i] is not null) t += _results[i];
            return t;
        }
    }

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
            _results = new BatchResult[shardCount];
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
        InProgress = true;
    }

    public ContributionOutcome Add(long version, int attempt, int shardIndex, float[] gradientSum, int samples, double lossSum, int correct)
    {
        if (!InProgress) return ContributionOutcome.NoStep;
        if (version != Version || attempt != Attempt) return ContributionOutcome.Stale;
        if ((uint)shardIndex >= (uint)ShardCount) return ContributionOutcome.UnknownShard;
        if (_slots[shardIndex] is not null || _dropped[shardIndex]) return ContributionOutcome.Duplicate;
        if (gradientSum.Length != _parameterCount) return ContributionOutcome.WrongSize;
        if (!double.IsFinite(lossSum))
        {
            // Answered, but never averaged: a NaN or infinity must not reach the parameters.
            Drop(shardIndex);
            return ContributionOutcome.NonFinite;
        }
        // The gradient's own values are checked when the step completes, in the same pass that sums them
        // (a sum is finite only if every term is): one read of each gradient instead of two.
        _slots[shardIndex] = gradientSum;
        _results[shardIndex] = new BatchResult(samples, lossSum, correct);
        _received++;
        return ContributionOutcome.Accepted;
    }

    private void Drop(int shardIndex)
    {
        _dropped[shardIndex] = true;
        DroppedShards++;
    }

    /// <summary>
    /// Shards whose gradient held a NaN or infinity, found when the step completed (they are dropped and
    /// counted in <see cref="DroppedShards"/>; a non-finite loss is refused on arrival instead).
    /// </summary>
    public IReadOnlyList<int> DroppedAtCompletion => _droppedAtCompletion;

    /// <summary>
    /// Writes Σ gradientSum / Σ samples over the shards that were accepted into <paramref name="mean"/>, then
    /// calls <paramref name="apply"/>(start, length) over the whole buffer (the optimizer), and ends the step.
    /// A shard whose gradient holds a NaN or infinity is dropped here (listed in <see cref="DroppedAtCompletion"/>)
    /// and the others are averaged. Returns false, without calling <paramref name="apply"/> (<paramref name="mean"/> then holds
    /// no defined values), when nothing finite is left to apply. Both passes run on the ranges of <paramref name="team"/> in parallel
    /// (on the caller when null), the second only after every range of the first was checked finite; the
    /// result is the same bits for any team.
    /// </summary>
    public bool CompleteInto(float[] mean, WorkTeam? team = null, Action<int, int>? apply = null)
    {
        if (!IsComplete) throw new InvalidOperationException($"Step {Step} of version {Version} has {_received + DroppedShards} of {ShardCount} shards; it cannot be averaged yet.");
        ArgumentNullException.ThrowIfNull(mean);
        if (mean.Length != _parameterCount) throw new ArgumentException($"mean buffer has {mean.Length} values; {_parameterCount} expected");
        _droppedAtCompletion.Clear();
        InProgress = false;
        if (_received == 0) return false;
        _mean = mean;
        _inverseSamples = 1f / Totals.Samples;
        if (WorkTeam.Run(team, _parameterCount, _averageRange, apply)) return true;
        // Rare path: find the shards with non-finite values, drop them and average the rest.
        for (var i = 0; i < ShardCount; i++)
        {
            if (_slots[i] is not { } g || GradientMath.AllFinite(g)) continue;
            _slots[i] = null;
            _received--;
            Drop(i);
            _droppedAtCompletion.Add(i);
        }
        _inverseSamples = 1f / Totals.Samples;
        if (_received > 0 && Average(mean, 0, _parameterCount))
        {
            apply?.Invoke(0, _parameterCount);
            return true;
        }
        // Every term finite but the sum overflowed: nothing of this step can be applied.
        for (var i = 0; i < ShardCount; i++)
        {
            if (_slots[i] is null) continue;
            _slots[i] = null;
            _received--;
            Drop(i);
            _droppedAtCompletion.Add(i);
        }
        return false;
    }

    /// <summary>
    /// mean[start..+length] = ((s0 + s1) + ... + sN) * (1/n) over the accepted shards in shard order, in as
    /// few passes as possible; false when the result holds a NaN or infinity.
    /// </summary>
    private bool Average(float[] meanBuffer, int start, int length)
    {
        var mean = meanBuffer.AsSpan(start, length);
        var inv = _inverseSamples;
        int first = -1, last = -1;
        for (var i = 0; i < ShardCount; i++)
        {
            if (_slots[i] is null) continue;
            if (first < 0) first = i;
            last = i;
        }
        if (first == last)
        {
            GradientMath.ScaleInto(mean, _slots[first].AsSpan(start, length), inv);
        }
        else
        {
            _slots[first].AsSpan(start, length).CopyTo(mean);
            for (var i = first + 1; i < last; i++)
                if (_slots[i] is { } g) GradientMath.Add(mean, g.AsSpan(start, length));
            GradientMath.AddThenScale(mean, _slots[last].AsSpan(start, length), inv);
        }
        return GradientMath.AllFinite(mean);
    }

    /// <summary>
    /// Replaces an accepted shard's gradient by a private copy, so that its sender may reuse the buffer
    /// (a straggler's shard re-issued to it within the same step, in one process). No-op otherwise.
    /// </summary>
    public void DetachSlot(int shardIndex)
    {
        if (InProgress && (uint)shardIndex < (uint)ShardCount && _slots[shardIndex] is { } g) _slots[shardIndex] = (float[])g.Clone();
    }

    /// <summary>
    /// Once the step is over (completed or cancelled), hands every gradient it accepted back to
    /// <paramref name="pool"/> (which takes only arrays it lent: those that came off the data plane). Nothing
    /// reads them afterwards; the slots still answer <see cref="IsAccepted"/> until the next <see cref="Begin"/>.
    /// </summary>
    public void ReleaseGradients(Serialization.ReceiveBufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (InProgress) throw new InvalidOperationException($"step {Step} of version {Version} is still in progress; its gradients are in use");
        for (var i = 0; i < ShardCount; i++)
            if (_slots[i] is { } g) pool.Return(g);
    }

    /// <summary>Abandons the step (e.g. the job stopped).</summary>
    public void Cancel()
    {
        Array.Clear(_slots);
        InProgress = false;
    }
}
