using DistTrain.Data;
using DistTrain.Data.Images;
using SkiaSharp;

namespace DistTrain.Onnx;

/// <summary>
/// An image-folder dataset: one sub-folder per class (class names = folder names, in ordinal order), PNG or
/// JPEG files inside (<c>*.png, *.jpg, *.jpeg</c>, any case; other files are skipped). Each file is decoded
/// with SkiaSharp, converted to RGB (or grey: 0.299 R + 0.587 G + 0.114 B), resampled to size × size with
/// <see cref="ImageResize"/> and kept as bytes in an <see cref="ImageDataset"/>. Files are read in ordinal
/// order of class, then file name, so every node builds the same dataset.
/// </summary>
public static class ImageFolder
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg"];

    public static ImageDataset Load(string folder, int size, int channels)
    {
        Check(size, channels);
        var (classes, files) = List(folder);
        return Decode(files, size, channels, classes, folder);
    }

    /// <summary>
    /// Single image files (PNG or JPEG), decoded exactly as <see cref="Load"/> decodes a folder's images
    /// (what <c>disttrain predict --image</c> feeds a model); every label is 0 of <paramref name="classNames"/>.
    /// </summary>
    public static ImageDataset LoadFiles(IReadOnlyList<string> paths, int size, int channels, IReadOnlyList<string> classNames)
    {
        Check(size, channels);
        foreach (var p in paths)
            if (!File.Exists(p)) throw new FileNotFoundException($"image file {p} does not exist", p);
        return Decode([.. paths.Select(p => (p, 0))], size, channels, classNames, string.Join(", ", paths));
    }

    private static void Check(int size, int channels)
    {
        if (channels != 1 && channels != 3) throw new ArgumentException($"images are loaded with 1 (grey) or 3 (RGB) channels, not {channels}");
        if (size < 8 || size > 1024) throw new ArgumentException($"image size must be in 8..1024 pixels (got {size})");
    }

    private static ImageDataset Decode(List<(string Path, int Label)> files, int size, int channels, IReadOnlyList<string> classes, string source)
    {
        var plane = size * size;
        var pixels = new byte[(long)files.Count * channels * plane];
        var labels = new int[files.Count];
        var rgb = Array.Empty<float>();
        var resized = new float[plane];
        var rows = Array.Empty<float>();
        for (var i = 0; i < files.Count; i++)
        {
            var (path, label) = files[i];
            labels[i] = label;
            using var bitmap = Decode(path);
            int w = bitmap.Width, h = bitmap.Height;
            if (rgb.Length < 3 * w * h) rgb = new float[3 * w * h];
            var src = bitmap.GetPixelSpan(); // (H, W, RGBA) bytes, unpremultiplied: the alpha channel is ignored
            for (var p = 0; p < w * h; p++)
            {
                rgb[p] = src[4 * p] / 255f;
                rgb[w * h + p] = src[4 * p + 1] / 255f;
                rgb[2 * w * h + p] = src[4 * p + 2] / 255f;
            }
            if (channels == 1)
                for (var p = 0; p < w * h; p++) rgb[p] = 0.299f * rgb[p] + 0.587f * rgb[w * h + p] + 0.114f * rgb[2 * w * h + p];
            var resize = new ImageResize(h, w, size, size);
            if (rows.Length < h * size) rows = new float[h * size];
            var image = pixels.AsSpan((int)((long)i * channels * plane), channels * plane);
            for (var c = 0; c < channels; c++)
            {
                resize.Plane(rgb.AsSpan(c * w * h, w * h), resized, rows);
                var dst = image.Slice(c * plane, plane);
                for (var p = 0; p < plane; p++) dst[p] = (byte)Math.Clamp(MathF.Round(resized[p] * 255f), 0f, 255f);
            }
        }
        return new ImageDataset(pixels, files.Count, channels, size, size, labels, classes, source);
    }

    /// <summary>The class names (sub-folders holding at least one image) of an image folder, in label order.</summary>
    public static IReadOnlyList<string> ClassNames(string folder) => List(folder).Classes;

    private static (List<string> Classes, List<(string Path, int Label)> Files) List(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"image folder {folder} does not exist");
        var classDirs = Directory.GetDirectories(folder);
        Array.Sort(classDirs, StringComparer.Ordinal);
        var classes = new List<string>();
        var files = new List<(string Path, int Label)>();
        foreach (var dir in classDirs)
        {
            var name = Path.GetFileName(dir);
            if (name.StartsWith('.')) continue;
            var images = Directory.GetFiles(dir).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).ToArray();
            if (images.Length == 0) continue;
            Array.Sort(images, StringComparer.Ordinal);
            foreach (var f in images) files.Add((f, classes.Count));
            classes.Add(name);
        }
        if (classes.Count < 2)
            throw new DataFormatException(folder, "class folders", "at least 2 sub-folders (one per class) holding .png/.jpg/.jpeg files",
                $"{classes.Count}", "Put each class's images in its own sub-folder, e.g. cats/1.png, dogs/2.jpg.");
        return (classes, files);
    }

    /// <summary>Decodes one file into an unpremultiplied RGBA8888 bitmap, or throws a DataFormatException naming it.</summary>
    private static SKBitmap Decode(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new DataFormatException(path, "file", "a readable image file", $"an I/O error ({e.Message})", "Check the file's permissions.", e);
        }
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null || codec.Info.Width < 1 || codec.Info.Height < 1)
            throw new DataFormatException(path, "image data", "a PNG or JPEG image", $"{bytes.Length} bytes that SkiaSharp cannot decode",
                "Remove or replace the file (is it another format with a .png/.jpg name?).");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new SKBitmap(info);
        var result = codec.GetPixels(info, rgba.GetPixels());
        if (result != SKCodecResult.Success)
        {
            rgba.Dispose();
            throw new DataFormatException(path, "image data", $"a complete {codec.EncodedFormat} image of {info.Width}x{info.Height}",
                $"a decoding error ({result})", "Remove or replace the file (is it truncated?).");
        }
        return rgba;
    }
}
