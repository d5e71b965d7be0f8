namespace DistTrain.Core.Kernels;

public enum GemmBackend
{
    /// <summary>OpenBLAS when the native library loads, else the managed kernel.</summary>
    Auto,
    OpenBlas,
    Managed,
}

/// <summary>A chosen GEMM implementation and a one-line, human-readable account of why it was chosen.</summary>
public sealed record GemmSelection(IGemm Gemm, string Description);

/// <summary>
/// Chooses the GEMM implementation. <c>DISTTRAIN_GEMM=managed|openblas|auto</c> overrides the default;
/// <c>DISTTRAIN_BLAS_THREADS=N</c> sets the backend's thread count (OpenBLAS's process-wide pool, or the
/// managed kernel's threads); unset leaves OpenBLAS at its own default (OPENBLAS_NUM_THREADS or the
/// core count) and the managed kernel at 1. Both variables are read once, on first use of
/// <see cref="Default"/>; the choice is immutable afterwards.
/// </summary>
public static class Gemm
{
    public const string EnvironmentVariable = "DISTTRAIN_GEMM";
    public const string ThreadsEnvironmentVariable = "DISTTRAIN_BLAS_THREADS";

    private static readonly Lazy<GemmSelection> LazyDefault = new(() => Select(
        ParseBackend(Environment.GetEnvironmentVariable(EnvironmentVariable)),
        ParseThreads(Environment.GetEnvironmentVariable(ThreadsEnvironmentVariable))));

    /// <summary>The process-wide default, resolved on first use.</summary>
    public static IGemm Default => LazyDefault.Value.Gemm;

    /// <summary>
    /// One line for the start-up log: backend, library, threads, and — when the managed kernel runs
    /// because OpenBLAS did not load — why. Resolves <see cref="Default"/> if it was not yet.
    /// </summary>
    public static string Describe() => LazyDefault.Value.Description;

    public static GemmBackend ParseBackend(string? value) => (value ?? "").Trim().ToLowerInvariant() switch
    {
        "" or "auto" => GemmBackend.Auto,
        "openblas" or "blas" => GemmBackend.OpenBlas,
        "managed" => GemmBackend.Managed,
        _ => throw new ArgumentException($"{EnvironmentVariable}='{value}' is not a GEMM backend; use auto, openblas or managed."),
    };

    /// <summary>Parses <c>DISTTRAIN_BLAS_THREADS</c>: null/empty = leave the backend's default, else an integer ≥ 1.</summary>
    public static int? ParseThreads(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (int.TryParse(value.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var threads) && threads >= 1)
            return threads;
        throw new ArgumentException($"{ThreadsEnvironmentVariable}='{value}' is not a thread count; use an integer >= 1 (or leave it unset).");
    }

    public static IGemm Create(GemmBackend backend) => Select(backend, threads: null).Gemm;

    /// <summary>Builds the backend and describes it. <paramref name="threads"/> null keeps the backend's default.</summary>
    public static GemmSelection Select(GemmBackend backend, int? threads)
    {
        if (threads is < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "GEMM threads must be >= 1.");
        var setting = $"{EnvironmentVariable}={backend.ToString().ToLowerInvariant()}";
        switch (backend)
        {
            case GemmBackend.Managed:
            {
                var managed = new ManagedGemm(threads ?? 1);
                return new GemmSelection(managed, $"GEMM: {managed.Name}, as requested by {setting}");
            }
            case GemmBackend.OpenBlas:
            {
                if (!OpenBlasGemm.TryCreate(out var blas, out var why))
                    throw new InvalidOperationException($"OpenBLAS was requested ({setting}) but could not be loaded ({why}). Install it (Debian: apt-get install libopenblas0-pthread) or set {EnvironmentVariable}=managed.");
                ApplyThreads(blas!, threads);
                return new GemmSelection(blas!, $"GEMM: {blas!.Name}, as requested by {setting}");
            }
            default:
            {
                if (OpenBlasGemm.TryCreate(out var blas, out var why))
                {
                    ApplyThreads(blas!, threads);
                    return new GemmSelection(blas!, $"GEMM: {blas!.Name} ({setting})");
                }
                var managed = new ManagedGemm(threads ?? 1);
                return new GemmSelection(managed,
                    $"GEMM: {managed.Name} because OpenBLAS could not be loaded ({why}); install libopenblas0-pthread for several times faster training");
            }
        }
    }

    private static void ApplyThreads(OpenBlasGemm blas, int? threads)
    {
        if (threads is { } t && blas.CanSetThreads) blas.SetThreads(t);
    }
}
