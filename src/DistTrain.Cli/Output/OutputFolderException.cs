namespace DistTrain.Cli.Output;

/// <summary>The run's output folder cannot be created or written; raised before training starts.</summary>
public sealed class OutputFolderException(string folder, string message, Exception? inner = null) : IOException(message, inner)
{
    public string Folder { get; } = folder;
}
