namespace DistTrain.Cluster.Jobs;

/// <summary>How workers and the parameter server exchange work and updates.</summary>
public enum TrainingMode
{
    /// <summary>Bulk-synchronous: every worker computes a shard of the same global batch at the same version (the default).</summary>
    Sync,
    /// <summary>Each worker's gradient of a whole batch is applied on arrival; staleness unbounded (reported).</summary>
    Async,
    /// <summary>Stale-synchronous: as Async, but no gradient is applied with staleness above the bound.</summary>
    Ssp,
    /// <summary>Workers take LocalSteps optimizer steps on their shards, then the parameter server averages the models.</summary>
    LocalSgd,
}

/// <summary>How gradients travel from a worker to the parameter server.</summary>
public enum GradientCompression
{
    None,
    /// <summary>IEEE half precision (1-5-10), with error feedback on the worker.</summary>
    Fp16,
    /// <summary>bfloat16 (1-8-7, float32's range), with error feedback on the worker.</summary>
    Bf16,
}

/// <summary>
/// How the parameter server of an async/ssp job treats a gradient that was computed at older parameters
/// than the ones it is applied to (ignored by sync and local SGD).
/// </summary>
public enum StalenessCompensation
{
    /// <summary>Applied as it is, at the scheduled learning rate.</summary>
    None,
    /// <summary>
    /// Staleness-aware learning rate (Zhang et al. 2016): the update's step uses lr / (1 + staleness)
    /// (the sample-weighted mean of that factor when an ssp update applies several gradients).
    /// </summary>
    LearningRate,
    /// <summary>
    /// The worker computes its gradient at the parameters extrapolated to where they are expected to be
    /// when the gradient is applied: w + k·(w − w_prev), with w − w_prev the last update and k the number
    /// of other workers holding a batch (the updates expected to land first; at most the ssp bound), as in
    /// DANA (Hakimi et al. 2019) with the last update standing in for the momentum. k = 0 sends w as before.
    /// </summary>
    Lookahead,
}

/// <summary>
/// The job's communication options (job JSON key "communication"; CLI --mode, --staleness, --compress,
/// --local-steps, --stale-compensation). Null in a job means the defaults: synchronous, uncompressed.
/// </summary>
/// <param name="Mode">sync | async | ssp | local_sgd.</param>
/// <param name="Staleness">ssp: the largest staleness (parameter-server version when applied minus version computed at) ever applied.</param>
/// <param name="Compression">none | fp16 | bf16: gradient encoding on the way to the parameter server.</param>
/// <param name="LocalSteps">local_sgd: optimizer steps each worker takes between two model averages.</param>
/// <param name="Compensation">async/ssp: none | learning_rate | lookahead (the default), how stale gradients are
/// compensated (see <see cref="StalenessCompensation"/>). Lookahead brought async and ssp(2) on W2 from
/// 1-2 points below sync to within 0.3 points (docs/benchmarks.md); lr / (1 + staleness) did not help there.</param>
public sealed record CommunicationSpec(
    TrainingMode Mode = TrainingMode.Sync,
    int Staleness = 2,
    GradientCompression Compression = GradientCompression.None,
    int LocalSteps = 4,
    StalenessCompensation Compensation = StalenessCompensation.Lookahead)
{
    public static CommunicationSpec Default { get; } = new();

    /// <summary>The job's options, or the defaults when it has none.</summary>
    public static CommunicationSpec Of(TrainingJob job) => job.Communication ?? Default;

    /// <summary>True for the modes that apply each worker's gradient on arrival (async, ssp).</summary>
    public bool AppliesOnArrival => Mode is TrainingMode.Async or TrainingMode.Ssp;

    /// <summary>The staleness bound in force: null = unbounded (async).</summary>
    public int? Bound => Mode == TrainingMode.Ssp ? Staleness : null;

    public void Validate()
    {
        if (!Enum.IsDefined(Mode)) throw new ArgumentException($"communication mode {(int)Mode} is not one of sync, async, ssp, local_sgd");
        if (!Enum.IsDefined(Compression)) throw new ArgumentException($"compression {(int)Compression} is not one of none, fp16, bf16");
        if (Staleness < 0) throw new ArgumentException($"staleness must be >= 0 (got {Staleness})");
        if (LocalSteps < 1) throw new ArgumentException($"local steps must be >= 1 (got {LocalSteps})");
        if (!Enum.IsDefined(Compensation)) throw new ArgumentException($"staleness compensation {(int)Compensation} is not one of none, lr, lookahead");
    }

    public static TrainingMode ParseMode(string s) => s.Trim().ToLowerInvariant() switch
    {
        "sync" or "bsp" => TrainingMode.Sync,
        "async" => TrainingMode.Async,
        "ssp" => TrainingMode.Ssp,
        "local-sgd" or "local_sgd" or "localsgd" => TrainingMode.LocalSgd,
        _ => throw new ArgumentException($"unknown mode '{s}'; use sync, async, ssp or local-sgd"),
    };

    public static GradientCompression ParseCompression(string s) => s.Trim().ToLowerInvariant() switch
    {
        "none" or "fp32" => GradientCompression.None,
        "fp16" or "half" => GradientCompression.Fp16,
        "bf16" or "bfloat16" => GradientCompression.Bf16,
        _ => throw new ArgumentException($"unknown compression '{s}'; use none, fp16 or bf16"),
    };

    public static StalenessCompensation ParseCompensation(string s) => s.Trim().ToLowerInvariant() switch
    {
        "none" or "off" => StalenessCompensation.None,
        "lr" or "learning-rate" or "learning_rate" => StalenessCompensation.LearningRate,
        "lookahead" or "look-ahead" => StalenessCompensation.Lookahead,
        _ => throw new ArgumentException($"unknown staleness compensation '{s}'; use none, lr or lookahead"),
    };

    /// <summary>The compensation in force: <see cref="Compensation"/> in async/ssp, none otherwise.</summary>
    public StalenessCompensation ActiveCompensation => AppliesOnArrival ? Compensation : StalenessCompensation.None;

    public string Describe() => Mode switch
    {
        TrainingMode.Sync => "sync",
        TrainingMode.Async => "async",
        TrainingMode.Ssp => $"ssp (staleness <= {Staleness})",
        _ => $"local-sgd (k = {LocalSteps})",
    } + (Compression == GradientCompression.None ? "" : $", {Compression.ToString().ToLowerInvariant()} gradients with error feedback")
      + ActiveCompensation switch
    {
        StalenessCompensation.LearningRate => ", lr / (1 + staleness)",
        StalenessCompensation.Lookahead => ", lookahead",
        _ => "",
    };
}
