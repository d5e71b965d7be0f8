using DistTrain.Core.Kernels;

namespace DistTrain.Core.Tests.Kernels;

public sealed class GemmTests
{
    // ---- shapes -------------------------------------------------------------------------------

    private static readonly (int M, int N, int K)[] AwkwardShapes =
    [
        (1, 1, 1), (7, 13, 5), (17, 3, 33), (64, 1, 9), (33, 65, 129),
        (6, 16, 8),      // exactly one micro-tile
        (12, 32, 256),   // whole tiles, one full k-block
        (5, 17, 600),    // several k-blocks
        (100, 20, 9),    // more rows than one packed A block
        (3, 2100, 2),    // more columns than one packed B block
        (1, 40, 7), (40, 1, 7),
    ];

    private static readonly (bool TransA, bool TransB)[] Transposes = [(false, false), (false, true), (true, false), (true, true)];

    public static TheoryData<bool, bool, int, int, int> ShapesAndTransposes()
    {
        var data = new TheoryData<bool, bool, int, int, int>();
        foreach (var (m, n, k) in AwkwardShapes)
            foreach (var (ta, tb) in Transposes) data.Add(ta, tb, m, n, k);
        return data;
    }

    public static TheoryData<bool, bool, float, float> AlphaBetaVariants()
    {
        var data = new TheoryData<bool, bool, float, float>();
        foreach (var (ta, tb) in Transposes)
        {
            data.Add(ta, tb, 2.5f, 0f);
            data.Add(ta, tb, 1f, 1f);
            data.Add(ta, tb, -0.5f, 0.75f);
            data.Add(ta, tb, 1f, -1f);
        }
        return data;
    }

    public static TheoryData<bool, bool> AllTransposes()
    {
        var data = new TheoryData<bool, bool>();
        foreach (var (ta, tb) in Transposes) data.Add(ta, tb);
        return data;
    }

    // ---- managed kernel -----------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(ShapesAndTransposes))]
    public void Managed_matches_naive_on_awkward_shapes(bool transA, bool transB, int m, int n, int k) =>
        AssertMatchesNaive(new ManagedGemm(), new(transA, transB, m, n, k, 1f, 0f), seed: 1);

    [Theory]
    [MemberData(nameof(ShapesAndTransposes))]
    public void Managed_portable_kernel_matches_naive_on_awkward_shapes(bool transA, bool transB, int m, int n, int k) =>
        AssertMatchesNaive(new ManagedGemm(1, portable: true), new(transA, transB, m, n, k, 1f, 0f), seed: 2);

    [Theory]
    [MemberData(nameof(AlphaBetaVariants))]
    public void Managed_applies_alpha_and_beta(bool transA, bool transB, float alpha, float beta)
    {
        var gemm = new ManagedGemm();
        AssertMatchesNaive(gemm, new(transA, transB, 17, 3, 33, alpha, beta), seed: 3);
        AssertMatchesNaive(gemm, new(transA, transB, 33, 65, 129, alpha, beta), seed: 4);
        // beta applies once, not once per k-block.
        AssertMatchesNaive(gemm, new(transA, transB, 7, 40, 600, alpha, beta), seed: 5);
    }

    [Theory]
    [MemberData(nameof(AllTransposes))]
    public void Managed_reads_and_writes_only_the_submatrix_when_strides_exceed_the_width(bool transA, bool transB)
    {
        var gemm = new ManagedGemm();
        AssertMatchesNaive(gemm, new(transA, transB, 17, 3, 33, 1f, 0.5f, PadA: 3, PadB: 5, PadC: 7), seed: 6);
        AssertMatchesNaive(gemm, new(transA, transB, 33, 65, 129, -1f, 1f, PadA: 1, PadB: 17, PadC: 2), seed: 7);
        AssertMatchesNaive(new ManagedGemm(1, portable: true), new(transA, transB, 13, 19, 21, 1f, 0f, PadA: 4, PadB: 4, PadC: 4), seed: 8);
    }

    [Theory]
    [MemberData(nameof(AllTransposes))]
    public void Managed_with_beta_zero_overwrites_NaN_in_C(bool transA, bool transB)
    {
        AssertMatchesNaive(new ManagedGemm(), new(transA, transB, 33, 65, 129, 1f, 0f, PadC: 3, NaNInC: true), seed: 9);
        AssertMatchesNaive(new ManagedGemm(), new(transA, transB, 7, 13, 5, 2f, 0f, NaNInC: true), seed: 10);
        AssertMatchesNaive(new ManagedGemm(1, portable: true), new(transA, transB, 33, 65, 129, 1f, 0f, PadC: 3, NaNInC: true), seed: 10);
    }

    [Theory]
    [MemberData(nameof(AllTransposes))]
    public void Managed_on_two_threads_matches_naive_when_split_by_rows_or_columns(bool transA, bool transB)
    {
        var gemm = new ManagedGemm(threads: 2);
        Assert.True(130L * 70 * 260 >= ManagedGemm.ParallelThreshold);
        AssertMatchesNaive(gemm, new(transA, transB, 130, 70, 260, 1.5f, 0.5f, PadA: 1, PadC: 3), seed: 11);
        AssertMatchesNaive(gemm, new(transA, transB, 70, 130, 260, 1f, 0f, PadB: 2, NaNInC: true), seed: 12);
    }

    [Fact]
    public async Task Managed_instance_shared_by_concurrent_callers_gives_each_its_own_result()
    {
        var gemm = new ManagedGemm();
        var tasks = new Task[4];
        for (var t = 0; t < tasks.Length; t++)
        {
            var seed = 20 + t;
            var shape = new Case(t % 2 == 1, t >= 2, 40 + 7 * t, 50 - 3 * t, 300 + 11 * t, 1f, 0f);
            tasks[t] = Task.Run(() =>
            {
                for (var i = 0; i < 5; i++) AssertMatchesNaive(gemm, shape, seed);
            });
        }
        await Task.WhenAll(tasks);
    }

    [Fact]
    public void Managed_single_threaded_product_allocates_nothing_after_warm_up()
    {
        var gemm = new ManagedGemm();
        var s = new Case(false, true, 128, 100, 300, 1f, 1f);
        var (a, b, c) = Operands(s, seed: 13);
        gemm.Sgemm(false, true, s.M, s.N, s.K, 1f, a, s.Lda, b, s.Ldb, 1f, c, s.Ldc);
        // Several windows: the runtime may allocate now and then on this thread (tiered recompilation,
        // the shared array pool refilling after a gen-2 trim caused by other tests), but a kernel that
        // allocates per call would show it in every window.
        var least = long.MaxValue;
        for (var window = 0; window < 8 && least > 0; window++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 3; i++) gemm.Sgemm(false, true, s.M, s.N, s.K, 1f, a, s.Lda, b, s.Ldb, 1f, c, s.Ldc);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
    }

    [Fact]
    public void Managed_rejects_fewer_than_one_thread() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ManagedGemm(threads: 0));

    // ---- OpenBLAS -----------------------------------------------------------------------------

    [OpenBlasTheory]
    [MemberData(nameof(ShapesAndTransposes))]
    public void OpenBlas_matches_naive_on_awkward_shapes(bool transA, bool transB, int m, int n, int k) =>
        AssertMatchesNaive(OpenBlasAvailability.Gemm, new(transA, transB, m, n, k, 1f, 0f), seed: 31);

    [OpenBlasTheory]
    [MemberData(nameof(AlphaBetaVariants))]
    public void OpenBlas_applies_alpha_and_beta(bool transA, bool transB, float alpha, float beta)
    {
        AssertMatchesNaive(OpenBlasAvailability.Gemm, new(transA, transB, 17, 3, 33, alpha, beta), seed: 32);
        AssertMatchesNaive(OpenBlasAvailability.Gemm, new(transA, transB, 33, 65, 129, alpha, beta), seed: 33);
    }

    [OpenBlasTheory]
    [MemberData(nameof(AllTransposes))]
    public void OpenBlas_reads_and_writes_only_the_submatrix_when_strides_exceed_the_width(bool transA, bool transB) =>
        AssertMatchesNaive(OpenBlasAvailability.Gemm, new(transA, transB, 33, 65, 129, 0.5f, 1f, PadA: 3, PadB: 5, PadC: 7), seed: 34);

    [OpenBlasTheory]
    [MemberData(nameof(AllTransposes))]
    public void OpenBlas_with_beta_zero_overwrites_NaN_in_C(bool transA, bool transB) =>
        AssertMatchesNaive(OpenBlasAvailability.Gemm, new(transA, transB, 33, 65, 129, 1f, 0f, PadC: 3, NaNInC: true), seed: 35);

    [OpenBlasTheory]
    [MemberData(nameof(AllTransposes))]
    public void OpenBlas_and_managed_agree_on_the_mlp_layer_products(bool transA, bool transB)
    {
        // The Dense layer's products at batch 128 for 784-256-128-10, in every transpose combination.
        foreach (var (m, n, k) in new[] { (128, 256, 784), (256, 784, 128), (128, 784, 256), (128, 10, 128), (10, 128, 128), (128, 128, 10) })
        {
            var s = new Case(transA, transB, m, n, k, 1f, 1f);
            var (a, b, c) = Operands(s, seed: 40 + m + n + k);
            var fromBlas = (float[])c.Clone();
            var fromManaged = (float[])c.Clone();
            OpenBlasAvailability.Gemm.Sgemm(transA, transB, m, n, k, 1f, a, s.Lda, b, s.Ldb, 1f, fromBlas, s.Ldc);
            new ManagedGemm().Sgemm(transA, transB, m, n, k, 1f, a, s.Lda, b, s.Ldb, 1f, fromManaged, s.Ldc);
            AssertClose(fromBlas, fromManaged, s, $"managed vs openblas {s}");
        }
    }

    [OpenBlasFact]
    public void OpenBlas_thread_count_can_be_set_and_shows_in_the_name()
    {
        var blas = OpenBlasAvailability.Gemm;
        Assert.True(blas.CanSetThreads);
        var before = blas.Threads;
        try
        {
            blas.SetThreads(2);
            Assert.Equal(2, blas.Threads);
            Assert.Contains("2 threads", blas.Name);
            blas.SetThreads(1);
            Assert.Equal(1, blas.Threads);
            Assert.Contains("1 thread)", blas.Name);
        }
        finally
        {
            blas.SetThreads(before);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => blas.SetThreads(0));
    }

    // ---- both backends: edge cases and validation ---------------------------------------------

    /// <summary>Every backend that can run here (OpenBLAS only when it loads; its own tests report the skip).</summary>
    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string> { "managed", "portable" };
        if (OpenBlasAvailability.SkipReason == null) data.Add("openblas");
        return data;
    }

    private static IGemm Backend(string name) => name switch
    {
        "managed" => new ManagedGemm(),
        "portable" => new ManagedGemm(1, portable: true),
        _ => OpenBlasAvailability.Gemm,
    };

    [Theory]
    [MemberData(nameof(Backends))]
    public void Zero_sized_products_leave_C_alone_or_scale_it_by_beta(string backend)
    {
        var gemm = Backend(backend);
        foreach (var (ta, tb) in Transposes)
        {
            // m = 0 or n = 0: nothing to write; empty buffers are fine.
            gemm.Sgemm(ta, tb, 0, 5, 3, 1f, [], 0, new float[15], tb ? 3 : 5, 0f, [], 5);
            var untouched = new float[] { float.NaN, 7f };
            gemm.Sgemm(ta, tb, 2, 0, 3, 1f, new float[6], ta ? 2 : 3, [], 0, 0f, untouched, 1);
            Assert.True(float.IsNaN(untouched[0]));
            Assert.Equal(7f, untouched[1]);

            // k = 0: C = beta·C, A and B empty (with BLAS-invalid strides 0).
            var c = new[] { 1f, 2f, 3f, 4f, 5f, 6f };
            gemm.Sgemm(ta, tb, 2, 3, 0, 1f, [], 0, [], 0, 0.5f, c, 3);
            Assert.Equal(new[] { 0.5f, 1f, 1.5f, 2f, 2.5f, 3f }, c);
            var nan = new[] { float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN };
            gemm.Sgemm(ta, tb, 2, 3, 0, 1f, [], 0, [], 0, 0f, nan, 3);
            Assert.Equal(new float[6], nan);
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Alpha_zero_does_not_read_A_or_B(string backend)
    {
        var gemm = Backend(backend);
        var a = new float[4 * 5]; Array.Fill(a, float.NaN);
        var b = new float[5 * 3]; Array.Fill(b, float.NaN);
        var c = new[] { 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f, 12f };
        gemm.Sgemm(false, false, 4, 3, 5, 0f, a, 5, b, 3, 2f, c, 3);
        Assert.Equal(new[] { 2f, 4f, 6f, 8f, 10f, 12f, 14f, 16f, 18f, 20f, 22f, 24f }, c);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Short_buffers_and_small_strides_are_rejected_naming_the_matrix(string backend)
    {
        var gemm = Backend(backend);
        // C (4×3) = A (4×5) · B (5×3): A needs 20, B 15, C 12.
        var a = new float[20]; var b = new float[15]; var c = new float[12];
        AssertRejected("matrix A", () => gemm.Sgemm(false, false, 4, 3, 5, 1f, a.AsSpan(0, 19), 5, b, 3, 0f, c, 3));
        AssertRejected("matrix B", () => gemm.Sgemm(false, false, 4, 3, 5, 1f, a, 5, b.AsSpan(0, 14), 3, 0f, c, 3));
        AssertRejected("matrix C", () => gemm.Sgemm(false, false, 4, 3, 5, 1f, a, 5, b, 3, 0f, c.AsSpan(0, 11), 3));
        AssertRejected("leading dimension of matrix A", () => gemm.Sgemm(false, false, 4, 3, 5, 1f, a, 4, b, 3, 0f, c, 3));
        AssertRejected("leading dimension of matrix B", () => gemm.Sgemm(false, false, 4, 3, 5, 1f, a, 5, b, 2, 0f, c, 3));
        AssertRejected("leading dimension of matrix C", () => gemm.Sgemm(false, false, 4, 3, 5, 1f, a, 5, b, 3, 0f, c, 2));
        // Transposed A is stored k×m = 5×4, so lda must be >= 4 (m), not >= 5 (k).
        AssertRejected("leading dimension of matrix A", () => gemm.Sgemm(true, false, 4, 3, 5, 1f, a, 3, b, 3, 0f, c, 3));
        gemm.Sgemm(true, false, 4, 3, 5, 1f, a, 4, b, 3, 0f, c, 3);
        AssertRejected("non-negative", () => gemm.Sgemm(false, false, -1, 3, 5, 1f, a, 5, b, 3, 0f, c, 3));
    }

    private delegate void GemmCall();

    private static void AssertRejected(string expectedInMessage, GemmCall call)
    {
        var e = Assert.Throws<ArgumentException>(() => call());
        Assert.Contains(expectedInMessage, e.Message);
    }

    // ---- selection ------------------------------------------------------------------------------

    [Fact]
    public void Backend_and_thread_settings_parse_or_fail_naming_the_variable()
    {
        Assert.Equal(GemmBackend.Auto, Gemm.ParseBackend(null));
        Assert.Equal(GemmBackend.Managed, Gemm.ParseBackend(" Managed "));
        Assert.Equal(GemmBackend.OpenBlas, Gemm.ParseBackend("openblas"));
        Assert.Contains(Gemm.EnvironmentVariable, Assert.Throws<ArgumentException>(() => Gemm.ParseBackend("mkl")).Message);

        Assert.Null(Gemm.ParseThreads(null));
        Assert.Null(Gemm.ParseThreads(" "));
        Assert.Equal(3, Gemm.ParseThreads("3"));
        Assert.Contains(Gemm.ThreadsEnvironmentVariable, Assert.Throws<ArgumentException>(() => Gemm.ParseThreads("0")).Message);
        Assert.Contains(Gemm.ThreadsEnvironmentVariable, Assert.Throws<ArgumentException>(() => Gemm.ParseThreads("two")).Message);
    }

    [Fact]
    public void Selecting_managed_uses_the_requested_threads_and_says_so()
    {
        var selection = Gemm.Select(GemmBackend.Managed, threads: 3);
        var managed = Assert.IsType<ManagedGemm>(selection.Gemm);
        Assert.Equal(3, managed.Threads);
        Assert.Contains("managed", selection.Description);
        Assert.Contains("3 threads", selection.Description);
        Assert.Contains("DISTTRAIN_GEMM=managed", selection.Description);
    }

    [OpenBlasFact]
    public void Selecting_auto_prefers_openblas_when_it_loads()
    {
        var selection = Gemm.Select(GemmBackend.Auto, threads: null);
        Assert.IsType<OpenBlasGemm>(selection.Gemm);
        Assert.StartsWith("GEMM: openblas (", selection.Description);
    }

    [Fact]
    public void Describe_names_the_default_backend_on_one_line()
    {
        var description = Gemm.Describe();
        Assert.StartsWith("GEMM: ", description);
        Assert.DoesNotContain('\n', description);
        var backend = Gemm.Default is OpenBlasGemm ? "openblas" : "managed";
        Assert.Contains(backend, description);
    }

    // ---- helpers --------------------------------------------------------------------------------

    /// <summary>One product: op(A) m×k, op(B) k×n, C m×n; Pad* widen the row strides beyond the stored width.</summary>
    private sealed record Case(bool TransA, bool TransB, int M, int N, int K, float Alpha, float Beta,
        int PadA = 0, int PadB = 0, int PadC = 0, bool NaNInC = false)
    {
        public int ARows => TransA ? K : M;
        public int ACols => TransA ? M : K;
        public int BRows => TransB ? N : K;
        public int BCols => TransB ? K : N;
        public int Lda => ACols + PadA;
        public int Ldb => BCols + PadB;
        public int Ldc => N + PadC;
    }

    private const float Sentinel = 12345.5f;

    /// <summary>
    /// Random operands in [-1, 1]. Padding between rows of A and B is NaN (a kernel reading outside the
    /// view would turn results into NaN); padding in C holds a sentinel that must survive.
    /// </summary>
    private static (float[] A, float[] B, float[] C) Operands(Case s, int seed)
    {
        var random = new Random(seed);
        return (Matrix(s.ARows, s.ACols, s.Lda, random, float.NaN, nanInside: false),
                Matrix(s.BRows, s.BCols, s.Ldb, random, float.NaN, nanInside: false),
                Matrix(s.M, s.N, s.Ldc, random, Sentinel, nanInside: s.NaNInC));
    }

    private static float[] Matrix(int rows, int cols, int ld, Random random, float padding, bool nanInside)
    {
        var x = new float[rows == 0 ? 0 : (rows - 1) * ld + cols];
        for (var i = 0; i < x.Length; i++)
        {
            var inside = i % ld < cols;
            x[i] = !inside ? padding : nanInside ? float.NaN : (float)(random.NextDouble() * 2 - 1);
        }
        return x;
    }

    private static void AssertMatchesNaive(IGemm gemm, Case s, int seed)
    {
        var (a, b, c) = Operands(s, seed);
        var expected = (float[])c.Clone();
        var actual = (float[])c.Clone();
        new NaiveGemm().Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, s.Alpha, a, s.Lda, b, s.Ldb, s.Beta, expected, s.Ldc);
        gemm.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, s.Alpha, a, s.Lda, b, s.Ldb, s.Beta, actual, s.Ldc);
        AssertClose(expected, actual, s, $"{gemm.Name} vs naive {s}");
    }

    /// <summary>Elementwise within a float-rounding bound that grows with k; C padding bit-identical.</summary>
    private static void AssertClose(float[] expected, float[] actual, Case s, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var tolerance = 2e-6f * (s.K + 1) * (Math.Abs(s.Alpha) + Math.Abs(s.Beta));
        for (var i = 0; i < expected.Length; i++)
        {
            var (row, col) = (i / s.Ldc, i % s.Ldc);
            if (col >= s.N)
            {
                Assert.True(actual[i] == Sentinel, $"{what}: C padding at ({row},{col}) was overwritten with {actual[i]}");
                continue;
            }
            Assert.True(float.IsFinite(actual[i]) && Math.Abs(expected[i] - actual[i]) <= tolerance,
                $"{what}: C[{row},{col}] expected {expected[i]} but got {actual[i]} (tolerance {tolerance})");
        }
    }
}
