using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Tests.Optimizers;

namespace DistTrain.Core.Tests.Checkpoints;

public sealed class CheckpointFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "disttrain-ckpt-tests-" + Guid.NewGuid().ToString("N"));

    public CheckpointFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Checkpoint Sample(int hidden = 6, bool withOptimizer = true, bool withNormalization = true)
    {
        var spec = new ModelSpec([4], [new DenseSpec(hidden), new ActivationSpec(ActivationKind.ReLU), new DenseSpec(3, Initializer.Glorot) { Name = "out" }]);
        var model = new Model(spec);
        model.InitializeParameters(42);
        var optimizerSpec = new OptimizerSpec(OptimizerKind.Adam, 1e-3f, WeightDecay: 1e-4f,
            Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 100, MinLearningRate: 1e-5f, WarmupSteps: 5));
        var optimizer = Optimizer.Create(optimizerSpec, model.ParameterCount);
        var g = new float[model.ParameterCount];
        for (var s = 0; s < 3; s++)
        {
            for (var i = 0; i < g.Length; i++) g[i] = MathF.Sin(i + 0.5f * s);
            optimizer.Step(model.Parameters, g);
        }
        var metadata = new CheckpointMetadata(7, optimizer.StepCount, 0xFEDC_BA98_7654_3210UL, ["Adelie", "Chinstrap", "Gentoo"],
            LossKind.SoftmaxCrossEntropy,
            withNormalization ? new Normalization([43.9f, 17.15f, 200.9f, 4201.75f], [5.46f, 1.97f, 14.06f, 801.95f]) : null,
            new Dictionary<string, string> { ["dataset"] = "penguins.csv", ["note"] = "ünïcödé ✓" });
        return withOptimizer
            ? new Checkpoint(spec, model.Parameters, optimizerSpec, optimizer.SaveState(), metadata)
            : new Checkpoint(spec, model.Parameters, null, null, metadata);
    }

    private static void AssertSame(Checkpoint expected, Checkpoint actual)
    {
        // Compared part by part (LayerSpec records compare by value) rather than through ModelSpec.Equals/Hash,
        // which go through ModelSpec.ToJson (owned by the Models code).
        Assert.Equal(expected.Spec.InputShape, actual.Spec.InputShape);
        Assert.Equal(expected.Spec.Layers, actual.Spec.Layers);
        Approx.Identical(expected.Parameters, actual.Parameters, "parameters");
        Assert.Equal(expected.Optimizer, actual.Optimizer);
        if (expected.OptimizerState is null) Assert.Null(actual.OptimizerState);
        else
        {
            Assert.NotNull(actual.OptimizerState);
            Assert.Equal(expected.OptimizerState.Kind, actual.OptimizerState.Kind);
            Assert.Equal(expected.OptimizerState.Step, actual.OptimizerState.Step);
            Assert.Equal(expected.OptimizerState.Buffers.Count, actual.OptimizerState.Buffers.Count);
            for (var i = 0; i < expected.OptimizerState.Buffers.Count; i++)
                Approx.Identical(expected.OptimizerState.Buffers[i], actual.OptimizerState.Buffers[i], $"optimizer buffer {i}");
        }
        var e = expected.Metadata;
        var a = actual.Metadata;
        Assert.Equal(e.Epoch, a.Epoch);
        Assert.Equal(e.Step, a.Step);
        Assert.Equal(e.Seed, a.Seed);
        Assert.Equal(e.ClassNames, a.ClassNames);
        Assert.Equal(e.Loss, a.Loss);
        if (e.Normalization is null) Assert.Null(a.Normalization);
        else
        {
            Assert.NotNull(a.Normalization);
            Approx.Identical(e.Normalization.Mean, a.Normalization.Mean, "normalization mean");
            Approx.Identical(e.Normalization.Std, a.Normalization.Std, "normalization std");
        }
        Assert.Equal(e.Extra!.OrderBy(kv => kv.Key), a.Extra!.OrderBy(kv => kv.Key));
    }

    private string[] FilesInDir() => Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void A_checkpoint_written_and_read_back_is_equal_in_every_part()
    {
        var checkpoint = Sample();
        var path = Path.Combine(_dir, "model.ckpt");
        CheckpointFile.Write(path, checkpoint);
        AssertSame(checkpoint, CheckpointFile.Read(path));
    }

    [Fact]
    public void A_checkpoint_without_optimizer_or_normalization_round_trips_with_nulls()
    {
        var checkpoint = Sample(withOptimizer: false, withNormalization: false);
        AssertSame(checkpoint, CheckpointFile.FromBytes(CheckpointFile.ToBytes(checkpoint)));
    }

    [Fact]
    public void The_restored_optimizer_state_loads_into_a_fresh_optimizer()
    {
        var checkpoint = CheckpointFile.FromBytes(CheckpointFile.ToBytes(Sample()));
        var optimizer = Optimizer.Create(checkpoint.Optimizer!, checkpoint.Parameters.Length);
        optimizer.LoadState(checkpoint.OptimizerState!);
        Assert.Equal(3, optimizer.StepCount);
    }

    [Fact]
    public void Writing_leaves_only_the_checkpoint_in_the_folder()
    {
        CheckpointFile.Write(Path.Combine(_dir, "a.ckpt"), Sample());
        Assert.Equal(["a.ckpt"], FilesInDir());
    }

    [Fact]
    public void Writing_over_an_existing_checkpoint_replaces_it()
    {
        var path = Path.Combine(_dir, "model.ckpt");
        CheckpointFile.Write(path, Sample(hidden: 6));
        var second = Sample(hidden: 9);
        CheckpointFile.Write(path, second);
        AssertSame(second, CheckpointFile.Read(path));
        Assert.Equal(["model.ckpt"], FilesInDir());
    }

    [Fact]
    public void Writing_creates_missing_folders()
    {
        var path = Path.Combine(_dir, "runs", "7", "model.ckpt");
        CheckpointFile.Write(path, Sample());
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void A_failed_write_leaves_no_temporary_file_and_the_old_checkpoint_intact()
    {
        var path = Path.Combine(_dir, "model.ckpt");
        var first = Sample();
        CheckpointFile.Write(path, first);
        var blocked = Path.Combine(_dir, "blocked.ckpt");
        Directory.CreateDirectory(blocked); // renaming over a folder fails after the temp file is written
        Assert.ThrowsAny<IOException>(() => CheckpointFile.Write(blocked, first));
        Assert.Equal(["blocked.ckpt", "model.ckpt"], FilesInDir());
        AssertSame(first, CheckpointFile.Read(path));
    }

    [Fact]
    public void Reading_a_missing_file_names_it()
    {
        var path = Path.Combine(_dir, "nope", "missing.ckpt");
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("does not exist", e.Message);
        Assert.Equal(path, e.Origin);
    }

    [Fact]
    public void An_empty_file_is_reported_as_empty()
    {
        var path = Path.Combine(_dir, "empty.ckpt");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void A_file_with_another_magic_is_not_a_checkpoint()
    {
        var path = Path.Combine(_dir, "model.onnx");
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("PK\u0003\u0004 this is a zip file, not a checkpoint at all"));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not a DistTrain checkpoint", e.Message);
    }

    [Fact]
    public void An_unsupported_version_is_named()
    {
        var bytes = CheckpointFile.ToBytes(Sample());
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 3);
        var path = Path.Combine(_dir, "future.ckpt");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("format version 3 is not supported (this build reads versions 1 and 2)", e.Message);
    }

    private static Checkpoint WithWorkerStates(Checkpoint c)
    {
        var n = c.Parameters.Length;
        float[] Wave(float phase) => Enumerable.Range(0, n).Select(i => MathF.Cos(i * 0.7f + phase)).ToArray();
        return c with
        {
            WorkerStates =
            [
                new WorkerState(0, new OptimizerState(OptimizerKind.Adam, 12, [Wave(1), Wave(2)]), null),
                new WorkerState(1, new OptimizerState(OptimizerKind.Adam, 12, [Wave(3), Wave(4)]), Wave(5)),
                new WorkerState(3, null, Wave(6)),
            ],
        };
    }

    [Fact]
    public void Workers_own_states_round_trip_in_format_version_2_and_without_them_the_file_stays_version_1()
    {
        var plain = CheckpointFile.ToBytes(Sample());
        Assert.Equal(CheckpointFile.FormatVersion, BinaryPrimitives.ReadUInt32LittleEndian(plain.AsSpan(8)));
        Assert.Null(CheckpointFile.FromBytes(plain).WorkerStates);

        var expected = WithWorkerStates(Sample());
        var bytes = CheckpointFile.ToBytes(expected);
        Assert.Equal(CheckpointFile.WorkerStatesFormatVersion, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        var actual = CheckpointFile.FromBytes(bytes);
        AssertSame(expected, actual);
        Assert.Equal(3, actual.WorkerStates!.Count);
        for (var w = 0; w < 3; w++)
        {
            var e = expected.WorkerStates![w];
            var a = actual.WorkerStates[w];
            Assert.Equal(e.Slot, a.Slot);
            Assert.Equal(e.Optimizer?.Kind, a.Optimizer?.Kind);
            Assert.Equal(e.Optimizer?.Step, a.Optimizer?.Step);
            Assert.Equal(e.Optimizer?.Buffers.Count, a.Optimizer?.Buffers.Count);
            for (var i = 0; i < (e.Optimizer?.Buffers.Count ?? 0); i++) Approx.Identical(e.Optimizer!.Buffers[i], a.Optimizer!.Buffers[i], $"worker {w} buffer {i}");
            if (e.Residual is null) Assert.Null(a.Residual);
            else Approx.Identical(e.Residual, a.Residual!, $"worker {w} residual");
        }
    }

    [Fact]
    public void A_version_2_file_cut_or_corrupted_in_the_worker_states_says_so()
    {
        var bytes = CheckpointFile.ToBytes(WithWorkerStates(Sample()));
        var cut = bytes[..(bytes.Length - 32 - 10)];
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.FromBytes(cut, "w.dtck"));
        Assert.Contains("worker state 2's residual", e.Message);
        bytes[bytes.Length - 40] ^= 0x55;
        e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.FromBytes(bytes, "w.dtck"));
        Assert.Contains("checksum does not match", e.Message);
    }

    [Fact]
    public void A_file_cut_inside_the_header_or_the_parameters_says_where_it_ends()
    {
        var bytes = CheckpointFile.ToBytes(Sample());
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        var parametersStart = 16 + headerLength + 8;
        (int Cut, string Where)[] cuts =
        [
            (5, "the magic"),
            (10, "the format version"),
            (14, "the header length"),
            (16 + headerLength / 2, "inside the header"),
            (16 + headerLength + 3, "the parameters length"),
            (parametersStart + 10, "inside the parameters"),
            (bytes.Length - 40, "optimizer buffer 1"),
            (bytes.Length - 5, "the SHA-256 checksum"),
        ];
        foreach (var (cut, where) in cuts)
        {
            var path = Path.Combine(_dir, $"cut-{cut}.ckpt");
            File.WriteAllBytes(path, bytes.AsSpan(0, cut).ToArray());
            var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFile.Read(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("truncated", e.Message);
            Assert.True(e.Message.Contains(where, StringComparison.Ordinal), $"cut at {cut}: \"{e.Message}\" does not say it ends in {where}.");
        }
    }

    [Fact]
    public void Every_truncation_of_a_small_checkpoint_is_a_format_error()
    {
        var bytes = CheckpointFile.ToBytes(Sample(hidden: 2));
        for (var length = 0; length < bytes.Length; length++)
        {
            var e = ExpectFormatError(bytes.AsSpan(0, length).ToArray(), $"truncated to {length} of {bytes.Length} bytes");
            Assert.Contains("small.ckpt", e.Message);
            Assert.Contains(length == 0 ? "empty" : "truncated", e.Message);
        }
    }

    [Fact]
    public void Every_single_byte_corruption_of_a_small_checkpoint_is_a_format_error()
    {
        var bytes = CheckpointFile.ToBytes(Sample(hidden: 2));
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        byte[] masks = [0x01, 0x80, 0xFF];
        for (var i = 0; i < bytes.Length; i++)
        {
            foreach (var mask in masks)
            {
                var copy = (byte[])bytes.Clone();
                copy[i] ^= mask;
                var e = ExpectFormatError(copy, $"byte {i} xor 0x{mask:X2}");
                Assert.Contains("small.ckpt", e.Message);
                if (i >= 16 && i < 16 + headerLength || i >= bytes.Length - 32)
                    Assert.True(e.Message.Contains("checksum", StringComparison.Ordinal), $"byte {i} xor 0x{mask:X2}: \"{e.Message}\" does not blame the checksum.");
            }
        }
    }

    [Fact]
    public void Bytes_after_the_checksum_are_a_format_error()
    {
        byte[] bytes = [.. CheckpointFile.ToBytes(Sample()), 0];
        var e = ExpectFormatError(bytes, "one extra byte");
        Assert.Contains("1 unexpected bytes follow the checksum", e.Message);
    }

    public static TheoryData<string> BadHeaders() => new()
    {
        "not json at all",
        "{}",
        "null",
        "{\"spec\":null,\"metadata\":null}",
        "{\"spec\":{\"input_shape\":[4],\"layers\":[{\"type\":\"bogus\"}]}}",
        "{\"spec\":{\"input_shape\":null,\"layers\":[]},\"metadata\":{}}",
        "{\"unknown_field\":1}",
        "{\"optimizer_state_kind\":\"rmsprop\"}",
    };

    // A header that passes the checksum (a writer bug or a hand-made file) but is not a valid header.
    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void A_header_that_is_not_a_valid_header_is_a_format_error(string header)
    {
        var e = ExpectFormatError(Assemble(Encoding.UTF8.GetBytes(header), [1f, 2f], []), header);
        Assert.Contains("header", e.Message);
    }

    [Fact]
    public void Optimizer_buffers_without_an_optimizer_state_kind_are_a_format_error()
    {
        var valid = CheckpointFile.ToBytes(Sample(withOptimizer: false));
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(valid.AsSpan(12));
        var header = valid.AsSpan(16, headerLength).ToArray();
        var e = ExpectFormatError(Assemble(header, [1f], [[1f]]), "stray optimizer buffer");
        Assert.Contains("no optimizer state", e.Message);
    }

    private static CheckpointFormatException ExpectFormatError(byte[] bytes, string what)
    {
        try
        {
            CheckpointFile.FromBytes(bytes, "small.ckpt");
        }
        catch (CheckpointFormatException e)
        {
            return e;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: threw {e.GetType().Name} instead of CheckpointFormatException: {e.Message}");
        }
        Assert.Fail($"{what}: was read without complaint.");
        return null!;
    }

    // Builds a file in the documented layout with a correct checksum, from parts chosen by the test.
    private static byte[] Assemble(byte[] header, float[] parameters, float[][] buffers)
    {
        using var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        w.Write(CheckpointFile.Magic);
        w.Write(CheckpointFile.FormatVersion);
        w.Write((uint)header.Length);
        w.Write(header);
        void Floats(float[] values)
        {
            w.Write((ulong)values.Length);
            foreach (var v in values) w.Write(v);
        }
        Floats(parameters);
        w.Write((uint)buffers.Length);
        foreach (var b in buffers) Floats(b);
        w.Flush();
        w.Write(SHA256.HashData(ms.ToArray()));
        return ms.ToArray();
    }
}
