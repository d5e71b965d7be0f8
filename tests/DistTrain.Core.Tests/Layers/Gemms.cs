using DistTrain.Core.Kernels;

namespace DistTrain.Core.Tests.Layers;

/// <summary>The GEMM implementations layer tests run against: the naive oracle and the process default.</summary>
public static class Gemms
{
    public static TheoryData<string> Names => new() { "naive", "default" };

    public static IGemm Get(string name) => name switch
    {
        "naive" => new NaiveGemm(),
        "default" => Gemm.Default,
        _ => throw new ArgumentException($"unknown gemm '{name}'"),
    };
}
