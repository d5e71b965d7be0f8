using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace DistTrain.Cli.Tests;

/// <summary>
/// `disttrain node` processes for multi-process tests: free loopback ports, every output line kept with
/// the time it arrived (recovery times are measured from them), all processes killed on dispose.
/// </summary>
internal sealed class NodeProcesses : IDisposable
{
    private readonly List<Node> _nodes = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public TimeSpan Now => _clock.Elapsed;

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public sealed class Node(string name, Process process)
    {
        private readonly List<(TimeSpan At, string Line)> _lines = [];

        public string Name { get; } = name;

        public Process Process { get; } = process;

        public void Add(TimeSpan at, string line)
        {
            lock (_lines) _lines.Add((at, line));
        }

        public string Log
        {
            get
            {
                lock (_lines) return string.Join('\n', _lines.Select(l => $"[{l.At.TotalSeconds,7:0.000}] {l.Line}"));
            }
        }

        /// <summary>The first line matching <paramref name="pattern"/> and when it arrived, or null.</summary>
        public (TimeSpan At, Match Match)? Find(string pattern, TimeSpan after = default)
        {
            var re = new Regex(pattern);
            lock (_lines)
            {
                foreach (var (at, line) in _lines)
                {
                    if (at < after) continue;
                    var m = re.Match(line);
                    if (m.Success) return (at, m);
                }
            }
            return null;
        }
    }

    public Node Start(string name, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "disttrain.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("node");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DISTTRAIN_BLAS_THREADS"] = "1";
        if (Environment.GetEnvironmentVariable("DISTTRAIN_TEST_NODE_LOG_LEVEL") is { Length: > 0 } level) psi.Environment["DISTTRAIN_LOG_LEVEL"] = level;
        var p = new Process { StartInfo = psi };
        var node = new Node(name, p);
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) node.Add(_clock.Elapsed, e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) node.Add(_clock.Elapsed, "ERR " + e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        lock (_nodes) _nodes.Add(node);
        return node;
    }

    /// <summary>Waits (polling every 50 ms) until <paramref name="node"/> printed a line matching the pattern.</summary>
    public async Task<(TimeSpan At, Match Match)> WaitFor(Node node, string pattern, TimeSpan timeout, TimeSpan after = default)
    {
        var deadline = _clock.Elapsed + timeout;
        while (_clock.Elapsed < deadline)
        {
            if (node.Find(pattern, after) is { } hit) return hit;
            if (node.Process.HasExited && node.Find(pattern, after) is null)
                throw new Xunit.Sdk.XunitException($"{node.Name} exited ({node.Process.ExitCode}) before printing /{pattern}/:\n{AllLogs()}");
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"{node.Name} did not print /{pattern}/ within {timeout.TotalSeconds:0} s:\n{AllLogs()}");
    }

    public string AllLogs()
    {
        var sb = new StringBuilder();
        lock (_nodes)
            foreach (var n in _nodes) sb.Append("---- ").Append(n.Name).Append('\n').Append(n.Log).Append('\n');
        return sb.ToString();
    }

    public void Dispose()
    {
        lock (_nodes)
        {
            foreach (var n in _nodes)
            {
                try
                {
                    if (!n.Process.HasExited) { n.Process.Kill(entireProcessTree: true); n.Process.WaitForExit(5000); }
                }
                catch (InvalidOperationException) { }
                n.Process.Dispose();
            }
        }
    }
}

/// <summary>
/// Tests that start several `disttrain node` processes run one class at a time, after the parallel tests:
/// run side by side on two cores they starve each other's heartbeats and the failure detector fires on live
/// nodes.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MultiProcessCollection
{
    public const string Name = "multi-process";
}
