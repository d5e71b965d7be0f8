using Microsoft.ML.OnnxRuntime;

namespace DistTrain.Onnx;

/// <param name="ModelPath">ResNet18.onnx or a DnnImageModels folder; null = <see cref="ResNet18Model.Locate"/>'s default.</param>
/// <param name="IntraOpThreads">OnnxRuntime intra-op threads; 0 = one per processor.</param>
/// <param name="BatchSize">Images per OnnxRuntime run.</param>
public sealed record ResNet18Options(string? ModelPath = null, int IntraOpThreads = 0, int BatchSize = 16)
{
    public void Validate()
    {
        if (IntraOpThreads < 0) throw new ArgumentException($"ONNX intra-op threads must be >= 0 (0 = one per processor; got {IntraOpThreads})");
        if (BatchSize < 1) throw new ArgumentException($"ONNX batch size must be >= 1 (got {BatchSize})");
    }
}

/// <summary>
/// The ImageNet ResNet-18 that ML.NET's DnnImageFeaturizer ships, as a frozen feature extractor: images
/// → 512 features each (the global average pool before the classifier).
/// <para>
/// Preprocessing, exactly what the model files expect (docs/resnet.md): each image is resampled to
/// 224 × 224 (<see cref="ImageResize"/>), put in planar channel order <b>B, G, R</b> with values
/// 0..255, and the preprocessing model's per-pixel ImageNet mean image is subtracted (no division by a
/// standard deviation). The mean image's channel averages are 103.1, 115.9, 123.2, the ImageNet means of
/// blue, green, red: the model is a CNTK network trained on BGR images. The mean image is read from
/// ResNetPreprocess.onnx when the extractor is created (its output for an all-zero image is −mean; its
/// output for an all-one image checks that it is x − mean and nothing else).
/// </para>
/// Not thread-safe (it reuses one input buffer); create one per thread.
/// </summary>
public sealed class ResNet18Features : IDisposable
{
    public const int InputSize = 224, FeatureCount = 512;
    private const int Plane = InputSize * InputSize;
    private const string InputName = "Input247", OutputName = "Pooling395_Output_0";

    private readonly InferenceSession _session;
    private readonly float[] _offset; // (3, 224, 224): −mean image, model channel order (B, G, R)
    private readonly int _batchSize;
    private float[] _input = [];
    private float[] _rows = [];

    public ResNet18Features(ResNet18Options? options = null)
    {
        options ??= new ResNet18Options();
        options.Validate();
        Files = ResNet18Model.Locate(options.ModelPath);
        _batchSize = options.BatchSize;
        Threads = options.IntraOpThreads == 0 ? Environment.ProcessorCount : options.IntraOpThreads;
        _offset = ReadMeanOffset(Files.PreprocessPath);
        using var so = new SessionOptions
        {
            IntraOpNumThreads = Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        var bytes = OnnxBatchDimension.FreeFirstDimension(File.ReadAllBytes(Files.ModelPath), [InputName, OutputName], Files.ModelPath);
        try
        {
            _session = new InferenceSession(bytes, so);
        }
        catch (OnnxRuntimeException e)
        {
            throw new FormatException($"{Files.ModelPath}: OnnxRuntime could not load the model: {e.Message}", e);
        }
        if (!_session.InputMetadata.ContainsKey(InputName) || !_session.OutputMetadata.ContainsKey(OutputName))
            throw new FormatException($"{Files.ModelPath}: expected input '{InputName}' and output '{OutputName}', found inputs " +
                $"{string.Join(", ", _session.InputMetadata.Keys)} and outputs {string.Join(", ", _session.OutputMetadata.Keys)}");
    }

    public ResNet18Model Files { get; }

    public int Threads { get; }

    private static float[] ReadMeanOffset(string path)
    {
        using var prep = new InferenceSession(path);
        var input = prep.InputMetadata.Keys.First();
        float[] Run(float value)
        {
            var x = new float[3 * Plane];
            Array.Fill(x, value);
            using var xv = OrtValue.CreateTensorValueFromMemory(x, [1, 3, InputSize, InputSize]);
            using var results = prep.Run(new RunOptions(), [input], [xv], prep.OutputNames);
            var y = results[0].GetTensorDataAsSpan<float>();
            if (y.Length != x.Length) throw new FormatException($"{path}: expected a (1, 3, 224, 224) output, found {y.Length} values");
            return y.ToArray();
        }
        var offset = Run(0);
        var one = Run(1);
        for (var i = 0; i < offset.Length; i++)
            if (Math.Abs(one[i] - offset[i] - 1) > 1e-4f)
                throw new FormatException($"{path}: expected a mean subtraction (output = input − mean), but at element {i} an input of 1 gives {one[i]} and 0 gives {offset[i]}");
        return offset;
    }

    /// <summary>The per-pixel mean image (B, G, R planes of 224 × 224) in 0..255 units.</summary>
    public float[] MeanImage()
    {
        var m = new float[_offset.Length];
        for (var i = 0; i < m.Length; i++) m[i] = -_offset[i];
        return m;
    }

    /// <summary>Features of <paramref name="count"/> images.</summary>
    /// <param name="images">count × channels × height × width floats in [0, 1], channels R, G, B (3) or grey (1).</param>
    /// <param name="features">count × 512.</param>
    public void Extract(ReadOnlySpan<float> images, int count, int channels, int height, int width, Span<float> features)
    {
        // images (N, C, H, W) -> features (N, 512)
        if (channels != 1 && channels != 3) throw new ArgumentException($"images must have 1 (grey) or 3 (RGB) channels, found {channels}");
        if (height < 1 || width < 1) throw new ArgumentException($"image size must be positive, found {height}x{width}");
        var size = channels * height * width;
        if (images.Length != (long)count * size) throw new ArgumentException($"expected {count} images of {channels}x{height}x{width} = {(long)count * size} floats, found {images.Length}");
        if (features.Length != count * FeatureCount) throw new ArgumentException($"expected room for {count} x {FeatureCount} features, found {features.Length}");
        var resize = height == InputSize && width == InputSize ? null : new ImageResize(height, width, InputSize, InputSize);
        if (resize is not null && _rows.Length < height * InputSize) _rows = new float[height * InputSize];
        var batchCap = Math.Min(_batchSize, Math.Max(count, 1));
        if (_input.Length < batchCap * 3 * Plane) _input = new float[batchCap * 3 * Plane];
        for (var first = 0; first < count; first += _batchSize)
        {
            var n = Math.Min(_batchSize, count - first);
            for (var i = 0; i < n; i++)
                Prepare(images.Slice((first + i) * size, size), channels, height, width, resize, _input.AsSpan(i * 3 * Plane, 3 * Plane));
            using var x = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _input.AsMemory(0, n * 3 * Plane), [n, 3, InputSize, InputSize]);
            using var run = new RunOptions();
            using var results = _session.Run(run, [InputName], [x], [OutputName]);
            var y = results[0].GetTensorDataAsSpan<float>();
            if (y.Length != n * FeatureCount) throw new FormatException($"{Files.ModelPath}: expected {n} x {FeatureCount} outputs, found {y.Length}");
            y.CopyTo(features.Slice(first * FeatureCount, n * FeatureCount));
        }
    }

    public float[] Extract(ReadOnlySpan<float> images, int count, int channels, int height, int width)
    {
        var f = new float[count * FeatureCount];
        Extract(images, count, channels, height, width, f);
        return f;
    }

    /// <summary>Features of images given as bytes 0..255 (count × channels × height × width, R, G, B or grey).</summary>
    public float[] Extract(ReadOnlySpan<byte> images, int count, int channels, int height, int width)
    {
        var x = new float[images.Length];
        for (var i = 0; i < x.Length; i++) x[i] = images[i] / 255f;
        return Extract(x, count, channels, height, width);
    }

    /// <summary>One image: [0, 1] RGB/grey (C, H, W) → model input (3, 224, 224) as BGR 0..255 minus the mean image.</summary>
    private void Prepare(ReadOnlySpan<float> image, int channels, int height, int width, ImageResize? resize, Span<float> dst)
    {
        var plane = height * width;
        for (var c = 0; c < 3; c++)
        {
            var src = image.Slice((channels == 1 ? 0 : c) * plane, plane);
            var target = dst.Slice((2 - c) * Plane, Plane); // RGB source channel c → BGR model channel 2 − c
            if (resize is null)
                for (var p = 0; p < Plane; p++) target[p] = src[p] * 255f;
            else
                resize.Plane(src, target, _rows, 255f);
            var off = _offset.AsSpan((2 - c) * Plane, Plane);
            for (var p = 0; p < Plane; p++) target[p] += off[p];
        }
    }

    public void Dispose() => _session.Dispose();
}
