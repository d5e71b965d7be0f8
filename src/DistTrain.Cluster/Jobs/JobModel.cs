using DistTrain.Core.Checkpoints;
using DistTrain.Core.Models;

namespace DistTrain.Cluster.Jobs;

/// <summary>
/// Builds a job's model replica together with the parameters that never travel. The frozen layers'
/// values stay on every node: seeded initialisation, then the base checkpoint (read from this node's disk)
/// over the layers named like its own. The parameter server and the workers build them the same way, so
/// only the trainable range crosses the wire.
/// </summary>
public static class JobModel
{
    /// <summary>
    /// The job's model. With <paramref name="initialize"/> (the parameter server, or a worker whose model has
    /// frozen layers) the parameters are seeded and the base is loaded; returns the base's parameter hash
    /// (null when the job has no base).
    /// </summary>
    public static (Model Model, string? BaseSha256) Create(TrainingJob job, bool initialize)
    {
        var model = new Model(job.Model);
        if (!initialize && model.FrozenParameterCount == 0 && job.Base is null) return (model, null);
        model.InitializeParameters(job.Seed);
        return (model, job.Base is { } b ? LoadBase(model, b.Checkpoint) : null);
    }

    /// <summary>Reads the base checkpoint at <paramref name="path"/> into <paramref name="model"/>; returns the hash of what it took.</summary>
    public static string LoadBase(Model model, string path)
    {
        var ck = CheckpointFile.Read(path);
        return Transfer.LoadBase(model, ck, $"base checkpoint {path}");
    }
}
