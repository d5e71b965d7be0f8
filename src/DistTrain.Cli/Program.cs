using DistTrain.Cli.Commands;
using DistTrain.Cli.Output;
using DistTrain.Core.Checkpoints;
using DistTrain.Data;

namespace DistTrain.Cli;

/// <summary>
/// <c>disttrain</c>: the only place that writes to the console. Exit codes: 0 success, 1 training failed,
/// 2 bad input (usage, data, model spec, checkpoint).
/// </summary>
public static class Program
{
    public const string Usage = """
        DistTrain: distributed, actor-based deep-learning training for .NET

        usage: disttrain <command> [options]      (disttrain <command> --help for its options)
          train      train a model in local mode (default: the penguins classifier on the bundled data)
          evaluate   accuracy, per-class precision/recall and confusion matrix of a checkpoint
          predict    class probabilities for CSV rows, values or idx images
          summary    the model table of a preset, spec file or checkpoint
          export     a checkpoint's model as ONNX or safetensors (PyTorch names)
          node       run a cluster node (roles seed, ps, worker)
          submit     send a training job to a running cluster and follow its progress
        """;

    public static async Task<int> Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        System.Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        return await RunAsync(args, System.Console.Out, System.Console.Error, cts.Token);
    }

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        var command = args.Length == 0 ? "train" : args[0];
        var rest = args.Length == 0 ? [] : args[1..];
        try
        {
            return command switch
            {
                "train" => await TrainCommand.RunAsync(rest, stdout, stderr, cancel),
                "evaluate" => InspectCommands.Evaluate(rest, stdout),
                "predict" => InspectCommands.Predict(rest, stdout),
                "summary" => InspectCommands.Summary(rest, stdout),
                "export" => ExportCommand.Run(rest, stdout),
                "node" => await NodeCommands.NodeAsync(rest, stdout, stderr, cancel),
                "submit" => await NodeCommands.SubmitAsync(rest, stdout, stderr, cancel),
                "help" or "--help" or "-h" => Help(stdout),
                _ => throw new UsageException($"unknown command '{command}'"),
            };
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            if (e.Message.StartsWith("unknown command", StringComparison.Ordinal)) stderr.WriteLine(Usage);
            return 2;
        }
        catch (Exception e) when (e is DataFormatException or FormatException or CheckpointFormatException or ArgumentException
                                      or OutputFolderException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("cancelled");
            return 130;
        }
    }

    private static int Help(TextWriter stdout)
    {
        stdout.WriteLine(Usage);
        return 0;
    }
}
