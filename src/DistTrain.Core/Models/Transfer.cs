using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using DistTrain.Core.Checkpoints;

namespace DistTrain.Core.Models;

/// <summary>A transfer model: its spec and the names of the layers that come from the base (and take its parameters).</summary>
public sealed record TransferModel(ModelSpec Spec, IReadOnlyList<string> BaseLayers);

/// <summary>
/// Transfer learning on model specs: cutting a trained network and putting a new head on it, choosing which
/// layers to freeze, and loading a base checkpoint's parameters into the layers that came from it. Pure data
/// and math: the CLI builds the spec once; every node loads the base from its own disk.
/// </summary>
public static class Transfer
{
    /// <summary>
    /// Keeps <paramref name="baseSpec"/>'s layers before <paramref name="cut"/> (default: its last Dense
    /// layer), appends Dense(h)+ReLU for each of <paramref name="hidden"/> and a final Dense with
    /// <paramref name="classes"/> units. Kept layers are named as in the base (their parameters come from it
    /// by name); dropout layers are left out of the kept part: the base is used as a fixed feature
    /// extractor, as at inference, which also lets its features be cached. Nothing is frozen here; see <see cref="Freeze"/>.
    /// </summary>
    public static TransferModel WithNewHead(ModelSpec baseSpec, int classes, IReadOnlyList<int> hidden, int? cut = null)
    {
        ArgumentNullException.ThrowIfNull(baseSpec);
        if (classes < 1) throw new ArgumentException($"the new head needs at least one class (got {classes})");
        var at = cut ?? LastDense(baseSpec);
        if (at < 1 || at > baseSpec.Layers.Count)
            throw new ArgumentException($"cut {at} is outside the base model's layers 1..{baseSpec.Layers.Count} (the layers before the cut are kept)");
        var layers = new List<LayerSpec>();
        var kept = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < at; i++)
        {
            var l = baseSpec.Layers[i];
            var name = l.Name ?? LayerFactory.DefaultName(l, i);
            names.Add(name);
            if (l is DropoutSpec or SpatialDropoutSpec) continue;
            layers.Add(l with { Name = name, Trainable = null });
            kept.Add(name);
        }
        for (var j = 0; j < hidden.Count; j++)
        {
            if (hidden[j] < 1) throw new ArgumentException($"head layer {j + 1} needs at least one unit (got {hidden[j]})");
            layers.Add(new DenseSpec(hidden[j]) { Name = Unique($"head_dense_{j + 1}", names) });
            layers.Add(new ActivationSpec(ActivationKind.ReLU) { Name = Unique($"head_relu_{j + 1}", names) });
        }
        layers.Add(new DenseSpec(classes, Initializer.Glorot) { Name = Unique("head_output", names) });
        return new TransferModel(new ModelSpec(baseSpec.InputShape, layers), kept);
    }

    private static int LastDense(ModelSpec spec)
    {
        for (var i = spec.Layers.Count - 1; i >= 0; i--)
            if (spec.Layers[i] is DenseSpec) return i;
        throw new ArgumentException("the base model has no dense layer to cut before; give the cut explicitly");
    }

    private static string Unique(string name, HashSet<string> taken)
    {
        var candidate = name;
        for (var k = 2; !taken.Add(candidate); k++) candidate = $"{name}_{k}";
        return candidate;
    }

    /// <summary>
    /// Marks layers frozen (<c>"trainable": false</c>) by a selection: comma-separated layer indices,
    /// ranges "a-b" (inclusive), layer names, "base" (every layer listed in <paramref name="baseLayers"/>)
    /// or "none". Every other layer is made trainable. Unknown names and indices are refused, naming them.
    /// </summary>
    public static ModelSpec Freeze(ModelSpec spec, string selection, IReadOnlyCollection<string>? baseLayers = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var frozen = SelectLayers(spec, selection, baseLayers);
        var layers = new LayerSpec[spec.Layers.Count];
        for (var i = 0; i < layers.Length; i++) layers[i] = spec.Layers[i] with { Trainable = frozen[i] ? false : null };
        return new ModelSpec(spec.InputShape, layers);
    }

    /// <summary>Which layers a freeze selection names (see <see cref="Freeze"/>).</summary>
    public static bool[] SelectLayers(ModelSpec spec, string selection, IReadOnlyCollection<string>? baseLayers = null)
    {
        ArgumentNullException.ThrowIfNull(selection);
        var count = spec.Layers.Count;
        var chosen = new bool[count];
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++) names[spec.Layers[i].Name ?? LayerFactory.DefaultName(spec.Layers[i], i)] = i;
        foreach (var raw in selection.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (raw == "none") continue;
            if (raw == "base")
            {
                if (baseLayers is null) throw new ArgumentException("freeze 'base' needs a base model (--base CHECKPOINT)");
                foreach (var b in baseLayers)
                    if (names.TryGetValue(b, out var bi)) chosen[bi] = true;
                continue;
            }
            var dash = raw.IndexOf('-', 1);
            if (dash > 0 && int.TryParse(raw[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var a)
                && int.TryParse(raw[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var b2))
            {
                if (a > b2 || b2 >= count) throw new ArgumentException($"freeze range '{raw}' is not within the model's layers 0-{count - 1}");
                for (var i = a; i <= b2; i++) chosen[i] = true;
            }
            else if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                if (index >= count) throw new ArgumentException($"freeze index {index} is not within the model's layers 0-{count - 1}");
                chosen[index] = true;
            }
            else if (names.TryGetValue(raw, out var byName))
            {
                chosen[byName] = true;
            }
            else
            {
                throw new ArgumentException($"freeze: the model has no layer named '{raw}' (layers: {string.Join(", ", names.Keys)})");
            }
        }
        return chosen;
    }

    /// <summary>
    /// Copies the parameters of every layer of <paramref name="model"/> whose name matches a layer of the
    /// base checkpoint (same kind and parameter count); other layers keep what they hold. Returns the
    /// lower-case hex SHA-256 of the copied values in layer order: nodes that loaded the same base agree on it.
    /// </summary>
    public static string LoadBase(Model model, Checkpoint baseCheckpoint, string source = "base checkpoint")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(baseCheckpoint);
        Model donor;
        try
        {
            donor = new Model(baseCheckpoint.Spec);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new ArgumentException($"{source}: its model cannot be built: {e.Message}", e);
        }
        if (baseCheckpoint.Parameters.Length != donor.ParameterCount)
            throw new ArgumentException($"{source} holds {baseCheckpoint.Parameters.Length} parameters but its model has {donor.ParameterCount}");
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < donor.Layers.Count; i++) byName[donor.Layers[i].Name] = i;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var copied = 0;
        for (var i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            if (!byName.TryGetValue(layer.Name, out var d)) continue;
            var from = donor.Layers[d];
            if (from.Kind != layer.Kind || from.ParameterCount != layer.ParameterCount)
                throw new ArgumentException($"{source}: layer '{layer.Name}' is a {from.Kind} with {from.ParameterCount} parameters in the base but a {layer.Kind} with {layer.ParameterCount} in this model");
            if (layer.ParameterCount == 0) continue;
            var values = baseCheckpoint.Parameters.AsSpan(donor.ParameterOffset(d), from.ParameterCount);
            values.CopyTo(model.Parameters.AsSpan(model.ParameterOffset(i), layer.ParameterCount));
            sha.AppendData(MemoryMarshal.AsBytes(values));
            copied++;
        }
        if (copied == 0)
            throw new ArgumentException($"{source}: none of this model's layers with parameters is named like a layer of the base ({string.Join(", ", byName.Keys)})");
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
