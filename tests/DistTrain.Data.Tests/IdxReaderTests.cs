using System.Buffers.Binary;
using System.IO.Compression;
using DistTrain.Data.Idx;

namespace DistTrain.Data.Tests;

public sealed class IdxReaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Pixels(int count, int rows, int cols)
    {
        var p = new byte[count * rows * cols];
        for (var i = 0; i < p.Length; i++) p[i] = (byte)(i * 7 + 3);
        return p;
    }

    /// <summary>An idx file written byte by byte (independently of IdxWriter).</summary>
    private static byte[] RawIdx(int magic, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (var d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * d), dims[d]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(raw);
        return ms.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        var path = _dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertMessage(DataFormatException e, string path, params string[] parts)
    {
        Assert.Equal(path, e.Source);
        Assert.StartsWith(path + ": ", e.Message);
        foreach (var part in parts) Assert.Contains(part, e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Images_and_labels_round_trip_through_idx_files(bool gzip)
    {
        var pixels = Pixels(5, 3, 4);
        byte[] labels = [4, 0, 9, 1, 2];
        var imagesPath = _dir.File("images.idx");
        var labelsPath = _dir.File("labels.idx");

        IdxWriter.WriteImages(imagesPath, pixels, 5, 3, 4, gzip);
        IdxWriter.WriteLabels(labelsPath, labels, gzip);
        var (read, count, rows, cols) = IdxReader.ReadImages(imagesPath);

        Assert.Equal((5, 3, 4), (count, rows, cols));
        Assert.Equal(pixels, read);
        Assert.Equal(labels, IdxReader.ReadLabels(labelsPath));
        var firstBytes = File.ReadAllBytes(imagesPath)[..2];
        Assert.Equal(gzip, firstBytes is [0x1f, 0x8b]);
    }

    [Fact]
    public void The_reader_decodes_the_big_endian_header_written_by_hand()
    {
        var pixels = Pixels(2, 2, 3);
        var path = Write("hand.idx", RawIdx(0x00000803, [2, 2, 3], pixels));

        var (read, count, rows, cols) = IdxReader.ReadImages(path);

        Assert.Equal((2, 2, 3), (count, rows, cols));
        Assert.Equal(pixels, read);
    }

    [Fact]
    public void Compression_is_detected_from_the_gzip_magic_not_the_file_extension()
    {
        byte[] labels = [1, 2, 3];
        var raw = RawIdx(0x00000801, [3], labels);
        var gzippedWithoutGz = Write("labels.idx", Gzip(raw));
        var rawWithGz = Write("labels.gz", raw);

        Assert.Equal(labels, IdxReader.ReadLabels(gzippedWithoutGz));
        Assert.Equal(labels, IdxReader.ReadLabels(rawWithGz));
    }

    [Fact]
    public void A_wrong_magic_number_is_rejected_at_offset_0()
    {
        var path = Write("float.idx", RawIdx(0x00000D03, [1, 1, 1], [0, 0, 0, 0]));

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        AssertMessage(e, path, "offset 0", "expected the idx magic number 0x00000803", "found 0x00000D03");
    }

    [Fact]
    public void A_labels_file_passed_as_images_is_rejected_for_its_dimension_count()
    {
        var path = Write("labels.idx", RawIdx(0x00000801, [3], [1, 2, 3]));

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        AssertMessage(e, path, "offset 3", "expected 3 dimensions", "found 1");
    }

    [Fact]
    public void An_images_file_passed_as_labels_is_rejected_for_its_dimension_count()
    {
        var path = Write("images.idx", RawIdx(0x00000803, [1, 1, 1], [7]));

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        AssertMessage(e, path, "offset 3", "expected 1 dimension", "found 3");
    }

    [Fact]
    public void A_file_cut_inside_the_magic_number_is_rejected()
    {
        var path = Write("cut.idx", [0, 0]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        AssertMessage(e, path, "offset 0", "expected a 4-byte magic number", "found only 2 bytes");
    }

    [Fact]
    public void A_file_cut_inside_the_dimension_sizes_is_rejected()
    {
        var full = RawIdx(0x00000803, [2, 2, 2], new byte[8]);
        var path = Write("cut.idx", full[..9]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        AssertMessage(e, path, "offset 4", "expected 12 bytes of dimension sizes", "found only 5 bytes");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_file_cut_inside_the_data_is_rejected_with_offset_and_byte_counts(bool gzip)
    {
        var full = RawIdx(0x00000803, [3, 4, 4], Pixels(3, 4, 4));
        var cut = full[..(16 + 40)];
        var path = Write("cut.idx", gzip ? Gzip(cut) : cut);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        AssertMessage(e, path, "offset 56", "expected 48 bytes of data", "found only 40");
        Assert.Equal(gzip, e.Message.Contains("(decompressed)"));
    }

    [Fact]
    public void Bytes_beyond_the_announced_data_are_rejected()
    {
        var path = Write("long.idx", RawIdx(0x00000801, [2], [1, 2, 3]));

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadLabels(path));

        AssertMessage(e, path, "offset 10", "expected the end of the file after 2 bytes", "found more bytes");
    }

    [Fact]
    public void A_damaged_gzip_stream_is_reported_as_a_format_error()
    {
        var gz = Gzip(RawIdx(0x00000803, [20, 8, 8], Pixels(20, 8, 8)));
        var path = Write("damaged.gz", gz[..(gz.Length / 2)]);

        var e = Assert.Throws<DataFormatException>(() => IdxReader.ReadImages(path));

        Assert.Equal(path, e.Source);
    }
}
