using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using DistTrain.Core.Interchange;
using DistTrain.Core.Models;

namespace DistTrain.Interchange.Tests;

public sealed class SafeTensorsTests
{
    private static string Header(byte[] file) => Encoding.UTF8.GetString(file, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(file));

    [Fact]
    public void Export_then_import_gives_bit_identical_parameters_for_mlp_and_cnn()
    {
        foreach (var spec in new[] { TestModels.PenguinsMlp, TestModels.BigMlp, TestModels.Cnn })
        {
            var p = TestModels.RandomParameters(spec, 3);
            // Values whose bits a lossy path would change: -0, a subnormal, the extremes.
            p[0] = -0f; p[1] = 1e-42f; p[2] = float.MaxValue; p[3] = float.Epsilon;
            var bytes = ModelWeights.ToSafeTensors(spec, p);
            var back = ModelWeights.FromSafeTensors(spec, SafeTensors.Parse(bytes, "roundtrip.safetensors"));
            Assert.True(MemoryMarshal.AsBytes(p.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(back.AsSpan())));
        }
    }

    [Fact]
    public void File_layout_is_a_little_endian_length_then_space_padded_json_then_the_floats()
    {
        var spec = TestModels.PenguinsMlp;
        var p = TestModels.RandomParameters(spec, 4);
        var bytes = ModelWeights.ToSafeTensors(spec, p);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + n) % 8);
        var header = Header(bytes);
        Assert.StartsWith("{", header);
        Assert.Matches(@"\} *$", header);
        using var doc = JsonDocument.Parse(header);
        var root = doc.RootElement;
        Assert.Equal("F32", root.GetProperty("0.weight").GetProperty("dtype").GetString());
        Assert.Equal([5, 4], root.GetProperty("0.weight").GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0, 80], root.GetProperty("0.weight").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([3], root.GetProperty("4.bias").GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        var meta = root.GetProperty("__metadata__");
        Assert.Equal("pt", meta.GetProperty("format").GetString());
        Assert.Equal(spec, ModelSpec.FromJson(meta.GetProperty(ModelWeights.SpecKey).GetString()!));
        // Tensor names are exactly nn.Sequential's: modules 1 and 3 (ReLU) own none.
        Assert.Equal(["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"],
            root.EnumerateObject().Select(x => x.Name).Where(x => x != "__metadata__").Order(StringComparer.Ordinal));
        // The data section is the flat buffer (Dense stores W (out, in) then b, PyTorch's layout), floats LE.
        Assert.Equal(8 + n + 4 * p.Length, bytes.Length);
        for (var i = 0; i < p.Length; i++) Assert.Equal(p[i], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + n + 4 * i)));
    }

    [Fact]
    public void Exported_dense_weight_is_out_by_in_so_y_equals_W_x_plus_b_from_the_file()
    {
        var spec = new ModelSpec([3], [new DenseSpec(2)]);
        var p = TestModels.RandomParameters(spec, 5);
        var content = SafeTensors.Parse(ModelWeights.ToSafeTensors(spec, p), "dense");
        var w = content.ReadF32(content.Find("0.weight")!);
        var b = content.ReadF32(content.Find("0.bias")!);
        float[] x = [0.5f, -1.25f, 2f];
        var y = TestModels.Forward(spec, p, x, 1);
        for (var o = 0; o < 2; o++)
        {
            var expected = b[o];
            for (var i = 0; i < 3; i++) expected += w[o * 3 + i] * x[i];
            Assert.Equal(expected, y[o], 5);
        }
    }

    [Fact]
    public void Exported_conv_weight_is_filters_channels_kh_kw_as_a_direct_convolution_reads_it()
    {
        // 2 channels 4×4 → 3 filters 3×3, padding 1, stride 2: compare one direct cross-correlation with Forward.
        var spec = new ModelSpec([2, 4, 4], [new Conv2DSpec(3, 3, Stride: 2, Padding: 1)]);
        var p = TestModels.RandomParameters(spec, 6);
        var content = SafeTensors.Parse(ModelWeights.ToSafeTensors(spec, p), "conv");
        var wInfo = content.Find("0.weight")!;
        Assert.Equal([3L, 2, 3, 3], wInfo.Shape);
        var w = content.ReadF32(wInfo);
        var b = content.ReadF32(content.Find("0.bias")!);
        var x = TestModels.RandomInputs(spec, 1, 7);
        var y = TestModels.Forward(spec, p, x, 1); // (3, 2, 2)
        for (var f = 0; f < 3; f++)
            for (var oh = 0; oh < 2; oh++)
                for (var ow = 0; ow < 2; ow++)
                {
                    var s = b[f];
                    for (var c = 0; c < 2; c++)
                        for (var i = 0; i < 3; i++)
                            for (var j = 0; j < 3; j++)
                            {
                                int h = oh * 2 - 1 + i, v = ow * 2 - 1 + j;
                                if (h is >= 0 and < 4 && v is >= 0 and < 4) s += w[((f * 2 + c) * 3 + i) * 3 + j] * x[(c * 4 + h) * 4 + v];
                            }
                    Assert.Equal(s, y[(f * 2 + oh) * 2 + ow], 5);
                }
    }

    [Fact]
    public void Import_with_a_wrong_shape_names_the_tensor_the_expected_and_the_found_shape()
    {
        var bytes = ModelWeights.ToSafeTensors(TestModels.PenguinsMlp, TestModels.RandomParameters(TestModels.PenguinsMlp, 1));
        var other = new ModelSpec([4], [new DenseSpec(6), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(5), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(3)]);
        var e = Assert.Throws<FormatException>(() => ModelWeights.FromSafeTensors(other, SafeTensors.Parse(bytes, "w.safetensors")));
        Assert.StartsWith("w.safetensors:", e.Message);
        Assert.Contains("'0.weight'", e.Message);
        Assert.Contains("has shape [5, 4]; expected [6, 4]", e.Message);
    }

    [Fact]
    public void Import_names_a_missing_tensor_and_an_unexpected_one()
    {
        var small = new ModelSpec([4], [new DenseSpec(3)]);
        var bytes = ModelWeights.ToSafeTensors(small, TestModels.RandomParameters(small, 1));
        var two = new ModelSpec([4], [new DenseSpec(3), new DenseSpec(2)]);
        var missing = Assert.Throws<FormatException>(() => ModelWeights.FromSafeTensors(two, SafeTensors.Parse(bytes, "a.safetensors")));
        Assert.Contains("tensor '1.weight' (Dense layer 1, dense_1) is missing; expected F32 [2, 3]", missing.Message);
        var big = ModelWeights.ToSafeTensors(two, TestModels.RandomParameters(two, 1));
        var extra = Assert.Throws<FormatException>(() => ModelWeights.FromSafeTensors(small, SafeTensors.Parse(big, "b.safetensors")));
        Assert.Contains("tensor '1.weight' (F32 [2, 3]) is not a parameter of this model", extra.Message);
    }

    [Fact]
    public void Import_refuses_another_dtype_naming_it()
    {
        // Same bytes, dtype relabelled I32: a valid safetensors file whose tensor is not F32.
        var spec = new ModelSpec([2], [new DenseSpec(1)]);
        var bytes = ModelWeights.ToSafeTensors(spec, [1f, 2f, 3f]);
        var at = Header(bytes).IndexOf("\"0.bias\":{\"dtype\":\"F32\"", StringComparison.Ordinal);
        Assert.True(at > 0);
        var relabelled = (byte[])bytes.Clone();
        relabelled[8 + at + "\"0.bias\":{\"dtype\":\"".Length] = (byte)'I';
        Assert.NotEqual(bytes, relabelled);
        var e = Assert.Throws<FormatException>(() => ModelWeights.FromSafeTensors(spec, SafeTensors.Parse(relabelled, "c.safetensors")));
        Assert.Contains("tensor '0.bias' (Dense layer 0) has dtype I32; expected F32 [1]", e.Message);
    }

    public static TheoryData<string, string, string> BadHeaders => new()
    {
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "8", "header length" }, // header claims more than the file (patched below)
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "8", "overlaps" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "8", "belong to no tensor" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "8", "4 bytes at its end belong to no tensor" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "8", "past the end of the data section" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "8", "so 12 bytes, but its data_offsets [0, 8] span 8" },
        { "{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", "8", "unknown dtype \"Q7\"" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", "8", "the end lies before the begin" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "8", "expected a non-negative integer" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "8", "lacks \"data_offsets\"" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", "8", "unknown field \"x\"" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", "8", "names 'a' twice" },
        { "{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "8", "metadata entry 'k'" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", "8", "not valid JSON" },
        { "[1,2]", "0", "does not start with '{'" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", "8", "too many elements" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Reader_reports_each_kind_of_malformed_header_as_a_FormatException_naming_the_file(string header, string dataBytes, string expected)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var data = int.Parse(dataBytes);
        var bytes = new byte[8 + h.Length + data];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        if (expected == "header length") BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(h.Length + data + 1));
        var e = Assert.Throws<FormatException>(() => SafeTensors.Parse(bytes, "bad.safetensors"));
        Assert.StartsWith("bad.safetensors: not a valid safetensors file:", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Reading_a_missing_file_is_a_FormatException_naming_it()
    {
        var path = Path.Combine(Path.GetTempPath(), $"disttrain-none-{Guid.NewGuid():N}.safetensors");
        var e = Assert.Throws<FormatException>(() => SafeTensors.Read(path));
        Assert.StartsWith(path + ":", e.Message);
    }

    [Fact]
    public void Stored_spec_comes_back_from_the_metadata_and_write_read_through_a_file_round_trips()
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-st-");
        try
        {
            var path = Path.Combine(dir.FullName, "m.safetensors");
            var p = TestModels.RandomParameters(TestModels.Cnn, 8);
            ModelWeights.WriteSafeTensors(path, TestModels.Cnn, p, new Dictionary<string, string> { ["disttrain.class_names"] = "[\"a\"]" });
            var content = SafeTensors.Read(path);
            Assert.Equal(TestModels.Cnn, ModelWeights.StoredSpec(content));
            Assert.Equal("[\"a\"]", content.Metadata["disttrain.class_names"]);
            Assert.Equal(p, ModelWeights.ReadSafeTensors(path, TestModels.Cnn));
            Assert.Single(Directory.GetFiles(dir.FullName)); // no temporary file left behind
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
