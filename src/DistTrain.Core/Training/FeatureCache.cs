using DistTrain.Core.Models;

namespace DistTrain.Core.Training;

/// <summary>
/// Frozen-feature cache for transfer learning. When the layers before the first trainable one are all
/// frozen (or hold no parameters) and none of them is random in training, their output for a sample never
/// changes: it is computed the first time the sample is seen and read back by sample id afterwards, so
/// later epochs run only the trainable head. The caller must also know that the training inputs are not
/// augmented (a sample's input then differs per epoch); <see cref="GradientComputer.EnableFeatureCache"/>
/// takes that on trust.
/// <para>
/// One cache may serve several computers (the workers of one process share their data): they write
/// disjoint or identical samples, a sample's flag is published after its values (volatile), and
/// binding is locked. Each sample's prefix output does not depend on which computer produced it.
/// </para>
/// </summary>
public sealed class FeatureCache
{
    /// <summary>Largest cache a computer builds by default (bytes): 512 MiB.</summary>
    public const long DefaultMaxBytes = 512L << 20;

    private readonly long _maxBytes;
    private readonly Lock _bind = new();
    private long _prefixForwards;
    private IDataset? _data;
    private float[] _features = [];
    private bool[] _present = [];

    private FeatureCache(int prefixLength, int width, long maxBytes)
    {
        PrefixLength = prefixLength;
        Width = width;
        _maxBytes = maxBytes;
    }

    /// <summary>Layers [0, PrefixLength) are cached; the head starts at layer PrefixLength.</summary>
    public int PrefixLength { get; }

    /// <summary>Values per sample at the cut (the input width of layer PrefixLength).</summary>
    public int Width { get; }

    /// <summary>Samples whose frozen prefix was computed (each at most once per dataset bound).</summary>
    public long PrefixForwards => Interlocked.Read(ref _prefixForwards);

    /// <summary>
    /// The length of the cacheable frozen prefix of <paramref name="model"/>, or 0 when there is none: no
    /// frozen parameters, a random layer (dropout) before the first trainable layer, or nothing trains.
    /// </summary>
    public static int CacheablePrefix(Model model)
    {
        if (model.FrozenParameterCount == 0) return 0;
        var k = model.FirstTrainableLayer;
        if (k >= model.Layers.Count) return 0;
        var frozenWithParameters = false;
        for (var i = 0; i < k; i++)
        {
            var l = model.Layers[i];
            if (l.IsRandomInTraining) return 0;
            if (l.ParameterCount > 0) frozenWithParameters = true;
        }
        return frozenWithParameters ? k : 0;
    }

    /// <summary>A cache for <paramref name="model"/>, or null when its layers do not allow one.</summary>
    public static FeatureCache? For(Model model, long maxBytes = DefaultMaxBytes)
    {
        var k = CacheablePrefix(model);
        if (k == 0) return null;
        return new FeatureCache(k, model.Layers[k - 1].OutputShape.Size, maxBytes);
    }

    /// <summary>
    /// Prepares the cache for <paramref name="data"/> (a different dataset than last time drops what is
    /// stored). False when the dataset's features would exceed the size limit: then the caller computes as usual.
    /// </summary>
    internal bool Bind(IDataset data)
    {
        lock (_bind)
        {
            if (ReferenceEquals(data, _data)) return _features.Length > 0 || data.Count == 0;
            _data = data;
            _features = [];
            _present = [];
            if ((long)data.Count * Width * sizeof(float) > _maxBytes) return false;
            _features = new float[(long)data.Count * Width];
            _present = new bool[data.Count];
            return true;
        }
    }

    internal bool Has(int sampleId) => Volatile.Read(ref _present[sampleId]);

    internal void Store(int sampleId, ReadOnlySpan<float> features)
    {
        features.CopyTo(_features.AsSpan(sampleId * Width, Width));
        Volatile.Write(ref _present[sampleId], true);
        Interlocked.Increment(ref _prefixForwards);
    }

    /// <summary>True when this cache fits <paramref name="model"/>'s frozen prefix (same cut and width).</summary>
    public bool Fits(Model model)
    {
        var k = CacheablePrefix(model);
        return k == PrefixLength && model.Layers[k - 1].OutputShape.Size == Width;
    }

    internal ReadOnlySpan<float> Get(int sampleId) => _features.AsSpan(sampleId * Width, Width);
}
