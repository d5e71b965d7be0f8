using DistTrain.Core.Layers;
using DistTrain.Core.Tensors;
using DistTrain.Core.Training;

namespace DistTrain.Data;

/// <summary>
/// The samples of some classes of a dataset, relabelled 0..k−1 in the order the classes are given, with
/// those classes' names: e.g. Fashion-MNIST classes 5–9 as a 5-class problem (Sandal = 0 … Ankle boot = 4).
/// A stateless view (inputs and augmentation come from the inner dataset), so workers may share it.
/// </summary>
public sealed class ClassSubset : IDataset
{
    private readonly DatasetView _view; // the kept samples; inputs and augmentation pass through it
    private readonly int[] _labelMap; // inner label -> new label, −1 when not selected
    private readonly string[] _names;

    public ClassSubset(IDataset inner, IReadOnlyList<int> classes)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(classes);
        var all = inner.ClassNames.Count;
        if (classes.Count == 0) throw new ArgumentException("a class subset needs at least one class");
        _labelMap = new int[all];
        Array.Fill(_labelMap, -1);
        _names = new string[classes.Count];
        for (var k = 0; k < classes.Count; k++)
        {
            var c = classes[k];
            if ((uint)c >= (uint)all)
                throw new ArgumentException($"class {c} does not exist: the data has classes 0-{all - 1} ({string.Join(", ", inner.ClassNames)})");
            if (_labelMap[c] >= 0) throw new ArgumentException($"class {c} is listed twice");
            _labelMap[c] = k;
            _names[k] = inner.ClassNames[c];
        }
        var kept = new List<int>();
        for (var i = 0; i < inner.Count; i++)
            if (_labelMap[inner.Label(i)] >= 0) kept.Add(i);
        _view = new DatasetView(inner, [.. kept]);
    }

    /// <summary>Parses "5-9" (inclusive range) or "0,2,4" (a list; ranges may be mixed in).</summary>
    public static int[] Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash > 0 && int.TryParse(part[..dash], out var a) && int.TryParse(part[(dash + 1)..], out var b) && a >= 0 && a <= b)
                for (var c = a; c <= b; c++) result.Add(c);
            else if (int.TryParse(part, out var c) && c >= 0)
                result.Add(c);
            else
                throw new FormatException($"classes '{text}': '{part}' is not a class number or a range like 5-9");
        }
        if (result.Count == 0) throw new FormatException($"classes '{text}' names no class; expected e.g. 5-9 or 0,2,4");
        return [.. result];
    }

    public IDataset Inner => _view.Inner;

    public int Count => _view.Count;

    public TensorShape SampleShape => _view.SampleShape;

    public IReadOnlyList<string> ClassNames => _names;

    public int Label(int index) => _labelMap[_view.Label(index)];

    public void CopyInputs(ReadOnlySpan<int> indices, Span<float> destination, in BatchContext ctx) => _view.CopyInputs(indices, destination, ctx);
}
