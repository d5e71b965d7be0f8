using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DistTrain.Core.Models;

/// <summary>
/// A model's architecture: the per-sample input shape and the layers in order. Plain data; its
/// <see cref="Hash"/> (SHA-256 of the canonical JSON) identifies the architecture, so a worker with a
/// different model can be refused.
/// </summary>
public sealed record ModelSpec
{
    public ModelSpec(int[] inputShape, IReadOnlyList<LayerSpec> layers)
    {
        InputShape = inputShape ?? throw new ArgumentNullException(nameof(inputShape));
        Layers = layers ?? throw new ArgumentNullException(nameof(layers));
    }

    public int[] InputShape { get; init; }

    public IReadOnlyList<LayerSpec> Layers { get; init; }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Enum members by name only: a number ("kind": 7) would parse into a value no factory knows.
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private static readonly JsonSerializerOptions IndentedOptions = new(JsonOptions) { WriteIndented = true };

    public string ToJson(bool indented = false) => JsonSerializer.Serialize(this, indented ? IndentedOptions : JsonOptions);

    /// <summary>Parses a spec, naming the source and what was wrong when it is malformed.</summary>
    public static ModelSpec FromJson(string json, string source = "model spec")
    {
        ModelSpec? spec;
        try
        {
            spec = JsonSerializer.Deserialize<ModelSpec>(json, JsonOptions);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            // NotSupportedException: a layer without its "type"; ArgumentException: the constructor's null checks.
            throw new FormatException($"{source}: not a valid model spec: {e.Message} Expected JSON like {{\"input_shape\":[4],\"layers\":[{{\"type\":\"dense\",\"units\":5}}]}}.", e);
        }
        if (spec is null || spec.InputShape is null || spec.Layers is null)
            throw new FormatException($"{source}: a model spec needs \"input_shape\" and \"layers\".");
        for (var i = 0; i < spec.Layers.Count; i++)
            if (spec.Layers[i] is null) throw new FormatException($"{source}: layer {i} is null; expected an object like {{\"type\":\"dense\",\"units\":5}}.");
        return spec;
    }

    /// <summary>Lower-case hex SHA-256 of the canonical JSON.</summary>
    [JsonIgnore]
    public string Hash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson())));

    public bool Equals(ModelSpec? other) => other is not null && ToJson() == other.ToJson();

    public override int GetHashCode() => ToJson().GetHashCode(StringComparison.Ordinal);
}
