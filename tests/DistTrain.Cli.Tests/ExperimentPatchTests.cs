using System.Diagnostics;

namespace DistTrain.Cli.Tests;

/// <summary>
/// scripts/bench_mp_ceiling.sh applies scripts/experiments/no-payload-copy.patch to a copy of the checkout to measure
/// the ceiling of a zero-copy data plane (docs/benchmarks.md). A change to the lines it patches must regenerate it,
/// or the documented command stops working; this test says so the day it happens.
/// </summary>
public sealed class ExperimentPatchTests
{
    [Fact]
    public void The_no_payload_copy_experiment_still_applies_to_this_tree()
    {
        var root = RepoRoot();
        var psi = new ProcessStartInfo("git") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "apply", "--check", "scripts/experiments/no-payload-copy.patch" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd() + p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "git apply --check did not finish within 30 s");
        Assert.True(p.ExitCode == 0,
            $"scripts/experiments/no-payload-copy.patch no longer applies ({err.Trim()}); make the same edits by hand on the current " +
            "WireFormat.cs and SharedMemoryRing.cs and regenerate it with `git diff > scripts/experiments/no-payload-copy.patch`");
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "scripts", "experiments", "no-payload-copy.patch"))) return dir.FullName;
        throw new InvalidOperationException($"no scripts/experiments/no-payload-copy.patch above {AppContext.BaseDirectory}");
    }
}
