using System.Diagnostics;
using DistTrain.Cli.Commands;

namespace DistTrain.Cli.Tests;

/// <summary>How a `disttrain node` process ends when it is told to stop (compose, systemd and scripts send SIGTERM).</summary>
[Collection(MultiProcessCollection.Name)]
public sealed class NodeSignalTests : IDisposable
{
    private readonly NodeProcesses _nodes = new();

    public void Dispose() => _nodes.Dispose();

    [Fact]
    public void A_stop_request_after_the_node_disposed_its_token_source_is_ignored()
    {
        var stop = new CancellationTokenSource();
        NodeCommands.RequestStop(stop);
        Assert.True(stop.IsCancellationRequested);
        stop.Dispose();
        NodeCommands.RequestStop(stop); // a late SIGTERM during shutdown: threw ObjectDisposedException and aborted the node
    }

    [Fact]
    public async Task A_node_sent_SIGTERM_leaves_the_cluster_and_exits_with_code_0()
    {
        var port = NodeProcesses.FreePort();
        var node = _nodes.Start("seed", "--roles", "seed", "--port", port.ToString(), "--seeds", $"akka.tcp://disttrain@127.0.0.1:{port}");
        await _nodes.WaitFor(node, "node up", TimeSpan.FromSeconds(60));

        using (var kill = Process.Start("kill", ["-TERM", node.Process.Id.ToString()])) await kill.WaitForExitAsync();

        Assert.True(node.Process.WaitForExit(TimeSpan.FromSeconds(30)), "the node did not exit after SIGTERM:\n" + _nodes.AllLogs());
        node.Process.WaitForExit(); // without a timeout it also waits for the redirected output to be read
        Assert.True(node.Process.ExitCode == 0, $"exit code {node.Process.ExitCode}:\n{_nodes.AllLogs()}");
        Assert.Contains("leaving the cluster", node.Log);
        Assert.DoesNotContain("Unhandled exception", node.Log);
    }
}
