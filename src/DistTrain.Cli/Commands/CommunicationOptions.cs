using DistTrain.Cluster.Jobs;

namespace DistTrain.Cli.Commands;

/// <summary>
/// Command-line options for the communication modes (job JSON: "communication") and the linear
/// learning-rate scaling rule with warm-up; applied by <see cref="JobOptions.Build"/>.
/// </summary>
public static class CommunicationOptions
{
    public static readonly string[] ValueOptions = ["mode", "staleness", "compress", "local-steps", "stale-compensation", "lr-scale-from-batch", "warmup-steps"];

    public static TrainingJob Apply(CommandLine cl, TrainingJob job)
    {
        var comm = job.Communication ?? CommunicationSpec.Default;
        try
        {
            if (cl.String("mode") is { } mode) comm = comm with { Mode = CommunicationSpec.ParseMode(mode) };
            if (cl.String("compress") is { } c) comm = comm with { Compression = CommunicationSpec.ParseCompression(c) };
            if (cl.String("stale-compensation") is { } sc)
            {
                var rule = CommunicationSpec.ParseCompensation(sc);
                if (!comm.AppliesOnArrival) throw new UsageException($"--stale-compensation {sc} needs --mode async or ssp (the mode is {comm.Mode.ToString().ToLowerInvariant()})");
                comm = comm with { Compensation = rule };
            }
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        if (cl.Int("staleness", 0, 1_000_000) is { } s)
        {
            if (comm.Mode != TrainingMode.Ssp) throw new UsageException($"--staleness {s} needs --mode ssp (the mode is {comm.Mode.ToString().ToLowerInvariant()})");
            comm = comm with { Staleness = s };
        }
        if (cl.Int("local-steps", 1, 1_000_000) is { } k)
        {
            if (comm.Mode != TrainingMode.LocalSgd) throw new UsageException($"--local-steps {k} needs --mode local-sgd");
            comm = comm with { LocalSteps = k };
        }
        if (!comm.Equals(job.Communication ?? CommunicationSpec.Default)) job = job with { Communication = comm };

        var opt = job.Optimizer;
        // Linear scaling rule (Goyal et al. 2017): lr grows with the global batch relative to a reference batch.
        if (cl.Int("lr-scale-from-batch", 1, 1 << 20) is { } reference)
            opt = opt with { LearningRate = (float)(opt.LearningRate * ((double)job.BatchSize / reference)) };
        if (cl.Int("warmup-steps", 0, int.MaxValue) is { } warmup)
            opt = opt with { Schedule = (opt.Schedule ?? new Core.Optimizers.ScheduleSpec()) with { WarmupSteps = warmup } };
        return opt == job.Optimizer ? job : job with { Optimizer = opt };
    }

    public const string Help = """
          --mode sync|async|ssp|local-sgd   how workers and parameter server exchange updates (default sync)
          --staleness N          ssp: never apply a gradient computed more than N versions ago (default 2)
          --local-steps K        local-sgd: optimizer steps per worker between model averages (default 4)
          --stale-compensation none|lr|lookahead   async/ssp: step with lr / (1 + staleness), or compute
                                 each gradient at the parameters extrapolated by the expected staleness
          --compress none|fp16|bf16   16-bit gradients to the parameter server, with error feedback
          --lr-scale-from-batch B  linear scaling rule: lr x (batch size / B)   --warmup-steps N  linear warm-up
        """;
}
