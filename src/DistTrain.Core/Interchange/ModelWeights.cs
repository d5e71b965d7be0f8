using DistTrain.Core.Models;

namespace DistTrain.Core.Interchange;

/// <summary>One parameter tensor of a model: its interchange name, shape and slice of the flat buffer.</summary>
public sealed record NamedTensor(string Name, int LayerIndex, string LayerName, string LayerKind, int[] Shape, int Offset, int Length)
{
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A model's parameters as named tensors, the way PyTorch names them for the equivalent
/// <c>nn.Sequential</c>: layer i of the spec is module i, so Dense layer i gives <c>{i}.weight</c> (out, in)
/// and <c>{i}.bias</c> (out), Conv2D layer i gives <c>{i}.weight</c> (F, C, k, k) and <c>{i}.bias</c> (F).
/// DistTrain already stores both in PyTorch's layout, so a tensor is its slice of the flat buffer as is
/// (no transpose). Layers without parameters (activations, pooling, flatten, dropout) are modules that
/// own no tensors, exactly as in PyTorch.
/// </summary>
public static class ModelWeights
{
    /// <summary>Metadata key holding the model spec JSON.</summary>
    public const string SpecKey = "disttrain.model_spec";

    public const string FormatKey = "format";

    public static string TensorName(int layerIndex, string parameter) => $"{layerIndex}.{parameter}";

    /// <summary>The named tensors of <paramref name="spec"/>, in flat-buffer order.</summary>
    public static IReadOnlyList<NamedTensor> Layout(ModelSpec spec) => Layout(new Model(spec));

    public static IReadOnlyList<NamedTensor> Layout(Model model)
    {
        var list = new List<NamedTensor>();
        for (var i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            var baseOffset = model.ParameterOffset(i);
            foreach (var p in layer.ParameterTensors)
                list.Add(new NamedTensor(TensorName(i, p.Name), i, layer.Name, layer.Kind, p.Shape, baseOffset + p.Offset, p.Length));
        }
        return list;
    }

    /// <summary>
    /// The safetensors bytes of a model: every parameter tensor (F32) and metadata holding the spec JSON
    /// under <see cref="SpecKey"/>, "format": "pt", plus <paramref name="extraMetadata"/>.
    /// </summary>
    public static byte[] ToSafeTensors(ModelSpec spec, float[] parameters, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parameters);
        var model = new Model(spec);
        if (parameters.Length != model.ParameterCount)
            throw new ArgumentException($"The model spec needs {model.ParameterCount} parameters but {parameters.Length} were given.");
        var tensors = new List<(string, int[], float[])>();
        foreach (var t in Layout(model)) tensors.Add((t.Name, t.Shape, parameters.AsSpan(t.Offset, t.Length).ToArray()));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [FormatKey] = "pt", [SpecKey] = spec.ToJson() };
        if (extraMetadata is not null)
            foreach (var (k, v) in extraMetadata) metadata[k] = v;
        return SafeTensors.ToBytes(tensors, metadata);
    }

    public static void WriteSafeTensors(string path, ModelSpec spec, float[] parameters, IReadOnlyDictionary<string, string>? extraMetadata = null)
        => DistTrain.Core.IO.AtomicFile.Write(path, ToSafeTensors(spec, parameters, extraMetadata));

    /// <summary>
    /// The flat parameter buffer of <paramref name="spec"/> filled from a safetensors file. Every expected
    /// tensor must be present with dtype F32 and its exact shape, and no other tensor may be present; a
    /// FormatException names the file, the tensor, what was expected and what was found.
    /// </summary>
    public static float[] FromSafeTensors(ModelSpec spec, SafeTensorsContent content)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(content);
        var model = new Model(spec);
        var layout = Layout(model);
        var parameters = new float[model.ParameterCount];
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in layout)
        {
            expected.Add(t.Name);
            var found = content.Find(t.Name)
                ?? throw new FormatException($"{content.Source}: tensor '{t.Name}' ({t.LayerKind} layer {t.LayerIndex}, {t.LayerName}) is missing; " +
                                             $"expected F32 {t.ShapeText}. The file holds: {Names(content)}.");
            if (found.DType != "F32")
                throw new FormatException($"{content.Source}: tensor '{t.Name}' ({t.LayerKind} layer {t.LayerIndex}) has dtype {found.DType}; expected F32 {t.ShapeText}.");
            if (!ShapeEquals(found.Shape, t.Shape))
                throw new FormatException($"{content.Source}: tensor '{t.Name}' ({t.LayerKind} layer {t.LayerIndex}, {t.LayerName}) has shape {found.ShapeText}; expected {t.ShapeText}.");
            content.ReadF32(found).CopyTo(parameters, t.Offset);
        }
        foreach (var t in content.Tensors)
            if (!expected.Contains(t.Name))
                throw new FormatException($"{content.Source}: tensor '{t.Name}' ({t.DType} {t.ShapeText}) is not a parameter of this model; expected exactly: {string.Join(", ", expected)}.");
        return parameters;
    }

    public static float[] ReadSafeTensors(string path, ModelSpec spec) => FromSafeTensors(spec, SafeTensors.Read(path));

    /// <summary>The model spec stored in the file's metadata, or null when it has none.</summary>
    public static ModelSpec? StoredSpec(SafeTensorsContent content)
        => content.Metadata.TryGetValue(SpecKey, out var json) ? ModelSpec.FromJson(json, $"{content.Source}: metadata \"{SpecKey}\"") : null;

    private static bool ShapeEquals(long[] found, int[] expected)
    {
        if (found.Length != expected.Length) return false;
        for (var i = 0; i < found.Length; i++)
            if (found[i] != expected[i]) return false;
        return true;
    }

    private static string Names(SafeTensorsContent content)
    {
        if (content.Tensors.Count == 0) return "no tensors";
        var parts = new List<string>();
        foreach (var t in content.Tensors)
        {
            if (parts.Count == 12) { parts.Add($"... ({content.Tensors.Count} in all)"); break; }
            parts.Add($"'{t.Name}' {t.DType} {t.ShapeText}");
        }
        return string.Join(", ", parts);
    }
}
