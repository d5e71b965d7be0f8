using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using DistTrain.Cli.Commands;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Real `disttrain node` processes on 127.0.0.1: a seed+ps node and two worker nodes. Synchronous
/// training across processes must give the parameters local mode gives with the same seed, workers and
/// global batch, bit for bit.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class MultiProcessClusterTests : IDisposable
{
    private readonly List<Process> _processes = [];
    private readonly TempFolder _tmp = new();

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private (Process Process, StringBuilder Log) StartNode(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "disttrain.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("node");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DISTTRAIN_BLAS_THREADS"] = "1";
        var log = new StringBuilder();
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine("ERR " + e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _processes.Add(p);
        return (p, log);
    }

    [Fact]
    public async Task Seed_ps_and_two_worker_processes_train_to_the_parameters_of_local_mode()
    {
        var job = Presets.Get("penguins", seed: 7) with { Epochs = 15, JobId = "mp-penguins" };
        var jobFile = _tmp.File("job.json");
        File.WriteAllText(jobFile, JobFile.ToJson(job));
        var port = FreePort();
        var seed = $"akka.tcp://disttrain@127.0.0.1:{port}";
        var outRoot = _tmp.File("out");

        var (ps, psLog) = StartNode("--roles", "seed,ps", "--port", port.ToString(), "--seeds", seed, "--min-workers", "2",
            "--job", jobFile, "--out", outRoot, "--log-level", "INFO");
        var (_, w1Log) = StartNode("--roles", "worker", "--port", "0", "--seeds", seed, "--log-level", "INFO");
        var (_, w2Log) = StartNode("--roles", "worker", "--port", "0", "--seeds", seed, "--log-level", "INFO");

        var exited = await Task.Run(() => ps.WaitForExit(TimeSpan.FromSeconds(150)));
        string log;
        lock (psLog) log = psLog.ToString();
        // Akka.NET's singleton proxies warned at every start that they had not found their singleton "after 30 seconds"
        // (akkadotnet/akka.net#8568); base.conf turns that check off, and no node may print it.
        foreach (var nodeLog in new[] { psLog, w1Log, w2Log })
            lock (nodeLog) Assert.DoesNotContain("failed to find an associated singleton", nodeLog.ToString());
        Assert.True(exited, "the ps node did not finish the job in time:\n" + log);
        Assert.True(ps.ExitCode == 0, $"ps node exited {ps.ExitCode}:\n{log}");
        // The tensors crossed the data plane (on by default), not only Akka.Remote: the ps connected to both workers.
        Assert.True(log.Split('\n').Count(l => l.Contains("data plane: connected to", StringComparison.Ordinal)) >= 2, "no data-plane connections:\n" + log);
        // On one machine the payloads went through the shared-memory ring under those connections (on by default).
        Assert.True(log.Split('\n').Count(l => l.Contains("data plane: connected to", StringComparison.Ordinal) && l.Contains("shared-memory ring", StringComparison.Ordinal)) >= 2,
            "the data-plane connections stayed plain TCP:\n" + log);

        var summaryPath = Path.Combine(outRoot, "mp-penguins", "summary.json");
        Assert.True(File.Exists(summaryPath), "no summary.json:\n" + log);
        var summary = JsonDocument.Parse(File.ReadAllText(summaryPath)).RootElement;
        Assert.Equal("cluster", summary.GetProperty("mode").GetString());
        Assert.Equal(2, summary.GetProperty("workers").GetInt32());
        Assert.True(File.Exists(Path.Combine(outRoot, "mp-penguins", "checkpoint.dtck")));

        var local = await LocalMode.RunAsync(job, 2, new PresetDataLoader());
        Assert.Equal(local.ParametersSha256, summary.GetProperty("parameters_sha256").GetString());
        Assert.Equal(local.TestAccuracy, summary.GetProperty("test_accuracy").GetDouble(), 12);

        // The ps node left the cluster when its job was done: the workers close their data-plane connection to it
        // as a normal event, without the warning kept for a node that was lost.
        foreach (var workerLog in new[] { w1Log, w2Log })
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            string text;
            while (!(text = Text(workerLog)).Contains("data plane: closed the connection", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
                await Task.Delay(100);
            Assert.Contains("(the member left the cluster)", text);
            Assert.DoesNotContain("data plane: dropped the connection", text);
        }
        // The ps node closed its own connections while it left: no warning there either.
        Assert.DoesNotContain("data plane: dropped the connection", log);
    }

    private static string Text(StringBuilder log)
    {
        lock (log) return log.ToString();
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try
            {
                if (!p.HasExited) { p.Kill(entireProcessTree: true); p.WaitForExit(5000); }
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        _tmp.Dispose();
    }
}
