using DistTrain.Core.Kernels;

namespace DistTrain.Core.Tests.Kernels;

/// <summary>Loads OpenBLAS for the tests, or says why it could not (the reason becomes the skip message).</summary>
internal static class OpenBlasAvailability
{
    private static readonly Lazy<(OpenBlasGemm? Gemm, string Reason)> Loaded = new(() =>
        OpenBlasGemm.TryCreate(out var gemm, out var reason) ? (gemm, "") : (null, reason));

    public static OpenBlasGemm Gemm => Loaded.Value.Gemm
        ?? throw new InvalidOperationException($"OpenBLAS is not available: {Loaded.Value.Reason}");

    public static string? SkipReason => Loaded.Value.Gemm == null
        ? $"OpenBLAS could not be loaded ({Loaded.Value.Reason}); install libopenblas0-pthread to run this test."
        : null;
}

/// <summary>A fact that is skipped, with the loader's reason, when OpenBLAS cannot be loaded.</summary>
public sealed class OpenBlasFactAttribute : FactAttribute
{
    public OpenBlasFactAttribute()
    {
        if (OpenBlasAvailability.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory that is skipped, with the loader's reason, when OpenBLAS cannot be loaded.</summary>
public sealed class OpenBlasTheoryAttribute : TheoryAttribute
{
    public OpenBlasTheoryAttribute()
    {
        if (OpenBlasAvailability.SkipReason is { } reason) Skip = reason;
    }
}
