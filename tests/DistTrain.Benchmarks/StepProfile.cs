using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Benchmarks;

/// <summary>
/// Where a single-replica training step's time goes: the step of <see cref="GradientComputer"/> +
/// <see cref="Trainer.Step"/> taken apart and timed phase by phase (input conversion, each layer's forward
/// and backward, loss, gradient zeroing and scaling, optimizer), plus the memory work the actor path adds
/// per step in local mode (parameter snapshot, replica load, gradient copy, aggregation). Prints a
/// markdown table of mean microseconds per step and the share of the total.
/// </summary>
internal static class StepProfile
{
    public static int Run(TrainingJob job, int steps)
    {
        var data = new PresetDataLoader().Load(job);
        var train = data.Train;
        var model = new Model(job.Model);
        model.InitializeParameters(job.Seed);
        var loss = Loss.Create(job.Loss);
        var optimizer = Optimizer.Create(job.Optimizer, model.ParameterCount);
        var gemm = model.Gemm;
        var layers = model.Layers;
        var n = job.BatchSize;
        var classes = model.OutputShape.Size;

        var acts = new float[layers.Count + 1][];
        acts[0] = new float[n * model.InputShape.Size];
        var maxWidth = model.InputShape.Size;
        for (var i = 0; i < layers.Count; i++)
        {
            acts[i + 1] = new float[n * layers[i].OutputShape.Size];
            maxWidth = Math.Max(maxWidth, layers[i].OutputShape.Size);
        }
        var gradA = new float[n * maxWidth];
        var gradB = new float[n * maxWidth];
        var labels = new int[n];
        var ids = new int[n];
        var outputGrad = new float[n * classes];

        // Timers: 0 zero grads, 1 inputs, 2.. forward per layer, loss, backward per layer, scale, optimizer.
        var names = new List<string> { "zero gradients", "input conversion (bytes -> x/255) + labels" };
        foreach (var l in layers)
            names.Add(l is Flatten ? $"forward {l.Name} (Flatten: shares its input's buffer in Model, skipped)" : $"forward {l.Name} ({l.Kind} {l.InputShape}->{l.OutputShape})");
        names.Add("loss (softmax cross-entropy + gradient) + accuracy");
        var first = 0;
        while (first < layers.Count - 1 && layers[first].ParameterCount == 0) first++;
        for (var i = layers.Count - 1; i >= first; i--) names.Add($"backward {layers[i].Name} ({layers[i].Kind}{(i == first ? ", no dx" : "")})");
        names.Add("scale gradient by 1/N");
        names.Add($"optimizer step ({job.Optimizer.Kind}, {model.ParameterCount} parameters)");
        var ticks = new long[names.Count];

        var order = EpochSchedule.Permutation(train.Count, job.Seed, 0);
        var stepsPerEpoch = train.Count / n;
        var warmup = Math.Min(50, steps);
        var allocatedBefore = 0L;
        var cpuBefore = TimeSpan.Zero;
        var total = Stopwatch.StartNew();
        for (var s = -warmup; s < steps; s++)
        {
            if (s == 0)
            {
                Array.Clear(ticks);
                cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                total.Restart();
            }
            var batch = order.AsSpan(((s + warmup) % stepsPerEpoch) * n, n);
            var ctx = new BatchContext(n, Training: true, job.Seed, 0, ids);
            var k = 0;
            var t = Stopwatch.GetTimestamp();
            long Lap(ref long t0) { var now = Stopwatch.GetTimestamp(); var d = now - t0; t0 = now; return d; }

            model.ZeroGradients();
            ticks[k++] += Lap(ref t);
            batch.CopyTo(ids);
            train.CopyInputs(batch, acts[0], ctx);
            for (var i = 0; i < n; i++) labels[i] = train.Label(batch[i]);
            ticks[k++] += Lap(ref t);
            for (var i = 0; i < layers.Count; i++)
            {
                var l = layers[i];
                if (l is Flatten)
                {
                    // As Model: the reshape's output is its input (same buffer), nothing to do.
                    acts[i + 1] = acts[i];
                    ticks[k++] += Lap(ref t);
                    continue;
                }
                l.Forward(ctx, acts[i].AsSpan(0, n * l.InputShape.Size), acts[i + 1].AsSpan(0, n * l.OutputShape.Size), gemm);
                ticks[k++] += Lap(ref t);
            }
            var output = acts[^1].AsSpan(0, n * classes);
            loss.Compute(output, labels, n, classes, outputGrad);
            var correct = 0;
            for (var i = 0; i < n; i++) if (Loss.ArgMax(output.Slice(i * classes, classes)) == labels[i]) correct++;
            ticks[k++] += Lap(ref t);
            outputGrad.AsSpan(0, n * classes).CopyTo(gradA);
            var dy = gradA;
            var dx = gradB;
            for (var i = layers.Count - 1; i >= first; i--)
            {
                var l = layers[i];
                if (l is Flatten)
                {
                    ticks[k++] += Lap(ref t); // as Model.Backward: dy already is the reshape's input gradient
                    continue;
                }
                // As Model.Backward: no input gradient for the first layer with parameters, nothing before it.
                var dxSpan = i > first ? dx.AsSpan(0, n * l.InputShape.Size) : Span<float>.Empty;
                l.Backward(ctx, acts[i].AsSpan(0, n * l.InputShape.Size), acts[i + 1].AsSpan(0, n * l.OutputShape.Size),
                    dy.AsSpan(0, n * l.OutputShape.Size), dxSpan, gemm);
                (dy, dx) = (dx, dy);
                ticks[k++] += Lap(ref t);
            }
            GradientMath.Scale(model.Gradients, 1f / n);
            ticks[k++] += Lap(ref t);
            optimizer.Step(model.Parameters, model.Gradients);
            ticks[k++] += Lap(ref t);
            GC.KeepAlive(correct);
        }
        var wall = total.Elapsed.TotalSeconds;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;

        var sum = 0L;
        foreach (var x in ticks) sum += x;
        var us = 1e6 / Stopwatch.Frequency / steps;
        Console.WriteLine($"# single-replica {job.JobId} step profile: batch {n}, {steps} steps after {warmup} warm-up; {Gemm.Default.Name}");
        Console.WriteLine($"# {steps * n / wall:0} samples/s over the profiled steps ({wall * 1e6 / steps:0} µs per step wall, timer overhead included); {allocated / steps} bytes allocated per step");
        Console.WriteLine($"# process CPU time {cpu * 1e6 / steps:0} µs per step: CPU / wall = {cpu / wall:0.00} (well below 1 = this thread was waiting for a core other processes held)");
        Console.WriteLine();
        Console.WriteLine("| phase | µs / step | share |");
        Console.WriteLine("|---|--:|--:|");
        for (var i = 0; i < names.Count; i++)
            Console.WriteLine($"| {names[i]} | {ticks[i] * us:0.0} | {100.0 * ticks[i] / sum:0.0}% |");
        Console.WriteLine($"| **total** | {sum * us:0.0} | 100% |");

        ActorPathCopies(model.ParameterCount, steps);
        MessageHops(2000);
        return 0;
    }

    /// <summary>
    /// The flat-buffer work LocalMode adds per step, outside the gradient math: the parameter server's
    /// snapshot copy, each worker loading the snapshot into its replica and copying its gradient into a
    /// send buffer, and the aggregator's finiteness check, sum and scale (two workers).
    /// </summary>
    private static void ActorPathCopies(int count, int steps)
    {
        var master = new float[count];
        var snapshot = new float[count];
        var replica = new float[count];
        var grad = new float[count];
        var send = new float[count];
        var mean = new float[count];
        for (var i = 0; i < count; i++) { master[i] = i * 1e-6f; grad[i] = -i * 1e-6f; }
        var names = new[] { "PS snapshot copy", "replica load (×2 workers)", "gradient copy to send buffer (×2)", "aggregator finite check (×2)", "aggregator sum + scale" };
        var ticks = new long[names.Length];
        for (var s = -20; s < steps; s++)
        {
            if (s == 0) Array.Clear(ticks);
            var t = Stopwatch.GetTimestamp();
            long Lap(ref long t0) { var now = Stopwatch.GetTimestamp(); var d = now - t0; t0 = now; return d; }
            master.CopyTo(snapshot, 0);
            ticks[0] += Lap(ref t);
            snapshot.CopyTo(replica, 0); snapshot.CopyTo(replica, 0);
            ticks[1] += Lap(ref t);
            grad.CopyTo(send, 0); grad.CopyTo(send, 0);
            ticks[2] += Lap(ref t);
            var ok = GradientMath.AllFinite(send) & GradientMath.AllFinite(grad);
            ticks[3] += Lap(ref t);
            send.CopyTo(mean, 0);
            GradientMath.Add(mean, grad);
            GradientMath.Scale(mean, 1f / 128);
            ticks[4] += Lap(ref t);
            GC.KeepAlive(ok);
        }
        var us = 1e6 / Stopwatch.Frequency / steps;
        Console.WriteLine();
        Console.WriteLine($"Actor path, flat-buffer work per step ({count} floats = {count * 4 / 1e6:0.00} MB each, 2 workers):");
        Console.WriteLine();
        Console.WriteLine("| actor-path work | µs / step |");
        Console.WriteLine("|---|--:|");
        var sum = 0L;
        for (var i = 0; i < names.Length; i++) { Console.WriteLine($"| {names[i]} | {ticks[i] * us:0.0} |"); sum += ticks[i]; }
        Console.WriteLine($"| **total** | {sum * us:0.0} |");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# (the replica load and gradient copy run on the two workers' threads in parallel; the rest on the parameter server's)"));
    }

    private sealed record Ping(int Remaining);

    /// <summary>Bounces a message between two actors of a local ActorSystem (LocalMode's configuration).</summary>
    private sealed class Bouncer : ReceiveActor
    {
        public Bouncer(TaskCompletionSource done)
        {
            Receive<IActorRef>(peer => Become(() => Receive<Ping>(p =>
            {
                if (p.Remaining == 0) done.TrySetResult();
                else peer.Tell(new Ping(p.Remaining - 1));
            })));
        }
    }

    /// <summary>
    /// Mean time of one in-process message hop (Tell to a waiting actor on another dispatcher thread). A local
    /// step takes four: coordinator → parameter server → worker(s) → parameter server → coordinator.
    /// </summary>
    private static void MessageHops(int hops)
    {
        using var system = ActorSystem.Create("hops", LocalMode.Configuration());
        double Measure(int count)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var a = system.ActorOf(Akka.Actor.Props.Create(() => new Bouncer(done)));
            var b = system.ActorOf(Akka.Actor.Props.Create(() => new Bouncer(done)));
            a.Tell(b);
            b.Tell(a);
            var sw = Stopwatch.StartNew();
            a.Tell(new Ping(count));
            done.Task.Wait();
            var us = sw.Elapsed.TotalMicroseconds / (count + 1);
            system.Stop(a);
            system.Stop(b);
            return us;
        }
        Measure(200); // warm-up
        var results = new double[5];
        for (var i = 0; i < results.Length; i++) results[i] = Measure(hops);
        Array.Sort(results);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Actor message hop (ping-pong between two actors, local ActorSystem, median of 5 × {hops} hops): {results[2]:0.0} µs per hop; a local step makes 4 hops in sequence."));
        system.Terminate().Wait();
    }
}
