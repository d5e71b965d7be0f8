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
        var roles = new System.Collections.Concurrent.ConcurrentQueue<string>();
        ps.System.ActorOf(Akka.Actor.Props.Create(() => new MemberRoles(roles)));

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(["submit", "--seed", ps.Address.ToString(), "--epochs", "20", "--seed", "5"], stdout, stderr);
        Assert.True(exit == 0, stderr.ToString());
        // The submitting client talked to the cluster through a ClusterClient: it never became a member.
        Assert.Contains("worker", roles); // the watcher saw the members that are there
        Assert.DoesNotContain("client", roles);
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
        var job = Commands.JobFile.Read(Path.Combine(jobDir, "job.json"));
        Assert.Equal((20, 5ul, jobDir), (job.Epochs, job.Seed, job.OutputDirectory));
    }

    [Fact]
    public async Task A_submitted_job_resumed_from_its_checkpoint_ends_where_the_uninterrupted_one_does()
    {
        using var tmp = new TempFolder();
        var loader = new PresetDataLoader();
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 2), ClusterConfig.Load("akka.loglevel = WARNING"),
            loader, new CoordinatorSettings(MinimumWorkers: 2, OutputRoot: tmp.Path));
        await using var worker = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [ps.Address.ToString()], Workers: 2), ClusterConfig.Load(), loader);
        await Task.WhenAll(ps.WhenUp(), worker.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));
        async Task<(int Exit, string Out, string Err)> Submit(params string[] args)
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var exit = await Program.RunAsync(["submit", "--seed", ps.Address.ToString(), "--seed", "5", "--mode", "local-sgd", "--local-steps", "3", .. args], stdout, stderr);
            return (exit, stdout.ToString(), stderr.ToString());
        }
        static string Sha(string output) => output.Split('\n').Single(l => l.StartsWith("parameters sha256 ", StringComparison.Ordinal))["parameters sha256 ".Length..].Trim();
        static string Checkpoint(string output) => output.Split('\n').Single(l => l.StartsWith("checkpoint ", StringComparison.Ordinal))["checkpoint ".Length..].Replace(" (on the ps node)", "").Trim();

        var full = await Submit("--epochs", "12");
        Assert.True(full.Exit == 0, full.Err);
        var half = await Submit("--epochs", "6");
        Assert.True(half.Exit == 0, half.Err);
        var resumed = await Submit("--epochs", "12", "--resume", Checkpoint(half.Out));
        Assert.True(resumed.Exit == 0, resumed.Err);
        Assert.Contains("epoch 12/12", resumed.Out);
        Assert.DoesNotContain("epoch 6/12", resumed.Out); // it went on from epoch 7
        Assert.Equal(Sha(full.Out), Sha(resumed.Out));

        // A checkpoint that is already as far as the job asks, and one that does not exist on the ps node: exit 1, named.
        var done = await Submit("--epochs", "6", "--resume", Checkpoint(half.Out));
        Assert.Equal(1, done.Exit);
        Assert.Contains("already completed 6 epochs and the job asks for 6", done.Err);
        var missing = Path.Combine(tmp.Path, "no-such.dtck");
        var absent = await Submit("--epochs", "12", "--resume", missing);
        Assert.Equal(1, absent.Exit);
        Assert.Contains(missing, absent.Err);
    }

    // Every role of every member the ps node's cluster has seen join.
    private sealed class MemberRoles : Akka.Actor.ReceiveActor
    {
        public MemberRoles(System.Collections.Concurrent.ConcurrentQueue<string> roles)
        {
            Receive<Akka.Cluster.ClusterEvent.IMemberEvent>(e => { foreach (var r in e.Member.Roles) roles.Enqueue(r); });
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(Akka.Cluster.ClusterEvent.IMemberEvent));
        }
    }

    [Fact]
    public async Task Node_resume_needs_the_job_it_continues_and_a_checkpoint_that_fits_it()
    {
        using var tmp = new TempFolder();
        var stderr = new StringWriter();
        Assert.Equal(2, await Program.RunAsync(["node", "--roles", "seed,ps", "--resume", "x.dtck"], new StringWriter(), stderr));
        Assert.Contains("--resume continues the job of --preset/--job", stderr.ToString());
        stderr = new StringWriter();
        var missing = Path.Combine(tmp.Path, "none.dtck");
        Assert.Equal(2, await Program.RunAsync(["node", "--roles", "seed,ps", "--preset", "penguins", "--resume", missing], new StringWriter(), stderr));
        Assert.Contains($"--resume {missing}: no such checkpoint file", stderr.ToString());
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
