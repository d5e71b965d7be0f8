using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Core.Kernels;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;
using DistTrain.Data.Presets;

namespace DistTrain.Benchmarks;

/// <summary>
/// Training throughput on Fashion-MNIST, the counterpart of scripts/bench_torch.py (same workloads, same
/// definition of samples/s, one JSON line per run):
/// <list type="bullet">
/// <item>W2 <c>mlp</c>: 784-256-128-10 ReLU, batch 128, Adam 1e-3, x/255, 60000 train / 10000 test, 3 epochs.</item>
/// <item>W3 <c>cnn</c>: conv32-ReLU-pool-conv64-ReLU-pool-dropout 0.25-dense128-ReLU-dense10, batch 128, Adam 1e-3, 1 epoch.</item>
/// </list>
/// samples_per_second = samples trained / seconds spent in training steps, summed over all epochs
/// (test evaluation after each epoch is not timed) — as in bench_torch.py.
/// Modes: <c>single</c> = the Core <see cref="Trainer"/> (one replica, OpenBLAS threads = --threads);
/// <c>local</c> = <see cref="LocalMode"/> (parameter server + coordinator + --workers worker actors in one
/// process, OpenBLAS threads = max(1, threads / workers) so workers × BLAS threads ≤ cores).
/// </summary>
internal static class TrainBench
{
    private sealed record Options(string Workload, int Epochs, int Threads, string Mode, int Workers, int? Limit, string Data, ulong Seed, bool Profile, int ProfileSteps, bool JobJson, int Batch, string? SaveInit = null, int? LocalSteps = null);

    public static int Run(string[] args)
    {
        Options o;
        try
        {
            var parsed = Parse(args);
            if (parsed is null) return 0;
            o = parsed;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException or IndexOutOfRangeException)
        {
            Console.Error.WriteLine($"train: {e.Message} (try --help)");
            return 2;
        }

        if (o.JobJson)
        {
            // The same job as a `disttrain node --job` file (snake_case, as JobFile.ToJson writes it), so that
            // scripts/bench_cluster.sh runs exactly the job that local mode runs here.
            Console.WriteLine(JsonSerializer.Serialize(Job(o) with { CheckpointEvery = 0 }, new JsonSerializerOptions(ModelSpec.JsonOptions) { WriteIndented = true }));
            return 0;
        }

        if (o.SaveInit is { } initPath)
        {
            // The parameters every configuration starts from (single, local and cluster all initialise with the
            // job's seed), as PyTorch names them: bench_torch.py --init loads them, so both systems start equal.
            var initJob = Job(o);
            var model = new Model(initJob.Model);
            model.InitializeParameters(initJob.Seed);
            File.WriteAllBytes(initPath, DistTrain.Core.Interchange.ModelWeights.ToSafeTensors(initJob.Model, model.Parameters));
            Console.Error.WriteLine($"# wrote the {model.ParameterCount} initial parameters of {initJob.JobId} to {initPath}");
            return 0;
        }

        // OpenBLAS's pool is process-wide; the variable also reaches the managed fallback. Set before Gemm.Default is first used.
        var blasThreads = o.Mode == "local" ? Math.Max(1, o.Threads / o.Workers) : o.Threads;
        Environment.SetEnvironmentVariable(Gemm.ThreadsEnvironmentVariable, blasThreads.ToString(CultureInfo.InvariantCulture));
        if (Gemm.Default is OpenBlasGemm blas && blas.CanSetThreads) blas.SetThreads(blasThreads);
        Console.Error.WriteLine($"# {Gemm.Describe()}");

        var job = Job(o);
        try
        {
            _ = new Model(job.Model); // fails fast when a layer type is missing from this build
        }
        catch (NotSupportedException e)
        {
            Console.Error.WriteLine($"train: the {o.Workload} workload is not available in this build: {e.Message}");
            return 3;
        }

        if (o.Profile) return StepProfile.Run(job, o.ProfileSteps);

        var result = o.Mode == "single" ? RunSingle(job) : RunLocal(job, o.Workers);
        if (result is null) return 1;
        var (perEpoch, accuracy, samples, seconds) = result.Value;
        var line = new Dictionary<string, object?>
        {
            ["system"] = "disttrain",
            ["version"] = $".NET {Environment.Version}",
            ["workload"] = o.Workload,
            ["mode"] = o.Mode,
            ["local_steps"] = o.LocalSteps,
            ["workers"] = o.Mode == "local" ? o.Workers : 1,
            ["threads"] = o.Threads,
            ["blas_threads"] = blasThreads,
            ["gemm"] = Gemm.Default.Name,
            ["batch"] = job.BatchSize,
            ["epochs"] = job.Epochs,
            ["train_samples"] = samples / Math.Max(1, perEpoch.Count),
            ["samples_per_second"] = Math.Round(samples / Math.Max(seconds, 1e-9), 1),
            ["samples_per_second_epochs"] = perEpoch.Select(s => Math.Round(s, 1)).ToArray(),
            ["test_accuracy"] = accuracy.Select(a => Math.Round(a, 4)).ToArray(),
            ["peak_rss_mib"] = Math.Round(PeakRssMib(), 1),
        };
        Console.WriteLine(JsonSerializer.Serialize(line));
        return 0;
    }

    private static TrainingJob Job(Options o)
    {
        var preset = Presets.Get(o.Workload == "mlp" ? "fashion-mlp" : "fashion-cnn", o.Seed, $"bench-{o.Workload}");
        // W3 as bench_torch.py defines it: element-wise dropout (nn.Dropout), which FashionMnist.Cnn uses.
        var model = o.Workload == "mlp" ? Presets.FashionMlp : FashionMnist.Cnn;
        return preset with
        {
            Model = model,
            Epochs = o.Epochs,
            BatchSize = o.Batch,
            Data = preset.Data with { Path = o.Data, Limit = o.Limit },
            ValidationFraction = 0,
            TrainFraction = 1,
            Patience = 0,
            // Local SGD (--local-steps K): each worker takes K optimizer steps on its shards between two model averages.
            Communication = o.LocalSteps is { } k ? new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: k) : null,
        };
    }

    private static (List<double> PerEpoch, List<double> Accuracy, long Samples, double Seconds)? RunSingle(TrainingJob job)
    {
        var data = new PresetDataLoader().Load(job);
        var model = new Model(job.Model);
        model.InitializeParameters(job.Seed);
        var computer = new GradientComputer(model, Loss.Create(job.Loss));
        var trainer = new Trainer(computer, Optimizer.Create(job.Optimizer, model.ParameterCount),
            new TrainingOptions(job.Epochs, job.BatchSize, job.Seed, Shuffle: true, Patience: 0, EvaluationBatchSize: 1000));
        var perEpoch = new List<double>();
        var accuracy = new List<double>();
        long samples = 0;
        double seconds = 0;
        // Validation = the test split, so each epoch ends with an (untimed) test evaluation, as in bench_torch.py.
        trainer.Run(data.Train, data.Test, m =>
        {
            perEpoch.Add(m.SamplesPerSecond);
            accuracy.Add(m.ValidationAccuracy ?? double.NaN);
            samples += data.Train.Count;
            seconds += m.Seconds;
            Console.Error.WriteLine($"# epoch {m.Epoch}: {m.SamplesPerSecond:0} samples/s, train loss {m.TrainLoss:0.0000}, test accuracy {m.ValidationAccuracy:0.0000}");
        });
        return (perEpoch, accuracy, samples, seconds);
    }

    /// <summary>Gives the workers the test split as their validation split, so the coordinator reports test accuracy after every epoch.</summary>
    private sealed class TestAsValidation : IJobDataLoader
    {
        private readonly PresetDataLoader _inner = new();

        public JobData Load(TrainingJob job)
        {
            var d = _inner.Load(job);
            return d with { Validation = d.Test };
        }
    }

    private static (List<double> PerEpoch, List<double> Accuracy, long Samples, double Seconds)? RunLocal(TrainingJob job, int workers)
    {
        var perEpoch = new List<double>();
        var accuracy = new List<double>();
        long samples = 0;
        double seconds = 0;
        string? failure = null;
        var completed = LocalMode.RunAsync(job, workers, new TestAsValidation(), e =>
        {
            switch (e)
            {
                case EpochCompleted ec:
                    lock (perEpoch)
                    {
                        perEpoch.Add(ec.Metrics.SamplesPerSecond);
                        accuracy.Add(ec.Metrics.ValidationAccuracy ?? double.NaN);
                        samples += (long)Math.Round(ec.Metrics.SamplesPerSecond * ec.Metrics.Seconds);
                        seconds += ec.Metrics.Seconds;
                    }
                    Console.Error.WriteLine($"# epoch {ec.Metrics.Epoch}: {ec.Metrics.SamplesPerSecond:0} samples/s, train loss {ec.Metrics.TrainLoss:0.0000}, test accuracy {ec.Metrics.ValidationAccuracy:0.0000}");
                    break;
                case TrainingFailed f:
                    failure = f.Reason;
                    break;
            }
        }).GetAwaiter().GetResult();
        if (failure is not null || completed.Epochs != job.Epochs)
        {
            Console.Error.WriteLine($"train: local training failed: {failure ?? $"{completed.Epochs} of {job.Epochs} epochs ran"}");
            return null;
        }
        lock (perEpoch) return (perEpoch, accuracy, samples, seconds);
    }

    /// <summary>VmHWM (peak resident set) of this process, from /proc/self/status; NaN where there is no /proc.</summary>
    public static double PeakRssMib()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var kb = line["VmHWM:".Length..].Trim().Split(' ')[0];
                return double.Parse(kb, CultureInfo.InvariantCulture) / 1024.0;
            }
        }
        catch (IOException)
        {
        }
        return double.NaN;
    }

    private static Options? Parse(string[] args)
    {
        string workload = "mlp", mode = "single", data = PresetDataLoader.DefaultFashionFolder;
        int? epochs = null, limit = null;
        int threads = 1, workers = 2, profileSteps = 200, batch = 128;
        ulong seed = 42;
        var profile = false;
        var jobJson = false;
        string? saveInit = null;
        int? localSteps = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int NextInt() => int.Parse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--workload": workload = Next(); break;
                case "--epochs": epochs = NextInt(); break;
                case "--threads": threads = NextInt(); break;
                case "--mode": mode = Next(); break;
                case "--workers": workers = NextInt(); break;
                case "--limit": limit = NextInt(); break;
                case "--data": data = Next(); break;
                case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--profile": profile = true; break;
                case "--profile-steps": profileSteps = NextInt(); break;
                case "--job-json": jobJson = true; break;
                case "--batch": batch = NextInt(); break;
                case "--save-init": saveInit = Next(); break;
                case "--local-steps": localSteps = NextInt(); break;
                case "-h" or "--help":
                    Console.WriteLine("train --workload mlp|cnn [--epochs E (mlp 3, cnn 1)] [--threads T (1)] [--mode single|local] [--workers N (2, local)]");
                    Console.WriteLine("      [--limit N first training samples] [--data IDX-FOLDER] [--seed S (42)] [--batch N (128, global)]");
                    Console.WriteLine("      [--profile [--profile-steps N (200)]: time the phases of a single-replica step instead of training]");
                    Console.WriteLine("      [--local-steps K: local SGD, K optimizer steps per worker between model averages (local mode and --job-json)]");
                    Console.WriteLine("      [--job-json: print the job as a `disttrain node --job` file (no mid-run checkpoints) instead of training]");
                    Console.WriteLine("      [--save-init FILE: write the initial parameters as safetensors (PyTorch names; bench_torch.py --init) instead of training]");
                    Console.WriteLine("Prints one JSON line; samples_per_second counts training steps only (all epochs), not evaluation.");
                    return null;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (workload is not ("mlp" or "cnn")) throw new ArgumentException($"--workload must be mlp or cnn (got '{workload}')");
        if (mode is not ("single" or "local")) throw new ArgumentException($"--mode must be single or local (got '{mode}')");
        var e = epochs ?? (workload == "mlp" ? 3 : 1);
        if (e < 1 || threads < 1 || workers < 1 || limit is < 1 || profileSteps < 1 || batch < 1 || localSteps is < 1)
            throw new ArgumentException("--epochs, --threads, --workers, --limit, --batch, --local-steps and --profile-steps must be >= 1");
        if (localSteps is not null && mode == "single" && !jobJson)
            throw new ArgumentException("--local-steps needs --mode local (or --job-json): a single replica has no workers to average");
        return new Options(workload, e, threads, mode, workers, limit, data, seed, profile, profileSteps, jobJson, batch, saveInit, localSteps);
    }
}
