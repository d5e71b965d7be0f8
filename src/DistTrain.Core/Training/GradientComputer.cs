using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;

namespace DistTrain.Core.Training;

/// <summary>What one gradient computation saw: samples, summed loss, correct predictions.</summary>
public readonly record struct BatchResult(int Samples, double LossSum, int Correct)
{
    public static BatchResult operator +(BatchResult a, BatchResult b) => new(a.Samples + b.Samples, a.LossSum + b.LossSum, a.Correct + b.Correct);
}

/// <summary>
/// The unit of work a worker (or the single-replica loop) does: forward, loss, backward over a set of
/// dataset indices, leaving the <b>sum</b> of per-sample gradients in <see cref="Model.Gradients"/>.
/// Buffers are allocated for the largest batch seen and reused.
/// </summary>
public sealed class GradientComputer
{
    private readonly Model _model;
    private readonly Loss _loss;
    private float[] _outputGrad = [];
    private int[] _labels = [];
    private int[] _ids = [];
    private int[] _missIds = [];
    private FeatureCache? _cache;

    public GradientComputer(Model model, Loss loss)
    {
        _model = model;
        _loss = loss;
        if (model.OutputShape.Rank != 1)
            throw new ArgumentException($"The model's output shape {model.OutputShape} is not a flat vector of class scores; end it with a Dense layer.");
    }

    public Model Model => _model;

    public Loss Loss => _loss;

    /// <summary>The frozen-feature cache, when <see cref="EnableFeatureCache"/> turned one on.</summary>
    public FeatureCache? FeatureCache => _cache;

    /// <summary>
    /// Caches the frozen prefix's output per training sample (see <see cref="Training.FeatureCache"/>) when
    /// the model allows it. Call only when the training inputs are not augmented. Returns whether a cache is on.
    /// </summary>
    public bool EnableFeatureCache(long maxBytes = FeatureCache.DefaultMaxBytes)
    {
        _cache = FeatureCache.For(_model, maxBytes);
        return _cache is not null;
    }

    /// <summary>Uses <paramref name="shared"/> (e.g. one cache for every worker of a process) when it fits this model.</summary>
    public bool EnableFeatureCache(FeatureCache? shared)
    {
        _cache = shared is not null && shared.Fits(_model) ? shared : null;
        return _cache is not null;
    }

    /// <summary>Zeroes the gradients, then accumulates the gradient sum of samples <paramref name="sampleIds"/>.</summary>
    public BatchResult Compute(IDataset data, ReadOnlySpan<int> sampleIds, ulong seed, int epoch)
    {
        _model.ZeroGradients();
        return Accumulate(data, sampleIds, seed, epoch);
    }

    /// <summary>Adds the gradient sum of <paramref name="sampleIds"/> to what is already in the gradient buffer.</summary>
    public BatchResult Accumulate(IDataset data, ReadOnlySpan<int> sampleIds, ulong seed, int epoch)
    {
        var n = sampleIds.Length;
        if (n == 0) return default;
        CheckShapes(data);
        var classes = _model.OutputShape.Size;
        Grow(n, classes);
        sampleIds.CopyTo(_ids);
        var ctx = new BatchContext(n, Training: true, seed, epoch, _ids);
        for (var i = 0; i < n; i++) _labels[i] = data.Label(sampleIds[i]);
        var output = _cache is not null && _cache.Bind(data) ? ForwardCached(data, sampleIds, ctx) : ForwardAll(data, sampleIds, ctx);
        var labels = _labels.AsSpan(0, n);
        var lossSum = _loss.Compute(output, labels, n, classes, _outputGrad);
        var correct = CountCorrect(output, labels, n, classes);
        _model.Backward(_outputGrad, ctx);
        return new BatchResult(n, lossSum, correct);
    }

    private ReadOnlySpan<float> ForwardAll(IDataset data, ReadOnlySpan<int> sampleIds, in BatchContext ctx)
    {
        // Straight into the model's input buffer: Forward then has nothing to copy.
        var inputs = _model.InputBuffer(sampleIds.Length);
        data.CopyInputs(sampleIds, inputs, ctx);
        return _model.Forward(inputs, ctx);
    }

    private const int MinPrefixRows = 3;

    // The frozen prefix runs only for samples not cached yet (as one sub-batch, in batch order); then the
    // batch's features are gathered at the cut and only the head runs. In the first epoch every sample is
    // a miss, so the computation is exactly the uncached one.
    private ReadOnlySpan<float> ForwardCached(IDataset data, ReadOnlySpan<int> sampleIds, in BatchContext ctx)
    {
        var cache = _cache!;
        var n = sampleIds.Length;
        var misses = 0;
        for (var i = 0; i < n; i++)
            if (!cache.Has(sampleIds[i])) _missIds[misses++] = sampleIds[i];
        var width = cache.Width;
        if (misses > 0)
        {
            // OpenBLAS multiplies 1- or 2-row matrices with other kernels than larger ones, which round
            // differently; a sample's cached features must not depend on how many samples were missing with
            // it, so a short sub-batch is padded with copies of its first row (discarded afterwards).
            var rows = Math.Max(misses, MinPrefixRows);
            for (var j = misses; j < rows; j++) _missIds[j] = _missIds[0];
            var missCtx = ctx with { BatchSize = rows, SampleIds = _missIds };
            var inputs = _model.InputBuffer(rows);
            var sampleWidth = _model.InputShape.Size;
            data.CopyInputs(_missIds.AsSpan(0, misses), inputs, ctx with { BatchSize = misses, SampleIds = _missIds });
            for (var j = misses; j < rows; j++) inputs[..sampleWidth].CopyTo(inputs.Slice(j * sampleWidth, sampleWidth));
            var features = _model.ForwardLayers(0, cache.PrefixLength, inputs, missCtx);
            for (var j = 0; j < misses; j++) cache.Store(_missIds[j], features.Slice(j * width, width));
        }
        var headInput = _model.ActivationBuffer(cache.PrefixLength, n);
        for (var i = 0; i < n; i++) cache.Get(sampleIds[i]).CopyTo(headInput.Slice(i * width, width));
        return _model.ForwardLayers(cache.PrefixLength, _model.Layers.Count, headInput, ctx);
    }

    /// <summary>
    /// Loss and accuracy over a whole dataset without touching gradients; optionally records each sample's
    /// predicted class into <paramref name="predictions"/> (length = data.Count).
    /// </summary>
    public BatchResult Evaluate(IDataset data, int batchSize, Span<int> predictions = default)
    {
        CheckShapes(data);
        var classes = _model.OutputShape.Size;
        var total = default(BatchResult);
        var idx = new int[Math.Min(batchSize, Math.Max(1, data.Count))];
        for (var start = 0; start < data.Count; start += batchSize)
        {
            var n = Math.Min(batchSize, data.Count - start);
            Grow(n, classes);
            for (var i = 0; i < n; i++) { idx[i] = start + i; _labels[i] = data.Label(start + i); }
            var ctx = BatchContext.Inference(n);
            var inputs = _model.InputBuffer(n);
            data.CopyInputs(idx.AsSpan(0, n), inputs, ctx);
            var output = _model.Forward(inputs, ctx);
            var labels = _labels.AsSpan(0, n);
            var lossSum = _loss.Compute(output, labels, n, classes, _outputGrad);
            var correct = CountCorrect(output, labels, n, classes);
            if (!predictions.IsEmpty)
                for (var i = 0; i < n; i++) predictions[start + i] = Loss.ArgMax(output.Slice(i * classes, classes));
            total += new BatchResult(n, lossSum, correct);
        }
        return total;
    }

    private void CheckShapes(IDataset data)
    {
        if (!data.SampleShape.Equals(_model.InputShape))
            throw new ArgumentException($"The dataset's samples have shape {data.SampleShape} but the model expects {_model.InputShape}.");
        if (data.ClassNames.Count != _model.OutputShape.Size)
            throw new ArgumentException($"The dataset has {data.ClassNames.Count} classes but the model outputs {_model.OutputShape.Size} values.");
    }

    private static int CountCorrect(ReadOnlySpan<float> output, ReadOnlySpan<int> labels, int n, int classes)
    {
        var correct = 0;
        for (var i = 0; i < n; i++) if (Loss.ArgMax(output.Slice(i * classes, classes)) == labels[i]) correct++;
        return correct;
    }

    private void Grow(int n, int classes)
    {
        if (_outputGrad.Length < n * classes) _outputGrad = new float[n * classes];
        if (_labels.Length < n) { _labels = new int[n]; _ids = new int[n]; }
        if (_missIds.Length < Math.Max(n, MinPrefixRows)) _missIds = new int[Math.Max(n, MinPrefixRows)];
    }
}
