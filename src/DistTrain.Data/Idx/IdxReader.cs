using System.Buffers.Binary;
using System.IO.Compression;

namespace DistTrain.Data.Idx;

/// <summary>
/// Reads idx files (the MNIST / Fashion-MNIST format): a big-endian magic 0x0000TTDD (TT = 0x08 for
/// unsigned bytes, DD = number of dimensions), DD big-endian int32 sizes, then the data. Files may be raw
/// or gzip-compressed; compression is detected from the gzip magic bytes 1f 8b, not from the extension.
/// Offsets in error messages count bytes of the (decompressed) idx data.
/// </summary>
public static class IdxReader
{
    public const int ImagesMagic = 0x00000803;
    public const int LabelsMagic = 0x00000801;
    private const int UnsignedByteType = 0x08;
    private const int FirstGzipBuffer = 1 << 20;

    /// <summary>Images as bytes, count × rows × cols, row-major.</summary>
    public static (byte[] Pixels, int Count, int Rows, int Cols) ReadImages(string path)
    {
        using var stream = Open(path, out var gzip);
        var dims = ReadHeader(stream, path, gzip, 3, "images (idx3-ubyte)", "a labels file (idx1)");
        // Three sizes up to 2^31 each can overflow a long: saturate (ReadData refuses anything above Array.MaxLength).
        var length = (long)Int128.Min((Int128)dims[0] * dims[1] * dims[2], long.MaxValue);
        var pixels = ReadData(stream, path, gzip, 4 + 4 * 3, length, $"{dims[0]} × {dims[1]} × {dims[2]}");
        return (pixels, dims[0], dims[1], dims[2]);
    }

    public static byte[] ReadLabels(string path)
    {
        using var stream = Open(path, out var gzip);
        var dims = ReadHeader(stream, path, gzip, 1, "labels (idx1-ubyte)", "an images file (idx3)");
        return ReadData(stream, path, gzip, 4 + 4, dims[0], $"{dims[0]} labels");
    }

    private static Stream Open(string path, out bool gzip)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> magic = stackalloc byte[2];
        var n = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        gzip = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        return gzip ? new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16) : file;
    }

    private static int[] ReadHeader(Stream stream, string path, bool gzip, int dimensions, string what, string otherKind)
    {
        Span<byte> head = stackalloc byte[4];
        var got = ReadFully(stream, head, path);
        if (got < 4)
            throw Error(path, gzip, 0, "a 4-byte magic number", got == 0 ? "an empty file" : $"only {got} bytes",
                "The file is truncated; download it again.");
        var magic = BinaryPrimitives.ReadInt32BigEndian(head);
        var expectedMagic = (UnsignedByteType << 8) | dimensions;
        if (head[0] != 0 || head[1] != 0 || head[2] != UnsignedByteType)
            throw Error(path, gzip, 0, $"the idx magic number 0x{expectedMagic:X8} ({what})", $"0x{magic:X8}",
                "This is not an unsigned-byte idx file; check the path.");
        if (head[3] != dimensions)
            throw Error(path, gzip, 3, $"{dimensions} dimension{(dimensions == 1 ? "" : "s")} (magic 0x{expectedMagic:X8}, {what})",
                $"{head[3]} (magic 0x{magic:X8})", $"Is this {otherKind}? Pass the {what} file here.");

        Span<byte> sizes = stackalloc byte[4 * dimensions];
        got = ReadFully(stream, sizes, path);
        if (got < sizes.Length)
            throw Error(path, gzip, 4, $"{sizes.Length} bytes of dimension sizes", $"only {got} bytes",
                "The file is truncated; download it again.");
        var dims = new int[dimensions];
        for (var d = 0; d < dimensions; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(sizes.Slice(4 * d, 4));
            if (dims[d] < 0 || (d > 0 && dims[d] == 0))
                throw Error(path, gzip, 4 + 4 * d, $"a positive size for dimension {d}", $"{dims[d]}",
                    "The header is corrupt; download the file again.");
        }
        return dims;
    }

    private static byte[] ReadData(Stream stream, string path, bool gzip, int offset, long length, string shape)
    {
        if (length > Array.MaxLength)
            throw Error(path, gzip, offset, $"at most {Array.MaxLength} bytes of data", $"a header announcing {length} ({shape})",
                "The header is corrupt or the file is too large to load.");
        // A corrupt header may announce far more data than the file holds; allocate only what can arrive. A raw
        // file's remaining length is known. Gzip data is collected in a buffer that doubles as bytes arrive,
        // so memory follows the decompressed size, not the header's claim.
        if (!gzip && stream.CanSeek && stream.Length - stream.Position < length)
        {
            var remaining = stream.Length - stream.Position;
            throw Error(path, gzip, offset + remaining, $"{length} bytes of data after the {offset}-byte header ({shape})", $"only {remaining}",
                "The file is truncated; download it again.");
        }
        var data = new byte[gzip ? Math.Min(length, FirstGzipBuffer) : length];
        long got = 0;
        while (true)
        {
            got += ReadFully(stream, data.AsSpan((int)got), path);
            if (got < data.Length || data.Length == length) break;
            Array.Resize(ref data, (int)Math.Min(length, 2L * data.Length));
        }
        if (got < length)
            throw Error(path, gzip, offset + got, $"{length} bytes of data after the {offset}-byte header ({shape})", $"only {got}",
                "The file is truncated; download it again.");
        Span<byte> extra = stackalloc byte[1];
        if (ReadFully(stream, extra, path) != 0)
            throw Error(path, gzip, offset + length, $"the end of the file after {length} bytes of data ({shape})", "more bytes",
                "The header's sizes do not match the file; it may be corrupt or not an idx file.");
        return data;
    }

    private static int ReadFully(Stream stream, Span<byte> buffer, string path)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException(path, "gzip stream", "valid gzip-compressed data", $"corrupt data ({e.Message})",
                "The file is damaged; download it again.", e);
        }
    }

    private static DataFormatException Error(string path, bool gzip, long offset, string expected, string found, string fix)
        => new(path, gzip ? $"offset {offset} (decompressed)" : $"offset {offset}", expected, found, fix);
}

/// <summary>Writes idx files (raw or gzip-compressed); used by tests and tools that export datasets.</summary>
public static class IdxWriter
{
    public static void WriteImages(string path, ReadOnlySpan<byte> pixels, int count, int rows, int cols, bool gzip = false)
    {
        if ((long)count * rows * cols != pixels.Length)
            throw new ArgumentException($"{count} × {rows} × {cols} images need {(long)count * rows * cols} bytes but got {pixels.Length}.", nameof(pixels));
        Write(path, IdxReader.ImagesMagic, [count, rows, cols], pixels, gzip);
    }

    public static void WriteLabels(string path, ReadOnlySpan<byte> labels, bool gzip = false)
        => Write(path, IdxReader.LabelsMagic, [labels.Length], labels, gzip);

    private static void Write(string path, int magic, int[] dims, ReadOnlySpan<byte> data, bool gzip)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        using Stream output = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, magic);
        output.Write(word);
        foreach (var d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            output.Write(word);
        }
        output.Write(data);
    }
}
