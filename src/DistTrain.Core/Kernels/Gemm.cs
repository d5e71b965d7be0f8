namespace DistTrain.Core.Kernels;

public enum GemmBackend
{
    /// <summary>OpenBLAS when the native library loads, else the managed kernel.</summary>
    Auto,
    OpenBlas,
    Managed,
}

/// <summary>
/// Chooses the GEMM implementation. <c>DISTTRAIN_GEMM=managed|openblas|auto</c> overrides the default;
/// the choice is made once per process and is immutable afterwards.
/// </summary>
public static class Gemm
{
    public const string EnvironmentVariable = "DISTTRAIN_GEMM";

    private static readonly Lazy<IGemm> LazyDefault = new(() => Create(ParseBackend(Environment.GetEnvironmentVariable(EnvironmentVariable))));

    /// <summary>The process-wide default, resolved on first use.</summary>
    public static IGemm Default => LazyDefault.Value;

    public static GemmBackend ParseBackend(string? value) => (value ?? "").Trim().ToLowerInvariant() switch
    {
        "" or "auto" => GemmBackend.Auto,
        "openblas" or "blas" => GemmBackend.OpenBlas,
        "managed" => GemmBackend.Managed,
        _ => throw new ArgumentException($"{EnvironmentVariable}='{value}' is not a GEMM backend; use auto, openblas or managed."),
    };

    public static IGemm Create(GemmBackend backend) => backend switch
    {
        GemmBackend.Managed => new ManagedGemm(),
        GemmBackend.OpenBlas => OpenBlasGemm.TryCreate(out var blas, out var why)
            ? blas!
            : throw new InvalidOperationException($"OpenBLAS was requested but could not be loaded: {why}. Install it (Debian: apt-get install libopenblas0-pthread) or set {EnvironmentVariable}=managed."),
        _ => OpenBlasGemm.TryCreate(out var auto, out _) ? auto! : new ManagedGemm(),
    };
}
