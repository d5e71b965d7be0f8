using DistTrain.Core.Models;

namespace DistTrain.Cluster.State;

/// <summary>
/// What crosses the wire when a model has frozen layers: only the trainable range
/// [FrozenParameterCount, ParameterCount) of the flat buffers. Each node keeps the frozen values it built
/// itself (<see cref="Jobs.JobModel"/>). With nothing frozen the full buffers travel as before, uncopied.
/// </summary>
public static class FrozenParameters
{
    /// <summary>
    /// Copies received parameters into a replica with frozen layers: the trainable range (training steps)
    /// or all parameters (evaluation snapshots). False when the length fits neither.
    /// </summary>
    public static bool TryLoad(Model model, float[] parameters)
    {
        if (parameters.Length == model.TrainableParameterCount) parameters.CopyTo(model.TrainableParameters);
        else if (parameters.Length == model.ParameterCount) parameters.CopyTo(model.Parameters, 0);
        else return false;
        return true;
    }

    /// <summary>
    /// The gradient to send: the model's own buffer when nothing is frozen (no copy), else its trainable
    /// range copied into <paramref name="send"/> (allocated once per job, length TrainableParameterCount).
    /// </summary>
    public static float[] TrainableGradients(Model model, float[]? send)
    {
        if (send is null) return model.Gradients;
        model.TrainableGradients.CopyTo(send);
        return send;
    }

    /// <summary>
    /// The trainable range as an array of its own: the model's buffer itself when nothing is frozen, else a copy.
    /// The parameter server steps and sends this array; the frozen range is needed only for checkpoints.
    /// </summary>
    public static float[] TrainableArray(Model model) =>
        model.FrozenParameterCount == 0 ? model.Parameters : model.TrainableParameters.ToArray();

    /// <summary>Writes the trainable array back into the model's full buffer (before a checkpoint or a snapshot).</summary>
    public static void Sync(Model model, float[] trainable)
    {
        if (!ReferenceEquals(trainable, model.Parameters)) trainable.CopyTo(model.TrainableParameters);
    }
}
