using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using DistTrain.Core.Kernels;

namespace DistTrain.Benchmarks;

/// <summary>
/// SGEMM throughput (median GFLOP/s) for the DESIGN.md §4 shapes and the dense-layer products of the
/// MLP 784-256-128-10 at batch 128: OpenBLAS called directly (raw cblas_sgemm P/Invoke declared here),
/// the seam (<see cref="Gemm.Default"/> called through <see cref="IGemm"/>), and <see cref="ManagedGemm"/>,
/// each at 1 and 2 threads. The seam/direct ratio shows what validation, pinning and the interface
/// call cost on top of the library.
/// </summary>
internal static unsafe partial class GemmBench
{
    private sealed record Shape(string Name, bool TransA, bool TransB, int M, int N, int K)
    {
        public double Flops => 2.0 * M * N * K;
        public string Op => $"{(TransA ? 'T' : 'N')}{(TransB ? 'T' : 'N')}";
    }

    // The MLP's products, as Dense issues them (x (N,in), W (out,in), batch N = 128):
    //   forward  y (N,out)  = x · Wᵀ          NT  m=N,   n=out, k=in
    //   backward dW (out,in) += dyᵀ · x        TN  m=out, n=in,  k=N
    //   backward dx (N,in)  = dy · W           NN  m=N,   n=in,  k=out   (not for the first layer)
    private static readonly Shape[] Shapes =
    [
        new("(128x784)(784x256)", false, false, 128, 256, 784),
        new("(256x256)^2", false, false, 256, 256, 256),
        new("(1024x1024)^2", false, false, 1024, 1024, 1024),
        new("mlp fc1 fwd", false, true, 128, 256, 784),
        new("mlp fc1 dW", true, false, 256, 784, 128),
        new("mlp fc2 fwd", false, true, 128, 128, 256),
        new("mlp fc2 dW", true, false, 128, 256, 128),
        new("mlp fc2 dx", false, false, 128, 256, 128),
        new("mlp fc3 fwd", false, true, 128, 10, 128),
        new("mlp fc3 dW", true, false, 10, 128, 128),
        new("mlp fc3 dx", false, false, 128, 128, 10),
    ];

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    [LibraryImport("libopenblas.so.0")]
    private static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport("libopenblas.so.0")]
    private static partial void openblas_set_num_threads(int threads);

    public static int Run(string[] args)
    {
        var repeats = 7;
        var targetMs = 15.0;
        int[] threadCounts = [1, 2];
        string? only = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--target-ms": targetMs = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--only": only = args[++i]; break;
                case "--threads": threadCounts = Array.ConvertAll(args[++i].Split(','), s => int.Parse(s, CultureInfo.InvariantCulture)); break;
                case "-h" or "--help":
                    Console.WriteLine("gemm [--repeats N (default 7, >= 5)] [--target-ms MS per repeat (default 15)] [--threads 1,2] [--only SHAPE-NAME-PART]");
                    return 0;
                default:
                    Console.Error.WriteLine($"gemm: unknown option '{args[i]}' (try --help)");
                    return 2;
            }
        }
        if (repeats < 5) { Console.Error.WriteLine($"gemm: --repeats must be >= 5 (got {repeats})"); return 2; }

        var haveDirect = NativeLibrary.TryLoad("libopenblas.so.0", out _);
        var seam = Gemm.Default;
        Console.WriteLine($"# {Gemm.Describe()}");
        Console.WriteLine($"# {Environment.ProcessorCount} cores, .NET {Environment.Version}, AVX2={Avx2.IsSupported} FMA={Fma.IsSupported}; " +
                          $"median of {repeats} repeats of ~{targetMs} ms after warm-up; GFLOP/s = 2mnk/time");
        if (!haveDirect) Console.WriteLine("# libopenblas.so.0 not loadable: direct column is n/a");
        var seamBlas = seam as OpenBlasGemm;

        Console.WriteLine();
        Console.WriteLine($"| shape | op | m | n | k | thr | direct | seam | managed | seam/direct |");
        Console.WriteLine($"|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        var total = Stopwatch.StartNew();
        foreach (var threads in threadCounts)
        {
            if (haveDirect) openblas_set_num_threads(threads);
            else seamBlas?.SetThreads(threads);
            var managed = new ManagedGemm(threads);
            foreach (var shape in Shapes)
            {
                if (only != null && !shape.Name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
                var data = new Operands(shape, seed: 42);
                var direct = haveDirect ? Measure(shape, repeats, targetMs, () => data.Direct()) : double.NaN;
                var viaSeam = Measure(shape, repeats, targetMs, () => data.Through(seam));
                var viaManaged = Measure(shape, repeats, targetMs, () => data.Through(managed));
                Console.WriteLine($"| {shape.Name} | {shape.Op} | {shape.M} | {shape.N} | {shape.K} | {threads} | {F(direct)} | {F(viaSeam)} | {F(viaManaged)} | {(haveDirect ? (viaSeam / direct).ToString("0.00", CultureInfo.InvariantCulture) : "n/a")} |");
            }
        }
        Console.WriteLine();
        Console.WriteLine($"# seam = {seam.Name}; managed = ManagedGemm; total {total.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    private static string F(double gflops) => double.IsNaN(gflops) ? "n/a" : gflops.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>Median GFLOP/s over <paramref name="repeats"/> timed batches of calls, each batch ~targetMs.</summary>
    private static double Measure(Shape shape, int repeats, double targetMs, Action call)
    {
        // Warm-up (JIT tiers, OpenBLAS thread start, page faults), then calibrate calls per batch.
        call(); call();
        var sw = Stopwatch.StartNew();
        call();
        var oneMs = Math.Max(sw.Elapsed.TotalMilliseconds, 1e-4);
        var calls = (int)Math.Clamp(targetMs / oneMs, 1, 1_000_000);
        for (var i = 0; i < Math.Min(calls, 50); i++) call();

        var rates = new double[repeats];
        for (var r = 0; r < repeats; r++)
        {
            sw.Restart();
            for (var i = 0; i < calls; i++) call();
            rates[r] = shape.Flops * calls / sw.Elapsed.TotalSeconds / 1e9;
        }
        Array.Sort(rates);
        return rates[repeats / 2];
    }

    /// <summary>A, B, C for one shape, stored as the transposes say (A k×m when TransA, B n×k when TransB).</summary>
    private sealed class Operands
    {
        private readonly Shape _s;
        private readonly float[] _a, _b, _c;
        private readonly int _lda, _ldb, _ldc;

        public Operands(Shape s, int seed)
        {
            _s = s;
            var random = new Random(seed);
            _a = Fill(new float[s.M * s.K], random);
            _b = Fill(new float[s.K * s.N], random);
            _c = new float[s.M * s.N];
            _lda = s.TransA ? s.M : s.K;
            _ldb = s.TransB ? s.K : s.N;
            _ldc = s.N;
        }

        private static float[] Fill(float[] x, Random random)
        {
            for (var i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
            return x;
        }

        public void Direct()
        {
            fixed (float* pa = _a) fixed (float* pb = _b) fixed (float* pc = _c)
            {
                cblas_sgemm(RowMajor, _s.TransA ? Trans : NoTrans, _s.TransB ? Trans : NoTrans, _s.M, _s.N, _s.K,
                    1f, pa, _lda, pb, _ldb, 0f, pc, _ldc);
            }
        }

        public void Through(IGemm gemm) =>
            gemm.Sgemm(_s.TransA, _s.TransB, _s.M, _s.N, _s.K, 1f, _a, _lda, _b, _ldb, 0f, _c, _ldc);
    }
}
