using System.Text.Json;
using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Settings;

namespace DistTrain.Cli.Tests;

public class SubmitCommandTests
{
    [Fact]
    public async Task Submit_sends_a_job_to_a_running_cluster_and_the_ps_node_writes_the_results()
    {
        using var tmp = new TempFolder();
        var loader = new PresetDataLoader();
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 1), ClusterConfig.Load("akka.loglevel = WARNING"),
            loader, new CoordinatorSettings(MinimumWorkers: 1, OutputRoot: tmp.Path));
        ps.System.ActorOf(Commands.ResultWriter.Props(ps.Coordinator, TextWriter.Null), "result-writer");
        await using var worker = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [ps.Address.ToString()]), ClusterConfig.Load(), loader);
        await Task.WhenAll(ps.WhenUp(), worker.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(["submit", "--seed", ps.Address.ToString(), "--epochs", "20", "--seed", "5"], stdout, stderr);
        Assert.True(exit == 0, stderr.ToString());
        var output = stdout.ToString();
        Assert.Contains("epoch 20/20", output);
        Assert.Contains("test accuracy", output);

        // The ps node's result writer put the summary next to the checkpoint, in <out>/<job id>/.
        var jobDir = Directory.GetDirectories(tmp.Path).Single();
        Assert.StartsWith("penguins-5-", Path.GetFileName(jobDir));
        for (var i = 0; i < 100 && !File.Exists(Path.Combine(jobDir, "summary.json")); i++) await Task.Delay(50);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(jobDir, "summary.json"))).RootElement;
        Assert.Equal("cluster", summary.GetProperty("mode").GetString());
        Assert.Equal(5ul, summary.GetProperty("seed").GetUInt64());
        Assert.Contains(summary.GetProperty("parameters_sha256").GetString()!, output);
        Assert.True(File.Exists(Path.Combine(jobDir, "checkpoint.dtck")));
    }

    [Fact]
    public async Task Submit_without_a_seed_address_is_a_usage_error()
    {
        Environment.SetEnvironmentVariable("DISTTRAIN_SEEDS", null);
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(["submit", "--epochs", "1"], new StringWriter(), stderr);
        Assert.Equal(2, exit);
        Assert.Contains("--seed akka.tcp://disttrain@HOST:PORT is required", stderr.ToString());
    }
}
