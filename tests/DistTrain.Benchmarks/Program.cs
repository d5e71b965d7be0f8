namespace DistTrain.Benchmarks;

/// <summary>
/// Benchmark entry point: <c>dotnet run -c Release --project tests/DistTrain.Benchmarks -- &lt;suite&gt; [options]</c>.
/// Each suite lives in its own file and registers one line in <see cref="Suites"/>.
/// </summary>
public static class Program
{
    private sealed record Suite(string Name, string Summary, Func<string[], int> Run);

    private static readonly Suite[] Suites =
    [
        new("gemm", "SGEMM GFLOP/s: OpenBLAS direct vs the IGemm seam vs ManagedGemm, 1 and 2 threads", GemmBench.Run),
        new("wire", "One multi-process step's messages without training: serializer, loopback TCP, Akka.Remote round trips", WireBench.Run),
        new("layers", "W2/W3 GEMM layers: Forward+Backward vs the bare GEMMs they issue (efficiency vs OpenBLAS)", LayerBench.Run),
        new("train", "Fashion-MNIST training throughput (W2 mlp / W3 cnn), single replica or local actors; one JSON line", TrainBench.Run),
    ];

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Usage(Console.Out);
            return args.Length == 0 ? 2 : 0;
        }
        foreach (var suite in Suites)
        {
            if (string.Equals(suite.Name, args[0], StringComparison.OrdinalIgnoreCase))
                return suite.Run(args[1..]);
        }
        Console.Error.WriteLine($"Unknown benchmark '{args[0]}'.");
        Usage(Console.Error);
        return 2;
    }

    private static void Usage(TextWriter w)
    {
        w.WriteLine("usage: DistTrain.Benchmarks <suite> [options]   (suite --help for its options)");
        foreach (var s in Suites) w.WriteLine($"  {s.Name,-8} {s.Summary}");
    }
}
