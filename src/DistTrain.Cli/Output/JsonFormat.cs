using System.Text.Json;
using System.Text.Json.Serialization;

namespace DistTrain.Cli.Output;

/// <summary>The JSON conventions of the run output: snake_case keys, non-finite numbers as null.</summary>
internal static class JsonFormat
{
    public static readonly JsonSerializerOptions Summary = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new FiniteOrNullDouble(), new CompactRows() },
    };

    /// <summary>Writes NaN and infinities as null (JSON has neither); reads null back as NaN.</summary>
    private sealed class FiniteOrNullDouble : JsonConverter<double>
    {
        public override bool HandleNull => true;

        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }

    /// <summary>Writes each row of a matrix on one line, so a 10×10 confusion matrix is 10 lines, not 120.</summary>
    private sealed class CompactRows : JsonConverter<int[][]>
    {
        public override int[][]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            JsonSerializer.Deserialize<List<int[]>>(ref reader)?.ToArray();

        public override void Write(Utf8JsonWriter writer, int[][] value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            // A raw value gets no indentation from the writer, so each row carries its own line break.
            var indent = options.WriteIndented ? "\n" + new string(' ', writer.CurrentDepth * 2) : "";
            foreach (var row in value)
                writer.WriteRawValue(indent + JsonSerializer.Serialize(row), skipInputValidation: true);
            writer.WriteEndArray();
        }
    }
}
