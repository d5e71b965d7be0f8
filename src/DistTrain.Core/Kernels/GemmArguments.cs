namespace DistTrain.Core.Kernels;

/// <summary>Shared argument checks for GEMM implementations: a wrong stride or short buffer is a bug, said plainly.</summary>
public static class GemmArguments
{
    public static void Validate(bool transA, bool transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"GEMM sizes must be non-negative (m={m}, n={n}, k={k}).");
        var aRows = transA ? k : m; var aCols = transA ? m : k;
        var bRows = transB ? n : k; var bCols = transB ? k : n;
        Check("A", aRows, aCols, aLength, lda);
        Check("B", bRows, bCols, bLength, ldb);
        Check("C", m, n, cLength, ldc);
    }

    private static void Check(string name, int rows, int cols, int length, int ld)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"GEMM: leading dimension of matrix {name} is {ld} but {name} as stored has {cols} columns; it must be >= {cols}.");
        var needed = (long)(rows - 1) * ld + cols;
        if (length < needed) throw new ArgumentException($"GEMM: matrix {name} ({rows}×{cols} as stored, stride {ld}) needs {needed} elements but its buffer has {length}.");
    }
}
