using DistTrain.Core.Kernels;

namespace DistTrain.Core.Layers;

/// <summary>
/// What a layer needs to know about the batch it is processing. <see cref="SampleIds"/> are the
/// dataset indices of the rows (length ≥ <see cref="BatchSize"/>); random layers derive their draws from
/// (Seed, Epoch, sample id, layer index) so a sample gets the same mask whichever worker computes it.
/// When SampleIds is null, row numbers stand in for sample ids.
/// </summary>
public readonly record struct BatchContext(int BatchSize, bool Training, ulong Seed = 0, int Epoch = 0, int[]? SampleIds = null)
{
    public long SampleId(int row) => SampleIds is null ? row : SampleIds[row];

    public static BatchContext Inference(int batchSize) => new(batchSize, Training: false);
}

/// <summary>Names and shapes of a layer's parameter tensors (in flat-buffer order), for summaries and export.</summary>
public sealed record ParameterTensor(string Name, int[] Shape, int Offset, int Length);
