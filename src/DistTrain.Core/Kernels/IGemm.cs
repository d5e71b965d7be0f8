namespace DistTrain.Core.Kernels;

/// <summary>
/// The one matrix-multiply seam every layer goes through. Row-major single precision:
/// <c>C (m×n) = alpha · op(A) (m×k) · op(B) (k×n) + beta · C</c>, where op(X) is X or Xᵀ.
/// <paramref name="lda"/>, <paramref name="ldb"/>, <paramref name="ldc"/> are the row strides of the
/// matrices <em>as stored</em> (for a transposed A stored k×m, lda ≥ m). With beta = 0, C is overwritten
/// (its previous contents, even NaN, are ignored), as in BLAS;
/// with alpha = 0 or k = 0, A and B are not read and C = beta · C.
/// </summary>
public interface IGemm
{
    /// <summary>Short name for logs and benchmarks, e.g. "openblas (libopenblas.so.0, 2 threads)".</summary>
    string Name { get; }

    void Sgemm(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc);
}
