using DistTrain.Cli.Commands;
using DistTrain.Cluster.Jobs;

namespace DistTrain.Cli.Tests;

public class CommunicationOptionsTests
{
    private static TrainingJob Build(params string[] args) =>
        JobOptions.Build(CommandLine.Parse("train", args, JobOptions.ValueOptions, JobOptions.Flags));

    [Fact]
    public void Mode_staleness_and_compression_options_end_up_in_the_job()
    {
        Assert.Null(Build().Communication); // the default job stays as it was
        var job = Build("--mode", "ssp", "--staleness", "1", "--compress", "fp16");
        Assert.Equal(new CommunicationSpec(TrainingMode.Ssp, Staleness: 1, Compression: GradientCompression.Fp16), job.Communication);
        Assert.Equal(new CommunicationSpec(TrainingMode.LocalSgd, LocalSteps: 8), Build("--mode", "local-sgd", "--local-steps", "8").Communication);
    }

    [Fact]
    public void Options_that_do_not_fit_the_mode_are_usage_errors_naming_the_option()
    {
        Assert.Contains("--staleness 3 needs --mode ssp", Assert.Throws<UsageException>(() => Build("--staleness", "3")).Message);
        Assert.Contains("--local-steps", Assert.Throws<UsageException>(() => Build("--mode", "async", "--local-steps", "2")).Message);
        Assert.Contains("unknown mode 'gossip'", Assert.Throws<UsageException>(() => Build("--mode", "gossip")).Message);
        Assert.Contains("unknown compression 'int8'", Assert.Throws<UsageException>(() => Build("--compress", "int8")).Message);
    }

    [Fact]
    public void Stale_compensation_is_lookahead_unless_chosen_and_only_for_async_or_ssp()
    {
        Assert.Equal(StalenessCompensation.Lookahead, Build("--mode", "async").Communication!.Compensation);
        Assert.Equal(new CommunicationSpec(TrainingMode.Ssp, Compensation: StalenessCompensation.LearningRate),
            Build("--mode", "ssp", "--stale-compensation", "lr").Communication);
        Assert.Equal(StalenessCompensation.None, Build("--mode", "async", "--stale-compensation", "none").Communication!.Compensation);
        Assert.Contains("--stale-compensation lr needs --mode async or ssp", Assert.Throws<UsageException>(() => Build("--stale-compensation", "lr")).Message);
        Assert.Contains("unknown staleness compensation 'magic'",
            Assert.Throws<UsageException>(() => Build("--mode", "async", "--stale-compensation", "magic")).Message);
    }

    [Fact]
    public void A_job_file_carries_the_stale_compensation()
    {
        using var tmp = new TempFolder();
        var job = Build("--mode", "async", "--stale-compensation", "lr");
        var json = JobFile.ToJson(job);
        Assert.Contains("\"compensation\": \"learning_rate\"", json);
        File.WriteAllText(tmp.File("job.json"), json);
        Assert.Equal(job.Communication, JobFile.Read(tmp.File("job.json")).Communication);
        // A job file written before the option existed gets the default.
        var old = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        Assert.True(old["communication"]!.AsObject().Remove("compensation"));
        File.WriteAllText(tmp.File("old.json"), old.ToJsonString());
        Assert.Equal(StalenessCompensation.Lookahead, JobFile.Read(tmp.File("old.json")).Communication!.Compensation);
    }

    [Fact]
    public void Linear_scaling_multiplies_the_rate_by_batch_over_reference_and_adds_a_warm_up()
    {
        var job = Build("--preset", "fashion-mlp", "--batch-size", "512", "--lr", "0.001", "--lr-scale-from-batch", "128", "--warmup-steps", "50");
        Assert.Equal(0.004f, job.Optimizer.LearningRate, 6);
        Assert.Equal(50, job.Optimizer.Schedule!.WarmupSteps);
    }

    [Fact]
    public void A_job_file_carries_the_communication_options_in_snake_case()
    {
        using var tmp = new TempFolder();
        var job = Build("--mode", "local-sgd", "--local-steps", "3", "--compress", "bf16");
        var json = JobFile.ToJson(job);
        Assert.Contains("\"communication\"", json);
        Assert.Contains("\"local_sgd\"", json);
        Assert.Contains("\"local_steps\": 3", json);
        File.WriteAllText(tmp.File("job.json"), json);
        Assert.Equal(job.Communication, JobFile.Read(tmp.File("job.json")).Communication);

        File.WriteAllText(tmp.File("bad.json"), json.Replace("\"local_steps\": 3", "\"local_steps\": 0"));
        Assert.Contains("local steps must be >= 1", Assert.Throws<UsageException>(() => JobFile.Read(tmp.File("bad.json"))).Message);
    }

    [Fact]
    public async Task Train_in_ssp_mode_with_compressed_gradients_learns_the_penguins_and_reports_staleness()
    {
        using var tmp = new TempFolder();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(["train", "--out", tmp.Path, "--workers", "2", "--epochs", "30", "--mode", "ssp", "--staleness", "1",
            "--compress", "bf16"], stdout, stderr);
        Assert.True(exit == 0, stderr.ToString());
        var output = stdout.ToString();
        Assert.Contains("ssp (staleness <= 1), bf16 gradients with error feedback", output);
        Assert.Contains("epoch 30: ", output);
        Assert.Contains("(bound 1)", output);
        var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(tmp.File("summary.json"))).RootElement;
        Assert.True(summary.GetProperty("test_accuracy").GetDouble() >= 0.9);
    }
}
