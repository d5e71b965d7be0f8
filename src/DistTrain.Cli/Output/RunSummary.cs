namespace DistTrain.Cli.Output;

/// <summary>
/// What a finished run reports, written as summary.json with snake_case keys in this order.
/// Non-finite numbers (a diverged loss, the precision of a class that was never predicted) are written
/// as <c>null</c>, since JSON has no NaN.
/// </summary>
public sealed record RunSummary
{
    /// <summary>Identifies the run (and, in cluster mode, the job every node worked on).</summary>
    public required string JobId { get; init; }

    /// <summary>"local" or "cluster".</summary>
    public required string Mode { get; init; }

    public required string Preset { get; init; }

    public required ulong Seed { get; init; }

    /// <summary>Epochs actually run (fewer than asked for when stopped early).</summary>
    public required int Epochs { get; init; }

    public required int Workers { get; init; }

    public required int BatchSize { get; init; }

    public required string Optimizer { get; init; }

    public required double LearningRate { get; init; }

    /// <summary>Which GEMM kernel ran (for example "openblas" or "managed").</summary>
    public required string Gemm { get; init; }

    /// <summary>Wall-clock training time.</summary>
    public required double Seconds { get; init; }

    /// <summary>Training throughput over the whole run.</summary>
    public required double SamplesPerSecond { get; init; }

    public required bool StoppedEarly { get; init; }

    public required double TestLoss { get; init; }

    public required double TestAccuracy { get; init; }

    /// <summary>SHA-256 of the final flat parameter buffer, hex; equal across runs that trained identically.</summary>
    public required string ParametersSha256 { get; init; }

    /// <summary>File name of the final checkpoint inside the output folder, or null when none was written.</summary>
    public required string? Checkpoint { get; init; }

    public required IReadOnlyList<string> ClassNames { get; init; }

    /// <summary>Per-class precision, indexed like <see cref="ClassNames"/>.</summary>
    public required IReadOnlyList<double> Precision { get; init; }

    /// <summary>Per-class recall, indexed like <see cref="ClassNames"/>.</summary>
    public required IReadOnlyList<double> Recall { get; init; }

    /// <summary>Row = true class, column = predicted class.</summary>
    public required int[][] ConfusionMatrix { get; init; }

    /// <summary>Converts a rectangular confusion matrix (row = true class) to the jagged form JSON holds.</summary>
    public static int[][] ToJagged(int[,] matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        var rows = new int[matrix.GetLength(0)][];
        for (var r = 0; r < rows.Length; r++)
        {
            rows[r] = new int[matrix.GetLength(1)];
            for (var c = 0; c < rows[r].Length; c++) rows[r][c] = matrix[r, c];
        }
        return rows;
    }

    /// <summary>Throws if the fields contradict each other; the message names the field.</summary>
    public void Validate()
    {
        if (Mode is not ("local" or "cluster"))
            throw new ArgumentException($"summary mode must be \"local\" or \"cluster\" (got \"{Mode}\").");
        if (Epochs < 0) throw new ArgumentException($"summary epochs must be >= 0 (got {Epochs}).");
        if (Workers < 1) throw new ArgumentException($"summary workers must be >= 1 (got {Workers}).");
        if (BatchSize < 1) throw new ArgumentException($"summary batch_size must be >= 1 (got {BatchSize}).");
        var n = ClassNames.Count;
        if (Precision.Count != n)
            throw new ArgumentException($"summary precision has {Precision.Count} entries but there are {n} class names.");
        if (Recall.Count != n)
            throw new ArgumentException($"summary recall has {Recall.Count} entries but there are {n} class names.");
        if (ConfusionMatrix.Length != n)
            throw new ArgumentException($"summary confusion_matrix has {ConfusionMatrix.Length} rows but there are {n} class names.");
        for (var r = 0; r < n; r++)
            if (ConfusionMatrix[r] is null || ConfusionMatrix[r].Length != n)
                throw new ArgumentException($"summary confusion_matrix row {r} has {ConfusionMatrix[r]?.Length ?? 0} columns; expected {n} (one per class).");
    }
}
