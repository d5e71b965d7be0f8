using System.Security.Cryptography;

namespace DistTrain.Onnx;

/// <summary>
/// Where the ImageNet ResNet-18 lives on this machine. The NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 copies <c>DnnImageModels/ResNet18Onnx/ResNet18.onnx</c> and its
/// preprocessing model <c>DnnImageModels/ResNetPrepOnnx/ResNetPreprocess.onnx</c> next to the application
/// (a build-time Content item), so by default both are found under <see cref="AppContext.BaseDirectory"/>.
/// An explicit path (<c>--resnet-model</c>, or the environment variable <see cref="EnvironmentVariable"/>)
/// names either ResNet18.onnx itself or a DnnImageModels folder.
/// </summary>
public sealed record ResNet18Model(string ModelPath, string PreprocessPath)
{
    public const string EnvironmentVariable = "DISTTRAIN_RESNET_MODEL";
    public static readonly string ModelRelative = Path.Combine("DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
    public static readonly string PreprocessRelative = Path.Combine("DnnImageModels", "ResNetPrepOnnx", "ResNetPreprocess.onnx");

    /// <summary>Finds the two model files; throws FileNotFoundException naming the path it expected.</summary>
    /// <param name="path">ResNet18.onnx, or a folder holding DnnImageModels/ (or being it); null = the environment variable, then the application folder.</param>
    public static ResNet18Model Locate(string? path = null)
    {
        var given = path ?? (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? env : null);
        string model;
        if (given is null) model = Path.Combine(AppContext.BaseDirectory, ModelRelative);
        else if (Directory.Exists(given))
        {
            model = Path.Combine(given, ModelRelative);
            if (!File.Exists(model) && File.Exists(Path.Combine(given, "ResNet18Onnx", "ResNet18.onnx"))) model = Path.Combine(given, "ResNet18Onnx", "ResNet18.onnx");
        }
        else model = given;
        model = Path.GetFullPath(model);
        if (!File.Exists(model))
            throw new FileNotFoundException(
                $"ResNet-18 ONNX model not found: expected {model}" + (given is null
                    ? " (copied there from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 at build time)"
                    : "") + $"; give its path with --resnet-model PATH or {EnvironmentVariable}", model);
        // ResNet18Onnx/ResNet18.onnx → ../ResNetPrepOnnx/ResNetPreprocess.onnx
        var modelsDir = Path.GetDirectoryName(Path.GetDirectoryName(model)) ?? ".";
        var prep = Path.Combine(modelsDir, "ResNetPrepOnnx", "ResNetPreprocess.onnx");
        if (!File.Exists(prep))
            throw new FileNotFoundException($"ResNet-18 preprocessing model not found: expected {prep} (beside {model}, as the NuGet package lays them out)", prep);
        return new ResNet18Model(model, prep);
    }

    /// <summary>SHA-256 of both files (hex); part of the data fingerprint, so a node with another model file is refused.</summary>
    public string ComputeHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in new[] { ModelPath, PreprocessPath })
        {
            using var stream = File.OpenRead(file);
            sha.AppendData(SHA256.HashData(stream));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
