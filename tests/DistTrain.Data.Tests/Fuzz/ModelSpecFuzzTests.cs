using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DistTrain.Core.Models;

namespace DistTrain.Data.Tests.Fuzz;

// Inside the namespace: DistTrain.*.Tests.Fuzz would otherwise hide the Fuzz helper class.
using DistTrain.Tests.Shared;

/// <summary>
/// ModelSpec.FromJson on mutated specs throws only FormatException naming the source; a spec that parses
/// but cannot be built throws only ArgumentException naming the layer (or the input shape).
/// </summary>
public class ModelSpecFuzzTests
{
    /// <summary>A valid spec that uses every layer type: input (1, 8, 8) → 3 classes.</summary>
    private static readonly ModelSpec Valid = new(
        [1, 8, 8],
        [
            new Conv2DSpec(2, 3, Padding: 1),
            new ActivationSpec(ActivationKind.ReLU),
            new MaxPool2DSpec(2),
            new SpatialDropoutSpec(0.1f),
            new FlattenSpec(),
            new DenseSpec(5, Initializer.Glorot) { Name = "hidden" },
            new ActivationSpec(ActivationKind.Tanh),
            new DropoutSpec(0.25f),
            new DenseSpec(3),
            new ActivationSpec(ActivationKind.Softmax),
        ]);

    private static readonly string[] UnknownTypes = ["lstm", "Dense", "DENSE", "", "conv3d", "activation ", "dense\u0000"];

    /// <summary>Small and degenerate values only: a model built from a mutated spec must stay small.</summary>
    private static JsonNode? RandomValue(Random rng)
    {
        switch (rng.Next(16))
        {
            case 0: return JsonValue.Create(-1);
            case 1: return JsonValue.Create(0);
            case 2: return JsonValue.Create(rng.Next(1, 12));
            case 3: return JsonValue.Create(int.MaxValue);
            case 4: return JsonValue.Create(int.MinValue);
            case 5: return JsonValue.Create(2147483648L); // overflows int
            case 6: return JsonValue.Create(2.5);
            case 7: return JsonValue.Create(1e300);
            case 8: return JsonValue.Create(rng.Next(2) == 0 ? "relu" : "x");
            case 9: return JsonValue.Create(rng.Next(2) == 0 ? "he" : "sigmoid");
            case 10: return JsonValue.Create(rng.Next(2) == 0);
            case 11: return null;
            case 12: return new JsonArray();
            case 13: return new JsonObject();
            case 14: return new JsonArray(JsonValue.Create(rng.Next(-1, 5)), JsonValue.Create(rng.Next(-1, 5)));
            default:
                JsonNode deep = JsonValue.Create(1);
                var depth = rng.Next(2, 200);
                for (var d = 0; d < depth; d++) deep = rng.Next(2) == 0 ? new JsonArray(deep) : new JsonObject { ["a"] = deep };
                return deep;
        }
    }

    /// <summary>Every object property and array element (with its parent), depth first.</summary>
    private static List<(JsonNode Parent, object Key)> Slots(JsonNode node)
    {
        var slots = new List<(JsonNode, object)>();
        void Walk(JsonNode n)
        {
            if (n is JsonObject o)
                foreach (var (k, v) in o.ToList()) { slots.Add((o, k)); if (v is not null) Walk(v); }
            else if (n is JsonArray a)
                for (var i = 0; i < a.Count; i++) { slots.Add((a, i)); if (a[i] is { } v) Walk(v); }
        }
        Walk(node);
        return slots;
    }

    private static string Mutate(Random rng)
    {
        var root = JsonNode.Parse(Valid.ToJson())!;
        var mutations = 1 + rng.Next(3);
        for (var m = 0; m < mutations; m++)
        {
            var slots = Slots(root);
            var (parent, key) = slots[rng.Next(slots.Count)];
            var layers = root["layers"] as JsonArray;
            switch (rng.Next(8))
            {
                case 0 or 1 or 2: // a value of the wrong type or size
                    if (parent is JsonObject o) o[(string)key] = RandomValue(rng);
                    else ((JsonArray)parent)[(int)key] = RandomValue(rng);
                    break;
                case 3: // a missing key
                    if (parent is JsonObject o2) o2.Remove((string)key);
                    break;
                case 4: // an unknown key
                    if (parent is JsonObject o3) o3["unknown_" + rng.Next(3)] = RandomValue(rng);
                    else if (layers is { Count: > 0 } && layers[rng.Next(layers.Count)] is JsonObject l) l["bias"] = true;
                    break;
                case 5: // an unknown layer type
                    if (layers is { Count: > 0 } && layers[rng.Next(layers.Count)] is JsonObject l2) l2["type"] = UnknownTypes[rng.Next(UnknownTypes.Length)];
                    break;
                case 6: // layers removed, duplicated or swapped: shapes that no longer fit
                    if (layers is { Count: > 1 })
                    {
                        var i = rng.Next(layers.Count);
                        var j = rng.Next(layers.Count);
                        var li = layers[i]!.DeepClone();
                        if (rng.Next(2) == 0) layers.RemoveAt(i);
                        else layers.Insert(j, li);
                    }
                    break;
                default: // the kernel larger than the input, zero units and similar
                    if (layers is { Count: > 0 } && layers[rng.Next(layers.Count)] is JsonObject l3)
                        foreach (var field in new[] { "units", "filters", "kernel_size", "stride", "padding", "pool_size", "rate" })
                            if (l3.ContainsKey(field)) l3[field] = rng.Next(3) switch { 0 => 0, 1 => 9 + rng.Next(30), _ => -rng.Next(1, 3) };
                    break;
            }
        }
        var text = root.ToJsonString();
        // Text-level damage on a quarter of the cases: truncation or a flipped character.
        switch (rng.Next(8))
        {
            case 0: text = text[..rng.Next(text.Length)]; break;
            case 1:
                var sb = new StringBuilder(text);
                sb[rng.Next(sb.Length)] = "{}[],:\"0a\\"[rng.Next(10)];
                text = sb.ToString();
                break;
        }
        return text;
    }

    [Fact]
    public void The_valid_spec_round_trips_and_builds()
    {
        var spec = ModelSpec.FromJson(Valid.ToJson(), "valid.json");
        Assert.Equal(Valid, spec);
        Assert.Equal(3, new Model(spec).OutputShape.Size);
    }

    [Fact]
    public void Mutated_specs_raise_only_FormatException_when_parsed_and_ArgumentException_naming_the_layer_when_built()
    {
        var rng = new Random(5301);
        int formatErrors = 0, buildErrors = 0, built = 0;
        for (var i = 0; i < 2000; i++)
        {
            var json = Mutate(rng);
            var source = $"spec-{i}.json";
            var what = $"case {i} (seed 5301): {Fuzz.Show(json, 1200)}";
            ModelSpec? spec = null;
            if (Fuzz.Expect<FormatException>(source, what, () => spec = ModelSpec.FromJson(json, source)) is not null)
            {
                formatErrors++;
                continue;
            }
            Assert.NotNull(spec);
            try
            {
                var model = new Model(spec);
                Assert.True(model.ParameterCount < 1 << 20, $"{what}: {model.ParameterCount} parameters");
                built++;
            }
            catch (Exception e) when (e.GetType() == typeof(ArgumentException))
            {
                buildErrors++;
                Assert.True(Regex.IsMatch(e.Message, @"layer \d+|input_shape|at least one layer|two layers named"),
                    $"{what}: the ArgumentException names neither a layer nor the input shape: {e.Message}");
            }
            catch (Exception e)
            {
                Assert.Fail($"{what}: {e.GetType().FullName} escaped from new Model(spec) (only ArgumentException is documented): {e}");
            }
        }
        // Every path is exercised: unparseable specs, parseable-but-unbuildable ones, and ones that still work.
        Assert.True(formatErrors > 200 && buildErrors > 100 && built > 50, $"format {formatErrors}, build {buildErrors}, built {built}");
    }

    // Inputs the fuzz found, kept as named cases.

    [Theory]
    [InlineData("""{"input_shape":[4],"layers":[{"units":5}]}""", "type discriminator")] // was NotSupportedException
    [InlineData("""{"input_shape":[4],"layers":[null]}""", "layer 0 is null")] // was NullReferenceException in new Model
    [InlineData("""{"input_shape":null,"layers":[]}""", "input_shape")] // was ArgumentNullException
    [InlineData("""{"input_shape":[4],"layers":[{"type":"activation","kind":7}]}""", "$.layers[0].kind")] // was NotSupportedException in new Model
    [InlineData("""{"input_shape":[4],"layers":[{"type":"dense","units":3,"init":9}]}""", "$.layers[0].init")]
    public void Specs_the_fuzz_found_are_FormatExceptions_naming_the_source(string json, string mentions)
    {
        var e = Assert.Throws<FormatException>(() => ModelSpec.FromJson(json, "found.json"));
        Assert.StartsWith("found.json: ", e.Message);
        Assert.True(e.Message.Contains(mentions, StringComparison.Ordinal), e.Message);
    }

    [Theory]
    [InlineData("""{"input_shape":[4],"layers":[{"type":"dense","units":2147483647}]}""", "layer 0 (Dense)", "parameters")] // was ArgumentOutOfRangeException
    [InlineData("""{"input_shape":[1,8,8],"layers":[{"type":"conv2d","filters":2,"kernel_size":3,"padding":2147483647}]}""", "layer 0 (Conv2D)", "2^31")] // padding wrapped around
    [InlineData("""{"input_shape":[1,8,8],"layers":[{"type":"conv2d","filters":2147483647,"kernel_size":3}]}""", "layer 0 (Conv2D)", "2^31")]
    [InlineData("""{"input_shape":[1,8,-5],"layers":[{"type":"flatten"}]}""", "input_shape", "non-positive")]
    [InlineData("""{"input_shape":[1,4,4],"layers":[{"type":"conv2d","filters":2,"kernel_size":9}]}""", "layer 0 (Conv2D)", "does not fit")]
    [InlineData("""{"input_shape":[4],"layers":[{"type":"dense","units":0}]}""", "layer 0 (Dense)", "non-positive")]
    public void Specs_that_parse_but_cannot_be_built_raise_ArgumentException_naming_the_layer(string json, string names, string says)
    {
        var spec = ModelSpec.FromJson(json, "found.json");
        var e = Assert.Throws<ArgumentException>(() => new Model(spec));
        Assert.True(e.Message.Contains(names, StringComparison.Ordinal) && e.Message.Contains(says, StringComparison.Ordinal), e.Message);
    }
}
