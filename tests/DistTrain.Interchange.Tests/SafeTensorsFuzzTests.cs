using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using DistTrain.Core.Interchange;
using DistTrain.Core.Models;

using DistTrain.Tests.Shared;

namespace DistTrain.Interchange.Tests;

/// <summary>
/// The safetensors reader (and the model import on top of it) on generated malformed files: truncations,
/// bit flips, mutated JSON headers, lying header lengths and random bytes. Only a FormatException whose
/// message starts with the file name may escape; never IndexOutOfRange, Overflow, InvalidOperation, etc.
/// </summary>
public sealed class SafeTensorsFuzzTests
{
    private const string Source = "fuzz.safetensors";

    private static readonly ModelSpec Spec = new([2, 3, 3], [new Conv2DSpec(2, 2), new FlattenSpec(), new DenseSpec(3)]);

    private static byte[] Valid() => ModelWeights.ToSafeTensors(Spec, TestModels.RandomParameters(Spec, 77));

    /// <summary>Parses and imports; returns true when rejected (with a FormatException naming the file).</summary>
    private static bool Rejected(byte[] bytes, string what)
    {
        var e = Fuzz.Expect<FormatException>(Source, $"{what}: {Fuzz.Show(bytes)}", () =>
        {
            var content = SafeTensors.Parse(bytes, Source);
            ModelWeights.StoredSpec(content);
            var p = ModelWeights.FromSafeTensors(Spec, content);
            Assert.Equal(new Model(Spec).ParameterCount, p.Length);
        });
        return e is not null;
    }

    private static byte[] WithHeader(string header, ReadOnlySpan<byte> data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes.AsSpan(8 + h.Length));
        return bytes;
    }

    private static (string Header, byte[] Data) Split(byte[] file)
    {
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (Encoding.UTF8.GetString(file, 8, n), file[(8 + n)..]);
    }

    [Fact]
    public void Every_truncation_of_a_valid_file_is_rejected_with_a_FormatException()
    {
        var valid = Valid();
        Assert.False(Rejected(valid, "the valid file"));
        for (var length = 0; length < valid.Length; length++)
            Assert.True(Rejected(valid[..length], $"truncated to {length} of {valid.Length} bytes"), $"truncated to {length} bytes was accepted");
        Assert.True(valid.Length >= 300, $"only {valid.Length} truncations");
    }

    [Fact]
    public void Random_bit_flips_raise_only_FormatException()
    {
        var valid = Valid();
        var rng = new Random(6101);
        var rejected = 0;
        const int cases = 600;
        var headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        for (var i = 0; i < cases; i++)
        {
            var bytes = (byte[])valid.Clone();
            var flips = 1 + rng.Next(3);
            for (var f = 0; f < flips; f++)
            {
                // Mostly in the length and header, where a flip changes the structure; data flips are only values.
                var at = rng.Next(4) == 0 ? rng.Next(bytes.Length) : rng.Next(headerEnd);
                bytes[at] ^= (byte)(1 << rng.Next(8));
            }
            if (Rejected(bytes, $"case {i} (seed 6101)")) rejected++;
        }
        Assert.InRange(rejected, cases / 2, cases); // flips in float data or padding may leave a valid file
    }

    private static JsonNode? RandomValue(Random rng) => rng.Next(14) switch
    {
        0 => JsonValue.Create(-1),
        1 => JsonValue.Create(0),
        2 => JsonValue.Create(rng.Next(1, 40)),
        3 => JsonValue.Create(long.MaxValue),
        4 => JsonValue.Create(ulong.MaxValue),
        5 => JsonValue.Create(2.5),
        6 => JsonValue.Create(1e300),
        7 => JsonValue.Create(new[] { "F32", "F16", "BF16", "I64", "U8", "BOOL", "f32", "", "F32 ", "Q7" }[rng.Next(10)]),
        8 => JsonValue.Create(rng.Next(2) == 0),
        9 => null,
        10 => new JsonArray(),
        11 => new JsonObject { ["x"] = 1 },
        12 => new JsonArray(JsonValue.Create(rng.Next(-2, 300)), JsonValue.Create(rng.Next(-2, 300))),
        _ => new JsonArray(JsonValue.Create(rng.Next(0, 5)), JsonValue.Create(rng.Next(0, 5)), JsonValue.Create(rng.Next(0, 5))),
    };

    [Fact]
    public void Mutated_json_headers_bad_dtypes_shapes_and_offsets_raise_only_FormatException()
    {
        var (header, data) = Split(Valid());
        var rng = new Random(6102);
        var rejected = 0;
        const int cases = 700;
        for (var i = 0; i < cases; i++)
        {
            var root = JsonNode.Parse(header)!.AsObject();
            var names = root.Select(p => p.Key).ToArray();
            var mutations = 1 + rng.Next(2);
            for (var m = 0; m < mutations; m++)
            {
                var name = names[rng.Next(names.Length)];
                if (root[name] is not JsonObject entry) continue;
                var fields = entry.Select(p => p.Key).ToArray();
                switch (rng.Next(9))
                {
                    case 0 or 1 or 2: // replace a field's value (dtype, shape, data_offsets, or a metadata value)
                        if (fields.Length > 0) entry[fields[rng.Next(fields.Length)]] = RandomValue(rng);
                        break;
                    case 3: // shift or swap offsets
                        if (entry["data_offsets"] is JsonArray { Count: 2 } o && AsLong(o[0]) is { } b && AsLong(o[1]) is { } e)
                        {
                            var d = rng.Next(-12, 13);
                            entry["data_offsets"] = rng.Next(2) == 0 ? new JsonArray(b + d, e + d) : new JsonArray(e, b + d);
                        }
                        break;
                    case 4: // a dimension more or less, or a different one
                        if (entry["shape"] is JsonArray s && s.All(x => AsLong(x) is not null))
                        {
                            var dims = s.Select(x => AsLong(x)!.Value).ToList();
                            if (rng.Next(2) == 0 && dims.Count > 0) dims.RemoveAt(rng.Next(dims.Count));
                            else dims.Insert(rng.Next(dims.Count + 1), rng.Next(0, 4));
                            entry["shape"] = new JsonArray(dims.Select(x => (JsonNode?)JsonValue.Create(x)).ToArray());
                        }
                        break;
                    case 5: // drop a field or add one
                        if (rng.Next(2) == 0 && fields.Length > 0) entry.Remove(fields[rng.Next(fields.Length)]);
                        else entry["extra"] = RandomValue(rng);
                        break;
                    case 6: // rename a tensor
                        root.Remove(name);
                        root[rng.Next(2) == 0 ? name + "x" : ""] = entry;
                        names = root.Select(p => p.Key).ToArray();
                        break;
                    case 7: // replace the whole entry
                        root[name] = RandomValue(rng);
                        break;
                    default: // another tensor claiming bytes
                        root["ghost"] = new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(rng.Next(0, 3)), ["data_offsets"] = new JsonArray(rng.Next(0, 40), rng.Next(0, 40)) };
                        names = root.Select(p => p.Key).ToArray();
                        break;
                }
            }
            var text = root.ToJsonString() + new string(' ', rng.Next(8));
            // Sometimes cut or extend the data section too.
            var d2 = rng.Next(5) switch { 0 => data[..rng.Next(data.Length)], 1 => [.. data, .. new byte[rng.Next(1, 9)]], _ => data };
            if (Rejected(WithHeader(text, d2), $"case {i} (seed 6102), header {Fuzz.Show(text, 200)}")) rejected++;
        }
        Assert.InRange(rejected, cases * 8 / 10, cases);
    }

    private const string Punctuation = "{}[],:\"\\ 0-e.\u00ffx";

    private static long? AsLong(JsonNode? n) => n is JsonValue v && long.TryParse(v.ToJsonString(), out var l) ? l : null;

    [Fact]
    public void Broken_json_and_lying_header_lengths_raise_only_FormatException()
    {
        var valid = Valid();
        var (header, data) = Split(valid);
        var rng = new Random(6103);
        var cases = 0;
        // Lying lengths: zero, one, just past the end, the limit, 2^63, 2^64 − 1.
        foreach (var n in new ulong[] { 0, 1, 2, (ulong)(valid.Length - 8 + 1), (ulong)valid.Length, 100_000_000, 100_000_001, 1UL << 32, 1UL << 63, ulong.MaxValue })
        {
            var bytes = (byte[])valid.Clone();
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, n);
            Assert.True(Rejected(bytes, $"header length {n}"), $"header length {n} accepted");
            cases++;
        }
        // Headers cut, spliced with random text, or with random characters replaced (keeps the length field right).
        for (var i = 0; i < 300; i++)
        {
            var text = header;
            switch (rng.Next(4))
            {
                case 0: text = text[..rng.Next(text.Length)]; break;
                case 1: text = text.Insert(rng.Next(text.Length), Fuzz.RandomText(rng, 6, Fuzz.JsonAlphabet)); break;
                case 2:
                    var chars = text.ToCharArray();
                    for (var k = 0; k < 1 + rng.Next(3); k++) chars[rng.Next(chars.Length)] = Punctuation[rng.Next(Punctuation.Length)];
                    text = new string(chars);
                    break;
                default: text = Fuzz.RandomText(rng, 80, Fuzz.JsonAlphabet); break;
            }
            Rejected(WithHeader(text, data), $"case {i} (seed 6103), header {Fuzz.Show(text, 200)}");
            cases++;
        }
        // Invalid UTF-8 inside a string of the header.
        foreach (var bad in new byte[][] { [0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0] })
        {
            var h = Encoding.UTF8.GetBytes(header);
            var at = Array.IndexOf(h, (byte)'w'); // inside the name "0.weight"
            byte[] mutated = [.. h[..at], .. bad, .. h[(at + 1)..]];
            var bytes = new byte[8 + mutated.Length + data.Length];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)mutated.Length);
            mutated.CopyTo(bytes, 8);
            data.CopyTo(bytes, 8 + mutated.Length);
            Assert.True(Rejected(bytes, $"invalid UTF-8 {Convert.ToHexString(bad)}"));
            cases++;
        }
        Assert.True(cases >= 300);
    }

    [Fact]
    public void Random_bytes_behind_a_plausible_header_length_raise_only_FormatException()
    {
        var rng = new Random(6104);
        for (var i = 0; i < 300; i++)
        {
            var bytes = new byte[rng.Next(0, 120)];
            rng.NextBytes(bytes);
            if (bytes.Length >= 8 && i % 2 == 0) BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)rng.Next(0, bytes.Length - 7));
            if (bytes.Length >= 9 && i % 4 == 0) bytes[8] = (byte)'{';
            Assert.True(Rejected(bytes, $"case {i} (seed 6104)"));
        }
    }
}
