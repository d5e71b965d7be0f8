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
/// The job's communication options (job JSON key "communication"; CLI --mode, --staleness, --compress,
/// --local-steps). Null in a job means the defaults: synchronous, uncompressed.
/// </summary>
/// <param name="Mode">sync | async | ssp | local_sgd.</param>
/// <param name="Staleness">ssp: the largest staleness (parameter-server version when applied minus version computed at) ever applied.</param>
/// <param name="Compression">none | fp16 | bf16: gradient encoding on the way to the parameter server.</param>
/// <param name="LocalSteps">local_sgd: optimizer steps each worker takes between two model averages.</param>
public sealed record CommunicationSpec(
    TrainingMode Mode = TrainingMode.Sync,
    int Staleness = 2,
    GradientCompression Compression = GradientCompression.None,
    int LocalSteps = 4)
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

    public string Describe() => Mode switch
    {
        TrainingMode.Sync => "sync",
        TrainingMode.Async => "async",
        TrainingMode.Ssp => $"ssp (staleness <= {Staleness})",
        _ => $"local-sgd (k = {LocalSteps})",
    } + (Compression == GradientCompression.None ? "" : $", {Compression.ToString().ToLowerInvariant()} gradients with error feedback");
}
