using DistTrain.Core.Checkpoints;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Jobs;

/// <summary>A job's datasets as one node loaded them, and a fingerprint to check that every node loaded the same.</summary>
public sealed record JobData(IDataset Train, IDataset Validation, IDataset Test, IReadOnlyList<string> ClassNames,
    Normalization? Normalization, string Fingerprint)
{
    public IDataset Get(Protocol.DataSplit split) => split switch
    {
        Protocol.DataSplit.Train => Train,
        Protocol.DataSplit.Validation => Validation,
        _ => Test,
    };
}

/// <summary>Loads a job's data on the node where a worker runs.</summary>
public interface IJobDataLoader
{
    JobData Load(TrainingJob job);
}
