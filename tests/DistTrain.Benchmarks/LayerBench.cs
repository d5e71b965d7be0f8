using System.Diagnostics;
using System.Globalization;
using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Models;

namespace DistTrain.Benchmarks;

/// <summary>
/// How close the GEMM layers of W2 and W3 come to OpenBLAS: for each layer, one training pass (Forward +
/// Backward, batch 128) is timed next to the bare GEMM calls that pass issues (the same shapes, transposes
/// and number of calls, through the same seam, on buffers of the same sizes). efficiency = bare GEMM time /
/// layer time, i.e. the layer's achieved GFLOP/s over the GEMMs' GFLOP/s; the rest of the layer's time is
/// im2col, col2im, bias and copies. Median over repeats. Ends with one line
/// <c>layer_gemm_efficiency total=… median=… min=…</c> for scripts/bench.sh, where total = Σ bare GEMM time /
/// Σ layer time over all the layers (the share of the layers' time that is GEMM at OpenBLAS speed).
/// <para>
/// The bare calls reuse one small set of operands, so they run on cache-hot buffers, while a conv layer's
/// per-sample calls each write a fresh slice of the batch's output (forward) or read a fresh slice of dy
/// (backward): 12.8 MB each for W3's first conv, whose GEMMs are cheap (k = 9), so that traffic is a
/// large share of its time that no GEMM on cached buffers pays. The two last columns time the same bare
/// calls again with that one operand distinct per call, as the layer streams it (output slices of the
/// forward GEMM, the dy slices read by the backward ones), and the layer against that; they are
/// informative only (the second line, starting with '#', sums them), and the table's efficiency column and
/// the <c>layer_gemm_efficiency</c> line mean what they always did. With one call per pass (dense layers)
/// the two timings differ only by noise.
/// </para>
/// </summary>
internal static class LayerBench
{
    /// <summary>Which operand the layer's calls take from a different slice each time: the output C, A or B (None: the same buffers every call).</summary>
    private enum Streamed { None, A, B, C }

    private sealed record Call(bool TransA, bool TransB, int M, int N, int K, int Count, Streamed Streams = Streamed.None)
    {
        public double Flops => 2.0 * M * N * K * Count;
    }

    private sealed record Case(string Name, Model Model, bool FirstLayer, Call[] Calls);

    public static int Run(string[] args)
    {
        var threads = 1;
        var repeats = 7;
        var batch = 128;
        var split = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--split": split = true; break;
                case "-h" or "--help":
                    Console.WriteLine("layers [--threads T (1)] [--repeats N (7, >= 3)] [--split: also print mean forward and backward ms]   layer pass vs its bare GEMMs, W2 and W3 layers, batch 128");
                    return 0;
                default:
                    Console.Error.WriteLine($"layers: unknown option '{args[i]}' (try --help)");
                    return 2;
            }
        }
        if (repeats < 3) { Console.Error.WriteLine($"layers: --repeats must be >= 3 (got {repeats})"); return 2; }
        Environment.SetEnvironmentVariable(Gemm.ThreadsEnvironmentVariable, threads.ToString(CultureInfo.InvariantCulture));
        if (Gemm.Default is OpenBlasGemm blas && blas.CanSetThreads) blas.SetThreads(threads);
        var gemm = Gemm.Default;
        Console.WriteLine($"# {Gemm.Describe()}; batch {batch}; median of {repeats}; efficiency = bare GEMM time / layer Forward+Backward time");

        var n = batch;
        Case[] cases =
        [
            // conv1 takes the direct 3×3 path (no GEMM): its reference stays the im2col GEMMs it would otherwise issue.
            Conv("w3 conv1 1->32 28x28 (first layer, no dx; direct, no GEMM)", 1, 28, 32, n, first: true),
            Conv("w3 conv2 32->64 14x14", 32, 14, 64, n, first: false),
            DenseCase("w3 dense 3136->128", 3136, 128, n, first: false),
            DenseCase("w2 dense 784->256 (first layer, no dx)", 784, 256, n, first: true),
            DenseCase("w2 dense 256->128", 256, 128, n, first: false),
        ];

        Console.WriteLine();
        Console.WriteLine("| layer | GEMM calls per pass | MFLOP | layer ms | bare GEMM ms | layer GFLOP/s | GEMM GFLOP/s | efficiency | bare GEMM ms, streamed operand | efficiency vs streamed |");
        Console.WriteLine("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        var effs = new List<double>();
        double sumLayer = 0, sumGemm = 0, sumStreamed = 0;
        foreach (var c in cases)
        {
            var flops = 0.0;
            foreach (var call in c.Calls) flops += call.Flops;
            var (layerMs, gemmMs, streamedMs) = Measure(c, gemm, n, repeats, split);
            var eff = gemmMs / layerMs;
            sumLayer += layerMs;
            sumGemm += gemmMs;
            sumStreamed += streamedMs;
            effs.Add(eff);
            var calls = string.Join(" + ", c.Calls.Select(k => $"{k.Count}×{(k.TransA ? 'T' : 'N')}{(k.TransB ? 'T' : 'N')} {k.M}·{k.N}·{k.K}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {c.Name} | {calls} | {flops / 1e6:0.0} | {layerMs:0.000} | {gemmMs:0.000} | {flops / layerMs / 1e6:0.0} | {flops / gemmMs / 1e6:0.0} | {eff:0.00} | {streamedMs:0.000} | {streamedMs / layerMs:0.00} |"));
        }
        effs.Sort();
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"layer_gemm_efficiency total={sumGemm / sumLayer:0.000} median={effs[effs.Count / 2]:0.000} min={effs[0]:0.000} threads={threads}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# informative, not a target: Σ bare GEMM time with the streamed operand distinct per call / Σ layer time = {sumStreamed / sumLayer:0.000}"));
        return 0;
    }

    private static Case Conv(string name, int c, int hw, int f, int n, bool first)
    {
        var model = new Model(new ModelSpec([c, hw, hw], [new Conv2DSpec(f, 3, 1, 1)]));
        var ckk = c * 9;
        var ohw = hw * hw;
        // Per sample: y_i = W · cols_i (a fresh output slice), dW += dy_i · cols_iᵀ and dcols = Wᵀ · dy_i (dy_i: a fresh slice read).
        var calls = new List<Call> { new(false, false, f, ohw, ckk, n, Streamed.C), new(false, true, f, ckk, ohw, n, Streamed.A) };
        if (!first) calls.Add(new(true, false, ckk, ohw, f, n, Streamed.B));
        return new Case(name, model, first, [.. calls]);
    }

    private static Case DenseCase(string name, int inputs, int outputs, int n, bool first)
    {
        var model = new Model(new ModelSpec([inputs], [new DenseSpec(outputs)]));
        var calls = new List<Call> { new(false, true, n, outputs, inputs, 1), new(true, false, outputs, inputs, n, 1) };
        if (!first) calls.Add(new(false, false, n, inputs, outputs, 1));
        return new Case(name, model, first, [.. calls]);
    }

    private static (double LayerMs, double GemmMs, double StreamedMs) Measure(Case c, IGemm gemm, int n, int repeats, bool split)
    {
        var layer = c.Model.Layers[0];
        c.Model.InitializeParameters(7);
        var random = new Random(7);
        var x = Random(n * layer.InputShape.Size, random);
        var y = new float[n * layer.OutputShape.Size];
        var dy = Random(n * layer.OutputShape.Size, random);
        var dx = c.FirstLayer ? [] : new float[n * layer.InputShape.Size];
        var ctx = new BatchContext(n, true);
        double fwdMs = 0, bwdMs = 0;
        var swSplit = new Stopwatch();
        void Pass()
        {
            swSplit.Restart();
            layer.Forward(ctx, x, y, gemm);
            fwdMs += swSplit.Elapsed.TotalMilliseconds;
            swSplit.Restart();
            layer.Backward(ctx, x, y, dy, dx, gemm);
            bwdMs += swSplit.Elapsed.TotalMilliseconds;
        }

        // Bare operands: the largest A, B, C any call needs.
        var maxA = 0; var maxB = 0; var maxC = 0;
        foreach (var k in c.Calls) { maxA = Math.Max(maxA, k.M * k.K); maxB = Math.Max(maxB, k.K * k.N); maxC = Math.Max(maxC, k.M * k.N); }
        var a = Random(maxA, random);
        var b = Random(maxB, random);
        var cc = new float[maxC];
        void Bare()
        {
            foreach (var k in c.Calls)
            {
                var lda = k.TransA ? k.M : k.K;
                var ldb = k.TransB ? k.K : k.N;
                for (var i = 0; i < k.Count; i++) gemm.Sgemm(k.TransA, k.TransB, k.M, k.N, k.K, 1f, a, lda, b, ldb, 0f, cc, k.N);
            }
        }

        // The same calls with the streamed operand taken from a batch-sized buffer, a distinct slice per call.
        var maxStream = 0;
        foreach (var k in c.Calls)
        {
            var size = k.Streams switch { Streamed.A => k.M * k.K, Streamed.B => k.K * k.N, Streamed.C => k.M * k.N, _ => 0 };
            maxStream = Math.Max(maxStream, size * k.Count);
        }
        var stream = Random(maxStream, random);
        void StreamedCalls()
        {
            foreach (var k in c.Calls)
            {
                var lda = k.TransA ? k.M : k.K;
                var ldb = k.TransB ? k.K : k.N;
                for (var i = 0; i < k.Count; i++)
                {
                    var ai = k.Streams == LayerBench.Streamed.A ? stream.AsSpan(i * k.M * k.K, k.M * k.K) : a;
                    var bi = k.Streams == LayerBench.Streamed.B ? stream.AsSpan(i * k.K * k.N, k.K * k.N) : b;
                    var ci = k.Streams == LayerBench.Streamed.C ? stream.AsSpan(i * k.M * k.N, k.M * k.N) : cc;
                    gemm.Sgemm(k.TransA, k.TransB, k.M, k.N, k.K, 1f, ai, lda, bi, ldb, 0f, ci, k.N);
                }
            }
        }

        for (var i = 0; i < 5; i++) { Pass(); Bare(); StreamedCalls(); }
        var layerMs = new double[repeats];
        var gemmMs = new double[repeats];
        var streamedMs = new double[repeats];
        var sw = new Stopwatch();
        for (var r = 0; r < repeats; r++)
        {
            // Alternate so that machine load hits both alike.
            sw.Restart();
            Pass(); Pass(); Pass();
            layerMs[r] = sw.Elapsed.TotalMilliseconds / 3;
            sw.Restart();
            Bare(); Bare(); Bare();
            gemmMs[r] = sw.Elapsed.TotalMilliseconds / 3;
            sw.Restart();
            StreamedCalls(); StreamedCalls(); StreamedCalls();
            streamedMs[r] = sw.Elapsed.TotalMilliseconds / 3;
        }
        if (split) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#   {c.Name}: forward {fwdMs / (3 * repeats + 5):0.000} ms, backward {bwdMs / (3 * repeats + 5):0.000} ms (means)"));
        Array.Sort(layerMs);
        Array.Sort(gemmMs);
        Array.Sort(streamedMs);
        return (layerMs[repeats / 2], gemmMs[repeats / 2], streamedMs[repeats / 2]);
    }

    private static float[] Random(int length, Random random)
    {
        var v = new float[length];
        for (var i = 0; i < length; i++) v[i] = (float)(random.NextDouble() * 2 - 1);
        return v;
    }
}
