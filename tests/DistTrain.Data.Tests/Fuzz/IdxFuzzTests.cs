using System.Buffers.Binary;
using System.IO.Compression;
using DistTrain.Data.Idx;

namespace DistTrain.Data.Tests.Fuzz;

// Inside the namespace: DistTrain.*.Tests.Fuzz would otherwise hide the Fuzz helper class.
using DistTrain.Tests.Shared;

/// <summary>
/// IdxReader on generated malformed files: only DataFormatException (naming the path) escapes, corrupt
/// gzip included (the reader wraps the InvalidDataException of GZipStream), and a lying header costs no
/// more memory than the file could hold.
/// </summary>
public sealed class IdxFuzzTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    /// <summary>A valid idx3 file: 3 images of 4×5 pixels.</summary>
    private static byte[] ValidImages()
    {
        var bytes = new byte[16 + 3 * 4 * 5];
        BinaryPrimitives.WriteInt32BigEndian(bytes, IdxReader.ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), 3);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), 4);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), 5);
        for (var i = 16; i < bytes.Length; i++) bytes[i] = (byte)(i * 7);
        return bytes;
    }

    /// <summary>A valid idx1 file of 7 labels.</summary>
    private static byte[] ValidLabels()
    {
        var bytes = new byte[8 + 7];
        BinaryPrimitives.WriteInt32BigEndian(bytes, IdxReader.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), 7);
        for (var i = 8; i < bytes.Length; i++) bytes[i] = (byte)(i % 10);
        return bytes;
    }

    /// <summary>Writes the bytes and reads them as images and as labels; returns how many reads failed.</summary>
    private int ReadBoth(byte[] bytes, string what)
    {
        var path = _tmp.File("f.idx");
        File.WriteAllBytes(path, bytes);
        var failed = 0;
        if (Fuzz.Expect<DataFormatException>(path, $"{what} as images: {Fuzz.Show(bytes)}", () =>
            {
                var (pixels, count, rows, cols) = IdxReader.ReadImages(path);
                Assert.Equal((long)count * rows * cols, pixels.LongLength);
            }) is not null) failed++;
        if (Fuzz.Expect<DataFormatException>(path, $"{what} as labels: {Fuzz.Show(bytes)}", () => IdxReader.ReadLabels(path)) is not null) failed++;
        return failed;
    }

    [Fact]
    public void Random_bytes_raw_and_gzipped_only_ever_raise_DataFormatException()
    {
        var rng = new Random(5201);
        for (var i = 0; i < 500; i++)
        {
            var bytes = new byte[rng.Next(0, 200)];
            rng.NextBytes(bytes);
            if (i % 4 == 1 && bytes.Length >= 4) { bytes[0] = 0; bytes[1] = 0; bytes[2] = 8; bytes[3] = (byte)rng.Next(0, 5); } // plausible magic
            if (i % 4 == 2 && bytes.Length >= 2) { bytes[0] = 0x1f; bytes[1] = 0x8b; } // gzip magic, garbage after it
            if (i % 4 == 3) bytes = Gzip(bytes); // valid gzip around garbage
            Assert.InRange(ReadBoth(bytes, $"case {i} (seed 5201)"), 1, 2); // images and labels cannot both accept one file
        }
    }

    [Fact]
    public void Every_truncation_of_valid_files_raw_and_gzipped_is_reported_as_a_DataFormatException()
    {
        foreach (var (name, valid) in new[] { ("images", ValidImages()), ("labels", ValidLabels()) })
        {
            foreach (var gzip in new[] { false, true })
            {
                var full = gzip ? Gzip(valid) : valid;
                for (var length = 0; length < full.Length; length++)
                {
                    var path = _tmp.File("t.idx");
                    File.WriteAllBytes(path, full[..length]);
                    var what = $"{name} (gzip {gzip}) truncated to {length} of {full.Length} bytes";
                    byte[]? data = null;
                    var e = Fuzz.Expect<DataFormatException>(path, what, () =>
                        data = name == "images" ? IdxReader.ReadImages(path).Pixels : IdxReader.ReadLabels(path));
                    // GZipStream does not insist on the 8-byte gzip trailer (CRC-32, size): a file cut inside it
                    // still inflates completely. Accepting that is fine only if every data byte is intact.
                    if (e is null)
                    {
                        Assert.True(gzip && length >= full.Length - 9, $"{what}: was accepted");
                        Assert.Equal(valid[(name == "images" ? 16 : 8)..], data);
                    }
                }
            }
        }
    }

    [Fact]
    public void Mutated_header_fields_are_rejected_or_read_consistently()
    {
        int[] interesting = [0, 1, -1, 2, 3, 4, 5, 7, 255, 256, 60000, 28, 1 << 16, 1 << 24, int.MaxValue, int.MinValue, 0x00000803, 0x00000801];
        var rng = new Random(5202);
        var rejected = 0;
        for (var i = 0; i < 600; i++)
        {
            var bytes = i % 2 == 0 ? ValidImages() : ValidLabels();
            var headerInts = i % 2 == 0 ? 4 : 2;
            var mutations = 1 + rng.Next(2);
            for (var m = 0; m < mutations; m++)
            {
                var field = rng.Next(headerInts);
                var value = rng.Next(3) == 0 ? rng.Next(int.MinValue, int.MaxValue) : interesting[rng.Next(interesting.Length)];
                if (rng.Next(4) == 0) bytes[4 * field + rng.Next(4)] = (byte)rng.Next(256); // one header byte only
                else BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 * field), value);
            }
            if (rng.Next(3) == 0) bytes = Gzip(bytes);
            rejected += ReadBoth(bytes, $"case {i} (seed 5202)");
        }
        Assert.InRange(rejected, 600, 1200 - 1); // one kind always fails; a mutation that keeps the sizes may pass
    }

    [Fact]
    public void A_header_announcing_two_gigabytes_in_a_tiny_file_is_rejected_without_allocating_them()
    {
        foreach (var gzip in new[] { false, true })
        {
            var bytes = ValidImages();
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), 40_000); // 40000 × 4 × 5 ... 
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), 2_000);
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), 20); // = 1.6e9 bytes announced, 60 present
            var path = _tmp.File(gzip ? "big.idx.gz" : "big.idx");
            File.WriteAllBytes(path, gzip ? Gzip(bytes) : bytes);

            var before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            Assert.Contains("truncated", e.Message);
            Assert.True(allocated < 8 << 20, $"gzip {gzip}: reading a {bytes.Length}-byte file allocated {allocated:N0} bytes");
        }
    }
}
