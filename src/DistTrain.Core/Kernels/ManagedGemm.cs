namespace DistTrain.Core.Kernels;

/// <summary>
/// Portable managed GEMM, used when OpenBLAS is absent. PLACEHOLDER-FREE baseline: correct i-k-j loop;
/// the vectorised, cache-blocked kernel replaces the body.
/// </summary>
public sealed class ManagedGemm : IGemm
{
    public string Name => "managed";

    public void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmArguments.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (var i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == 0f) row.Clear(); else if (beta != 1f) for (var j = 0; j < n; j++) row[j] *= beta;
            for (var p = 0; p < k; p++)
            {
                var av = alpha * (transA ? a[p * lda + i] : a[i * lda + p]);
                if (av == 0f) continue;
                if (!transB)
                {
                    var brow = b.Slice(p * ldb, n);
                    for (var j = 0; j < n; j++) row[j] += av * brow[j];
                }
                else
                {
                    for (var j = 0; j < n; j++) row[j] += av * b[j * ldb + p];
                }
            }
        }
    }
}
