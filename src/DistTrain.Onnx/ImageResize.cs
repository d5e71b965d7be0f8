namespace DistTrain.Onnx;

/// <summary>
/// Separable resampling with a triangle (bilinear) filter whose support widens with the reduction factor,
/// so downscaling averages every source pixel (like PIL's antialiased bilinear) and upscaling is plain
/// bilinear with half-pixel centres. Pure and deterministic; the weights are computed once per size pair.
/// </summary>
internal sealed class ImageResize
{
    private readonly int _srcH, _srcW, _dstH, _dstW;
    private readonly int[] _rowStart, _rowCount, _colStart, _colCount;
    private readonly float[] _rowWeights, _colWeights;
    private readonly int _rowTaps, _colTaps;

    public ImageResize(int srcH, int srcW, int dstH, int dstW)
    {
        (_srcH, _srcW, _dstH, _dstW) = (srcH, srcW, dstH, dstW);
        (_rowStart, _rowCount, _rowWeights, _rowTaps) = Weights(srcH, dstH);
        (_colStart, _colCount, _colWeights, _colTaps) = Weights(srcW, dstW);
    }

    public int SourceHeight => _srcH;

    public int SourceWidth => _srcW;

    private static (int[] Start, int[] Count, float[] W, int Taps) Weights(int src, int dst)
    {
        var scale = (double)src / dst;
        var support = Math.Max(scale, 1.0); // filter half-width in source pixels
        var taps = (int)Math.Ceiling(support) * 2 + 1;
        var start = new int[dst];
        var count = new int[dst];
        var w = new float[dst * taps];
        var tmp = new double[taps + 2];
        for (var i = 0; i < dst; i++)
        {
            var centre = (i + 0.5) * scale;
            var lo = Math.Max(0, (int)Math.Floor(centre - support));
            var hi = Math.Min(src, (int)Math.Ceiling(centre + support));
            double sum = 0;
            var n = 0;
            for (var j = lo; j < hi && n < tmp.Length; j++)
            {
                var t = 1 - Math.Abs((j + 0.5 - centre) / support);
                tmp[n++] = t > 0 ? t : 0;
                sum += t > 0 ? t : 0;
            }
            // Trim zero-weight taps at both ends.
            var first = 0;
            while (first < n - 1 && tmp[first] == 0) first++;
            var last = n - 1;
            while (last > first && tmp[last] == 0) last--;
            start[i] = lo + first;
            count[i] = Math.Min(taps, last - first + 1);
            for (var k = 0; k < count[i]; k++) w[i * taps + k] = (float)(tmp[first + k] / sum);
        }
        return (start, count, w, taps);
    }

    /// <summary>One plane: src (srcH, srcW) → dst (dstH, dstW), values scaled by <paramref name="scale"/>.</summary>
    public void Plane(ReadOnlySpan<float> src, Span<float> dst, Span<float> rows, float scale = 1f)
    {
        // Horizontal pass: src (srcH, srcW) -> rows (srcH, dstW)
        for (var y = 0; y < _srcH; y++)
        {
            var s = src.Slice(y * _srcW, _srcW);
            for (var x = 0; x < _dstW; x++)
            {
                var a = 0f;
                var st = _colStart[x];
                var wo = x * _colTaps;
                for (var k = 0; k < _colCount[x]; k++) a += _colWeights[wo + k] * s[st + k];
                rows[y * _dstW + x] = a;
            }
        }
        // Vertical pass: rows (srcH, dstW) -> dst (dstH, dstW)
        for (var y = 0; y < _dstH; y++)
        {
            var d = dst.Slice(y * _dstW, _dstW);
            d.Clear();
            var st = _rowStart[y];
            var wo = y * _rowTaps;
            for (var k = 0; k < _rowCount[y]; k++)
            {
                var w = _rowWeights[wo + k] * scale;
                var r = rows.Slice((st + k) * _dstW, _dstW);
                for (var x = 0; x < _dstW; x++) d[x] += w * r[x];
            }
        }
    }
}
