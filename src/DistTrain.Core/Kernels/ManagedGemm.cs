using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DistTrain.Core.Kernels;

/// <summary>
/// Portable managed GEMM, used when OpenBLAS is absent. A cache-blocked kernel in the BLIS/GotoBLAS
/// shape: op(B) is packed into KC×NR panels and op(A) into MR×KC panels (which handles all four
/// transpose combinations and any strides in one place), then a 6×16 register-blocked micro-kernel
/// (Vector256 + FMA on x86, <see cref="Vector{T}"/> elsewhere) runs over the packed panels.
/// Packing buffers come from <see cref="ArrayPool{T}.Shared"/>, so one instance is safe to share
/// between threads and allocates nothing per call after warm-up (except the Parallel.For machinery
/// when <see cref="Threads"/> &gt; 1 and the product is large).
/// </summary>
[SkipLocalsInit] // the 6×16 scratch tile is always written before it is read
public sealed unsafe class ManagedGemm : IGemm
{
    /// <summary>Micro-tile: MR rows of C × NR columns (two Vector256 per row, 12 accumulators).</summary>
    internal const int MR = 6, NR = 16;

    /// <summary>Depth of a packed panel: KC·NR·4 bytes = 16 KiB of B stays in L1 across a row sweep.</summary>
    internal const int KC = 256;

    /// <summary>Rows of A packed at once: MC·KC·4 = 96 KiB, sized for L2.</summary>
    internal const int MC = 96;

    /// <summary>Columns of B packed at once: KC·NC·4 = 2 MiB, sized for L3.</summary>
    internal const int NC = 2048;

    /// <summary>Below this many multiply-adds (m·n·k) the product runs on the calling thread.</summary>
    public const long ParallelThreshold = 2_000_000;

    private readonly bool _fma;

    /// <param name="threads">Threads for large products (m·n·k ≥ <see cref="ParallelThreshold"/>); 1 = calling thread only.</param>
    public ManagedGemm(int threads = 1) : this(threads, portable: false) { }

    /// <param name="portable">Force the <see cref="Vector{T}"/> micro-kernel even where FMA exists (tests use this).</param>
    internal ManagedGemm(int threads, bool portable)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "ManagedGemm needs at least 1 thread.");
        Threads = threads;
        _fma = !portable && Fma.IsSupported && Avx.IsSupported;
    }

    public int Threads { get; }

    /// <summary>Which micro-kernel runs: "Vector256+FMA" or "Vector&lt;float&gt;×N".</summary>
    public string Kernel => _fma ? "Vector256+FMA" : $"Vector<float>x{Vector<float>.Count}";

    public string Name => $"managed ({Kernel}, {Threads} thread{(Threads == 1 ? "" : "s")})";

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f)
        {
            // As in BLAS: A and B are not read, C = beta·C (beta = 0 clears, even NaN).
            ScaleC(c, m, n, ldc, beta);
            return;
        }

        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
        {
            var job = new Job
            {
                TransA = transA, TransB = transB, M = m, N = n, K = k,
                Alpha = alpha, Beta = beta, A = pa, Lda = lda, B = pb, Ldb = ldb, C = pc, Ldc = ldc, Fma = _fma,
            };
            var parts = Threads == 1 || (long)m * n * k < ParallelThreshold ? 1 : Threads;
            // Split C along its longer side into parts of whole micro-tiles.
            var splitRows = m >= n;
            var tiles = splitRows ? (m + MR - 1) / MR : (n + NR - 1) / NR;
            parts = Math.Min(parts, tiles);
            if (parts == 1)
            {
                job.Run(0, m, 0, n);
                return;
            }
            // Only this path allocates (the split and Parallel.For's bookkeeping), and only for large products.
            var split = new Split(job, parts, tiles, splitRows);
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, split.RunPart);
        }
    }

    /// <summary>C (m×n, stride ldc) = beta·C; beta = 0 writes zeros regardless of what C held.</summary>
    internal static void ScaleC(Span<float> c, int m, int n, int ldc, float beta)
    {
        if (beta == 1f) return;
        for (var i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0f) row.Clear();
            else for (var j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>A product cut into <paramref name="parts"/> bands of whole micro-tiles along rows or columns of C.</summary>
    private sealed class Split(Job job, int parts, int tiles, bool splitRows)
    {
        public void RunPart(int part)
        {
            var t0 = (int)((long)tiles * part / parts);
            var t1 = (int)((long)tiles * (part + 1) / parts);
            if (splitRows) job.Run(t0 * MR, Math.Min(job.M, t1 * MR), 0, job.N);
            else job.Run(0, job.M, t0 * NR, Math.Min(job.N, t1 * NR));
        }
    }

    /// <summary>One product's arguments, pinned for the duration of <see cref="Sgemm"/>. A struct: the serial path allocates nothing.</summary>
    private struct Job
    {
        public bool TransA, TransB, Fma;
        public int M, N, K, Lda, Ldb, Ldc;
        public float Alpha, Beta;
        public float* A, B, C;

        /// <summary>C[i0..i1, j0..j1] = alpha·op(A)[i0..i1, :]·op(B)[:, j0..j1] + beta·C[i0..i1, j0..j1].</summary>
        public readonly void Run(int i0, int i1, int j0, int j1)
        {
            var k = K;
            // Split k into equal blocks of at most KC so no block is a sliver.
            var kBlocks = (k + KC - 1) / KC;
            var kcMax = (k + kBlocks - 1) / kBlocks;
            var ncMax = Math.Min(NC, j1 - j0);
            var mcMax = Math.Min(MC, i1 - i0);
            var bBuffer = ArrayPool<float>.Shared.Rent(kcMax * RoundUp(ncMax, NR));
            var aBuffer = ArrayPool<float>.Shared.Rent(kcMax * RoundUp(mcMax, MR));
            try
            {
                fixed (float* bp = bBuffer) fixed (float* ap = aBuffer)
                {
                    for (var jc = j0; jc < j1; jc += NC)
                    {
                        var nc = Math.Min(NC, j1 - jc);
                        for (var pc = 0; pc < k; pc += kcMax)
                        {
                            var kc = Math.Min(kcMax, k - pc);
                            var beta = pc == 0 ? Beta : 1f;
                            PackB(bp, pc, jc, kc, nc);
                            for (var ic = i0; ic < i1; ic += MC)
                            {
                                var mc = Math.Min(MC, i1 - ic);
                                PackA(ap, ic, pc, mc, kc);
                                MacroKernel(ap, bp, ic, jc, mc, nc, kc, beta);
                            }
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(aBuffer);
                ArrayPool<float>.Shared.Return(bBuffer);
            }
        }

        // op(B)[pc..pc+kc, jc..jc+nc] -> panels of NR columns: dst[panel·kc·NR + p·NR + jj], zero-padded.
        private readonly void PackB(float* dst, int pc, int jc, int kc, int nc)
        {
            var ldb = Ldb;
            for (var jr = 0; jr < nc; jr += NR)
            {
                var nr = Math.Min(NR, nc - jr);
                var panel = dst + (long)jr * kc;
                if (!TransB)
                {
                    // B stored k×n: row p of op(B) is contiguous.
                    var src = B + (long)pc * ldb + jc + jr;
                    if (nr == NR)
                    {
                        for (var p = 0; p < kc; p++, src += ldb, panel += NR)
                        {
                            Unsafe.WriteUnaligned(panel, Unsafe.ReadUnaligned<Vector256<float>>(src));
                            Unsafe.WriteUnaligned(panel + 8, Unsafe.ReadUnaligned<Vector256<float>>(src + 8));
                        }
                    }
                    else
                    {
                        for (var p = 0; p < kc; p++, src += ldb, panel += NR)
                        {
                            var jj = 0;
                            for (; jj < nr; jj++) panel[jj] = src[jj];
                            for (; jj < NR; jj++) panel[jj] = 0f;
                        }
                    }
                }
                else
                {
                    // B stored n×k: column j of op(B) is row j of B, contiguous in p.
                    for (var jj = 0; jj < nr; jj++)
                    {
                        var src = B + (long)(jc + jr + jj) * ldb + pc;
                        for (var p = 0; p < kc; p++) panel[p * NR + jj] = src[p];
                    }
                    for (var jj = nr; jj < NR; jj++)
                        for (var p = 0; p < kc; p++) panel[p * NR + jj] = 0f;
                }
            }
        }

        // op(A)[ic..ic+mc, pc..pc+kc] -> panels of MR rows: dst[panel·kc·MR + p·MR + r], zero-padded.
        private readonly void PackA(float* dst, int ic, int pc, int mc, int kc)
        {
            var lda = Lda;
            for (var ir = 0; ir < mc; ir += MR)
            {
                var mr = Math.Min(MR, mc - ir);
                var panel = dst + (long)ir * kc;
                if (!TransA)
                {
                    // A stored m×k: row i of op(A) is contiguous in p.
                    for (var r = 0; r < mr; r++)
                    {
                        var src = A + (long)(ic + ir + r) * lda + pc;
                        for (var p = 0; p < kc; p++) panel[p * MR + r] = src[p];
                    }
                    for (var r = mr; r < MR; r++)
                        for (var p = 0; p < kc; p++) panel[p * MR + r] = 0f;
                }
                else
                {
                    // A stored k×m: MR consecutive rows of op(A) are contiguous for each p.
                    var src = A + (long)pc * lda + ic + ir;
                    for (var p = 0; p < kc; p++, src += lda, panel += MR)
                    {
                        var r = 0;
                        for (; r < mr; r++) panel[r] = src[r];
                        for (; r < MR; r++) panel[r] = 0f;
                    }
                }
            }
        }

        private readonly void MacroKernel(float* ap, float* bp, int ic, int jc, int mc, int nc, int kc, float beta)
        {
            var tile = stackalloc float[MR * NR];
            var ldc = Ldc;
            for (var jr = 0; jr < nc; jr += NR)
            {
                var nr = Math.Min(NR, nc - jr);
                var bPanel = bp + (long)jr * kc;
                for (var ir = 0; ir < mc; ir += MR)
                {
                    var mr = Math.Min(MR, mc - ir);
                    var aPanel = ap + (long)ir * kc;
                    var cTile = C + (long)(ic + ir) * ldc + jc + jr;
                    if (mr == MR && nr == NR)
                    {
                        if (Fma) KernelFma(kc, aPanel, bPanel, cTile, ldc, Alpha, beta);
                        else KernelPortable(kc, aPanel, bPanel, cTile, ldc, Alpha, beta);
                    }
                    else
                    {
                        // Edge tile: compute the full 6×16 product into scratch, merge the valid part.
                        if (Fma) KernelFma(kc, aPanel, bPanel, tile, NR, 1f, 0f);
                        else KernelPortable(kc, aPanel, bPanel, tile, NR, 1f, 0f);
                        for (var r = 0; r < mr; r++)
                        {
                            var cRow = cTile + (long)r * ldc;
                            var tRow = tile + r * NR;
                            if (beta == 0f) for (var j = 0; j < nr; j++) cRow[j] = Alpha * tRow[j];
                            else for (var j = 0; j < nr; j++) cRow[j] = Alpha * tRow[j] + beta * cRow[j];
                        }
                    }
                }
            }
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    // a: packed MR×kc panel (a[p·MR + r]); b: packed kc×NR panel (b[p·NR + j]) -> c (MR×NR, stride ldc)
    // c = alpha·(a·b) + beta·c; beta = 0 never reads c.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelFma(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (var p = 0; p < kc; p++)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var av = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            a += MR;
            b += NR;
        }
        var va = Vector256.Create(alpha);
        StoreRow(c, c00, c01, va, beta);
        StoreRow(c + ldc, c10, c11, va, beta);
        StoreRow(c + 2 * ldc, c20, c21, va, beta);
        StoreRow(c + 3 * ldc, c30, c31, va, beta);
        StoreRow(c + 4 * ldc, c40, c41, va, beta);
        StoreRow(c + 5 * ldc, c50, c51, va, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* c, Vector256<float> s0, Vector256<float> s1, Vector256<float> alpha, float beta)
    {
        if (beta == 0f)
        {
            Avx.Store(c, Avx.Multiply(alpha, s0));
            Avx.Store(c + 8, Avx.Multiply(alpha, s1));
        }
        else if (beta == 1f)
        {
            Avx.Store(c, Fma.MultiplyAdd(alpha, s0, Avx.LoadVector256(c)));
            Avx.Store(c + 8, Fma.MultiplyAdd(alpha, s1, Avx.LoadVector256(c + 8)));
        }
        else
        {
            var vb = Vector256.Create(beta);
            Avx.Store(c, Fma.MultiplyAdd(alpha, s0, Avx.Multiply(vb, Avx.LoadVector256(c))));
            Avx.Store(c + 8, Fma.MultiplyAdd(alpha, s1, Avx.Multiply(vb, Avx.LoadVector256(c + 8))));
        }
    }

    // Same contract as KernelFma with Vector<float> (any width dividing NR): one accumulator per
    // (row, vector) pair, summed over p. Slower than the FMA kernel but correct everywhere.
    private static void KernelPortable(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        var w = Vector<float>.Count;
        if (NR % w != 0)
        {
            KernelScalar(kc, a, b, c, ldc, alpha, beta);
            return;
        }
        for (var r = 0; r < MR; r++)
        {
            var cRow = c + (long)r * ldc;
            for (var j = 0; j < NR; j += w)
            {
                var acc = Vector<float>.Zero;
                var pa = a + r;
                var pb = b + j;
                for (var p = 0; p < kc; p++, pa += MR, pb += NR)
                    acc += new Vector<float>(*pa) * Unsafe.ReadUnaligned<Vector<float>>(pb);
                var result = acc * alpha;
                if (beta != 0f) result += Unsafe.ReadUnaligned<Vector<float>>(cRow + j) * beta;
                Unsafe.WriteUnaligned(cRow + j, result);
            }
        }
    }

    private static void KernelScalar(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        for (var r = 0; r < MR; r++)
        {
            for (var j = 0; j < NR; j++)
            {
                var sum = 0f;
                for (var p = 0; p < kc; p++) sum += a[p * MR + r] * b[p * NR + j];
                var cell = c + (long)r * ldc + j;
                *cell = beta == 0f ? alpha * sum : alpha * sum + beta * *cell;
            }
        }
    }
}
