using System.Diagnostics;
using Xunit.Abstractions;
using DistTrain.Core.Models;

namespace DistTrain.Cli.Tests.Fuzz;

/// <summary>
/// <c>disttrain</c> (Program.RunAsync, in-process) with random argument vectors: known and unknown options,
/// missing values, garbage numbers, files that are garbage or valid. Whatever the arguments, the exit code is
/// 0, 1 or 2 and no exception escapes. Training runs are kept tiny (--epochs/--limit appended, penguins and
/// small synthetic shapes only) and every run gets a fresh --out folder.
/// </summary>
public sealed class CommandLineFuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempFolder _tmp = new();
    private string _checkpoint = "";

    public async Task InitializeAsync()
    {
        // One real checkpoint, so evaluate/predict/--resume also reach their success paths.
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(["train", "--epochs", "2", "--limit", "40", "--workers", "1", "--out", _tmp.File("seed-run")], new StringWriter(), stderr);
        Assert.True(exit == 0, stderr.ToString());
        _checkpoint = _tmp.File("seed-run/checkpoint.dtck");

        var rng = new Random(17);
        var garbage = new byte[300];
        rng.NextBytes(garbage);
        File.WriteAllBytes(_tmp.File("garbage.bin"), garbage);
        var ck = File.ReadAllBytes(_checkpoint);
        File.WriteAllBytes(_tmp.File("truncated.dtck"), ck[..(ck.Length / 2)]);
        var flipped = (byte[])ck.Clone();
        flipped[ck.Length / 3] ^= 0x40;
        File.WriteAllBytes(_tmp.File("flipped.dtck"), flipped);
        File.WriteAllText(_tmp.File("bad.csv"), "species,bill_length_mm\nAdelie,\"12\nGentoo,NaN\n");
        File.WriteAllText(_tmp.File("rows.csv"), "39.1,18.7,181,3750\n50,15.2,218,5700\nx,1,2\n");
        File.WriteAllText(_tmp.File("model.json"), Presets().ToJson());
        File.WriteAllText(_tmp.File("bad-model.json"), """{"input_shape":[4],"layers":[{"type":"dense","units":-3}]}""");
        File.WriteAllText(_tmp.File("broken-model.json"), """{"input_shape":[4],"layers":[{"type":""");
    }

    private static ModelSpec Presets() => DistTrain.Cluster.Jobs.Presets.PenguinsModel;

    public Task DisposeAsync()
    {
        _tmp.Dispose();
        return Task.CompletedTask;
    }

    private static readonly string[] Numbers = ["0", "1", "2", "3", "-1", "abc", "", "1e9", "2147483648", "NaN", "0.5", "-0", "+1", " 2 ", "99999999999999999999", "0x1F", "1,5"];

    private string[] Files => [_checkpoint, _tmp.File("garbage.bin"), _tmp.File("truncated.dtck"), _tmp.File("flipped.dtck"), _tmp.File("bad.csv"),
        _tmp.File("rows.csv"), _tmp.File("model.json"), _tmp.File("bad-model.json"), _tmp.File("broken-model.json"), _tmp.File("missing.file"), _tmp.Path, ""];

    private string Value(string option, Random rng) => option switch
    {
        "preset" => Pick(rng, "penguins", "shapes-cnn", "nope", "", "PENGUINS"),
        "loss" => Pick(rng, "cross-entropy", "mse", "hinge", ""),
        "optimizer" => Pick(rng, "sgd", "adam", "adadelta", "rmsprop"),
        "split" => Pick(rng, "test", "validation", "train", "val", "all"),
        "label" => Pick(rng, "species", "island", "nope"),
        "features" => Pick(rng, "bill_length_mm,bill_depth_mm", "bill_length_mm,bill_length_mm", "", ",,", "nope"),
        "values" => Pick(rng, "39.1,18.7,181,3750", "1,2", "a,b,c,d", "NaN,1,2,3", "1e39,1,2,3", ""),
        "lr" or "momentum" or "weight-decay" or "train-fraction" or "val-fraction" => Pick(rng, "0.01", "0", "1", "-0.5", "1e9", "NaN", "Infinity", "x", "0.999999"),
        "checkpoint" or "resume" or "model" or "data" or "csv" or "idx" or "job" => Files[rng.Next(Files.Length)],
        _ => Numbers[rng.Next(Numbers.Length)],
    };

    private static string Pick(Random rng, params string[] values) => values[rng.Next(values.Length)];

    private static readonly Dictionary<string, string[]> Options = new()
    {
        ["train"] = ["preset", "model", "data", "label", "features", "loss", "epochs", "batch-size", "optimizer", "lr", "momentum", "weight-decay",
            "seed", "patience", "train-fraction", "val-fraction", "image-size", "channels", "count", "workers", "resume", "augment", "no-augment",
            "nesterov", "verbose", "bogus", "help"],
        ["evaluate"] = ["checkpoint", "split", "data", "help", "bogus"],
        ["predict"] = ["checkpoint", "values", "csv", "idx", "index", "count", "help", "limit"],
        ["summary"] = ["preset", "model", "checkpoint", "help", "data"],
    };

    private static readonly HashSet<string> FlagOptions = ["augment", "no-augment", "nesterov", "verbose", "help"];

    private string[] RandomArguments(Random rng)
    {
        var command = rng.Next(20) switch
        {
            < 7 => "train",
            < 10 => "evaluate",
            < 14 => "predict",
            < 17 => "summary",
            17 => Pick(rng, "node", "submit"),
            18 => Pick(rng, "help", "--help", "-h"),
            _ => Pick(rng, "", "fly", "--epochs", "TRAIN", "-"),
        };
        var args = new List<string> { command };
        if (command is "node" or "submit")
        {
            // Only the argument checks: an unknown option guarantees no node starts (no network, no waiting).
            args.AddRange(["--no-such-option", Numbers[rng.Next(Numbers.Length)]]);
            return [.. args];
        }
        var pool = Options.GetValueOrDefault(command, Options["train"]);
        // evaluate and predict need a checkpoint to get past their first check: usually give one (often the real one).
        if (command is "evaluate" or "predict" && rng.Next(5) > 0) args.AddRange(["--checkpoint", rng.Next(2) == 0 ? _checkpoint : Value("checkpoint", rng)]);
        for (var n = rng.Next(0, 6); n > 0; n--)
        {
            var option = pool[rng.Next(pool.Length)];
            switch (rng.Next(24))
            {
                case 0: args.Add("--" + option); break; // maybe a missing value
                case 1: args.Add("-" + option); break;
                case 2: args.Add(Value(option, rng)); break; // a stray value
                case 3 or 4 or 5: args.Add("--" + option + "=" + (FlagOptions.Contains(option) && rng.Next(2) == 0 ? "" : Value(option, rng))); break;
                default:
                    args.Add("--" + option);
                    if (!FlagOptions.Contains(option)) args.Add(Value(option, rng));
                    break;
            }
        }
        if (command == "train")
        {
            // Keep training tiny; a second --epochs/--limit/--workers from the pool is a usage error, which is fine.
            args.AddRange(["--epochs", "1", "--limit", "20", "--workers", "1", "--count", "30", "--out", _tmp.File($"out-{Guid.NewGuid():N}")]);
        }
        return [.. args];
    }

    [Fact]
    public async Task Random_argument_vectors_exit_with_0_1_or_2_and_no_exception_escapes()
    {
        var rng = new Random(5601);
        var exits = new int[3];
        var clock = Stopwatch.StartNew();
        var trained = 0;
        for (var i = 0; i < 500; i++)
        {
            var args = RandomArguments(rng);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var what = $"case {i} (seed 5601): disttrain {string.Join(' ', args.Select(a => a.Length == 0 || a.Contains(' ') ? $"'{a}'" : a))}";
            int exit;
            try
            {
                exit = await Program.RunAsync(args, stdout, stderr);
            }
            catch (Exception e)
            {
                Assert.Fail($"{what}: {e.GetType().FullName} escaped: {e}\nstderr: {stderr}");
                return;
            }
            Assert.True(exit is 0 or 1 or 2, $"{what}: exit code {exit}\nstderr: {stderr}");
            if (exit == 2) Assert.StartsWith("error: ", stderr.ToString());
            exits[exit]++;
            if (exit == 0 && args[0] != "summary" && stdout.ToString().Contains("test accuracy", StringComparison.Ordinal)) trained++;
        }
        output.WriteLine($"exit 0: {exits[0]} ({trained} trained), 1: {exits[1]}, 2: {exits[2]} in {clock.Elapsed.TotalSeconds:0.0} s");
        // The generator reaches every outcome: usage errors, bad files, and real (tiny) training runs.
        Assert.True(exits[0] > 50 && exits[2] > 200 && trained > 10, $"exit 0: {exits[0]} ({trained} trained), 1: {exits[1]}, 2: {exits[2]} in {clock.Elapsed.TotalSeconds:0.0} s");
    }
}
