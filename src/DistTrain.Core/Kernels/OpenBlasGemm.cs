using System.Runtime.InteropServices;

namespace DistTrain.Core.Kernels;

/// <summary>
/// cblas_sgemm from OpenBLAS through a function pointer resolved once from the loaded library.
/// OpenBLAS keeps one thread pool per process: <see cref="SetThreads"/> changes it for every
/// instance (and every other caller of the same library), so choose it once at start-up and keep
/// workers × threads ≤ cores (oversubscription costs several times the throughput).
/// </summary>
public sealed unsafe class OpenBlasGemm : IGemm
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;
    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, void> _setThreads;
    private readonly delegate* unmanaged<int> _getThreads;

    private OpenBlasGemm(nint library, string libraryName)
    {
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(library, "cblas_sgemm");
        _setThreads = NativeLibrary.TryGetExport(library, "openblas_set_num_threads", out var set) ? (delegate* unmanaged<int, void>)set : null;
        _getThreads = NativeLibrary.TryGetExport(library, "openblas_get_num_threads", out var get) ? (delegate* unmanaged<int>)get : null;
        Library = libraryName;
    }

    /// <summary>The name the library was loaded by.</summary>
    public string Library { get; }

    /// <summary>OpenBLAS's current thread count (process-wide); 1 if the library does not say.</summary>
    public int Threads => _getThreads == null ? 1 : _getThreads();

    /// <summary>Whether this build of the library exports openblas_set_num_threads.</summary>
    public bool CanSetThreads => _setThreads != null;

    public string Name => $"openblas ({Library}, {Threads} thread{(Threads == 1 ? "" : "s")})";

    /// <summary>Sets OpenBLAS's process-wide thread count.</summary>
    public void SetThreads(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "OpenBLAS needs at least 1 thread.");
        if (_setThreads == null) throw new NotSupportedException($"{Library} does not export openblas_set_num_threads; set OPENBLAS_NUM_THREADS before start-up instead.");
        _setThreads(threads);
    }

    private static readonly string[] Candidates =
    [
        "libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "libopenblas.so",
        "openblas",
    ];

    public static bool TryCreate(out OpenBlasGemm? gemm, out string reason)
    {
        var tried = new List<string>();
        foreach (var name in Candidates)
        {
            if (!NativeLibrary.TryLoad(name, out var handle))
            {
                tried.Add($"{name}: not found");
                continue;
            }
            if (NativeLibrary.TryGetExport(handle, "cblas_sgemm", out _))
            {
                gemm = new OpenBlasGemm(handle, name);
                reason = "";
                return true;
            }
            tried.Add($"{name}: loaded but has no cblas_sgemm export");
            NativeLibrary.Free(handle);
        }
        gemm = null;
        reason = string.Join("; ", tried);
        return false;
    }

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f)
        {
            // The seam's contract (IGemm): A and B are not read, C = beta·C. Done here because OpenBLAS
            // rejects some leading dimensions of an empty A or B (and then does nothing at all).
            ManagedGemm.ScaleC(c, m, n, ldc, beta);
            return;
        }
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
        {
            _sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k,
                alpha, pa, lda, pb, ldb, beta, pc, ldc);
        }
    }
}
