using System.Diagnostics;
using Xunit.Abstractions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// scripts/netns-partition.sh: as root with iproute2 it must pass (a cut-off worker is downed, training goes
/// on, the healed worker rejoins); anywhere else it must say why it skipped -- never pass silently.
/// </summary>
[Collection(MultiProcessCollection.Name)]
public sealed class NetnsPartitionScriptTests(ITestOutputHelper output)
{
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "scripts", "netns-partition.sh"))) return dir.FullName;
        throw new InvalidOperationException($"no scripts/netns-partition.sh above {AppContext.BaseDirectory}");
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(150)))
        {
            p.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"{file} did not finish within 150 s:\n{stdout.Result}{stderr.Result}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static bool CanUseNamespaces()
    {
        try
        {
            return Run("id", "-u").Output.Trim() == "0" && (File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip"));
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    [Fact]
    public void Partition_script_downs_the_cut_off_worker_keeps_training_and_takes_it_back_after_the_heal_or_says_why_it_skipped()
    {
        var script = Path.Combine(RepoRoot(), "scripts", "netns-partition.sh");
        var dll = Path.Combine(AppContext.BaseDirectory, "disttrain.dll");
        var (code, text) = Run("bash", script, "--disttrain", dll);
        output.WriteLine(text);
        if (text.StartsWith("SKIP: ", StringComparison.Ordinal))
        {
            // Only acceptable where namespaces really cannot be used, and the reason must be given.
            Assert.False(CanUseNamespaces() && !text.Contains("not permitted", StringComparison.Ordinal), "the script skipped although root and ip are available:\n" + text);
            Assert.True(text.TrimEnd().Length > "SKIP: ".Length + 10, "the skip gives no reason");
            Assert.Equal(0, code);
            return;
        }
        Assert.True(code == 0, $"exit code {code}:\n{text}");
        Assert.Contains("RESULT: PASS", text);
        Assert.DoesNotContain("FAIL  ", text);
    }
}
