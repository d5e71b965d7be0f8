using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using DistTrain.Cluster.Transport;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;

namespace DistTrain.Benchmarks;

/// <summary>
/// What one multi-process step's messages cost without any training: for a parameter vector the size of
/// the W2 MLP's (235,146 floats = 0.94 MB), the parameter server's <see cref="ComputeGradients"/> out and a
/// worker's <see cref="GradientsComputed"/> back.
/// <list type="bullet">
/// <item>memcpy of the payload (the floor of any copy);</item>
/// <item>the raw serializer (<see cref="TensorMessageSerializer"/>): encode and decode of each message;</item>
/// <item>a plain TCP socket on loopback: the same bytes there and back (the network floor);</item>
/// <item>Akka.Remote with the cluster's serializers and frame limit (cluster-config/base.conf, provider
/// remote): a request/reply round trip to 1 peer, and to 2 peers at once (the parameter server's pattern
/// with 2 workers), with the full payload and with an empty one (the per-message latency).</item>
/// </list>
/// All systems live in this one process (each with its own remoting port on 127.0.0.1), so they share its
/// thread pool and GC: a lower bound on what separate processes pay. Run with the CLI's GC setting
/// (<c>DOTNET_GCLOHThreshold=0x1000000</c>) for comparable numbers. Prints a markdown table of medians.
/// </summary>
internal static class WireBench
{
    private sealed record Options(int Floats, int Rounds, int Warmup, int SampleIds, string AkkaOverrides);

    public static int Run(string[] args)
    {
        Options o;
        try
        {
            var parsed = Parse(args);
            if (parsed is null) return 0;
            o = parsed;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"wire: {e.Message} (try --help)");
            return 2;
        }

        var parameters = new float[o.Floats];
        var gradient = new float[o.Floats];
        var rng = new Random(1);
        for (var i = 0; i < parameters.Length; i++) { parameters[i] = (float)rng.NextDouble(); gradient[i] = (float)rng.NextDouble(); }
        var ids = new int[o.SampleIds];
        for (var i = 0; i < ids.Length; i++) ids[i] = i * 7;
        var request = new ComputeGradients("bench-mlp", 1, 1, 0, 1, 0, ids, 42, parameters);
        var reply = new GradientsComputed("bench-mlp", 1, 1, 1, 0, "worker-1", gradient, ids.Length, 1.5, 3);
        var bytes = TensorMessageSerializer.SizeOf(request);

        Console.WriteLine($"Wire costs for {o.Floats:N0} floats ({bytes / 1e6:0.00} MB per message); median over {o.Rounds} rounds after {o.Warmup} warm-up rounds; " +
                          $"GC LOH threshold {AppContext.GetData("System.GC.LOHThreshold") ?? Environment.GetEnvironmentVariable("DOTNET_GCLOHThreshold") ?? "default"}.");
        Console.WriteLine();
        Console.WriteLine("| what | µs (median) | MB/s | CPU / wall (all threads) | collections per round, gen 0 / 1 / 2 |");
        Console.WriteLine("|---|--:|--:|--:|---|");
        void Row(string what, double us, double? movedBytes, string gcs = " | ")
        {
            var rate = movedBytes is { } b ? (b / (us * 1e-6) / 1e6).ToString("N0", CultureInfo.InvariantCulture) : "";
            Console.WriteLine($"| {what} | {us.ToString("N1", CultureInfo.InvariantCulture)} | {rate} | {gcs} |");
        }
        void RemoteRow(string what, (double Us, string Gcs) r, double? movedBytes) => Row(what, r.Us, movedBytes, r.Gcs);

        var copy = new float[o.Floats];
        Row("memcpy of the payload (float[] → float[])", Median(o, () => parameters.AsSpan().CopyTo(copy)), o.Floats * 4.0);

        var encoded = TensorMessageSerializer.Encode(request);
        var encodedReply = TensorMessageSerializer.Encode(reply);
        Row("encode ComputeGradients (raw serializer, allocates the byte[])", Median(o, () => TensorMessageSerializer.Encode(request)), bytes);
        Row("decode ComputeGradients (allocates the float[])", Median(o, () => TensorMessageSerializer.Decode(encoded, TensorMessageSerializer.ComputeGradientsManifest)), bytes);
        Row("encode GradientsComputed", Median(o, () => TensorMessageSerializer.Encode(reply)), bytes);
        Row("decode GradientsComputed", Median(o, () => TensorMessageSerializer.Decode(encodedReply, TensorMessageSerializer.GradientsComputedManifest)), bytes);

        Row("plain TCP on loopback: request bytes there, reply bytes back", TcpRoundTrip(o, encoded.Length, encodedReply.Length), encoded.Length + encodedReply.Length);

        if (o.AkkaOverrides.Length > 0) Console.WriteLine($"<!-- Akka overrides: {o.AkkaOverrides.Replace('\n', ';')} -->");
        using (var remote = new RemoteRig(2, o.AkkaOverrides))
        {
            RemoteRow("Akka.Remote round trip, 1 peer, full payload", remote.RoundTrip(o, 1, request, reply), 2.0 * bytes);
            RemoteRow("Akka.Remote round trip, 2 peers at once, full payload", remote.RoundTrip(o, 2, request, reply), 4.0 * bytes);
            var emptyRequest = request with { Parameters = [] };
            var emptyReply = reply with { Gradient = [] };
            RemoteRow("Akka.Remote round trip, 1 peer, empty payload", remote.RoundTrip(o, 1, emptyRequest, emptyReply), null);
            RemoteRow("Akka.Remote round trip, 2 peers at once, empty payload", remote.RoundTrip(o, 2, emptyRequest, emptyReply), null);
        }
        using (var plane = new RemoteRig(2, o.AkkaOverrides, dataPlane: true))
        {
            RemoteRow("data plane round trip (DataPlane.TrySend), 1 peer, full payload", plane.RoundTrip(o, 1, request, reply), 2.0 * bytes);
            RemoteRow("data plane round trip, 2 peers at once, full payload", plane.RoundTrip(o, 2, request, reply), 4.0 * bytes);
        }
        return 0;
    }

    private static double Median(Options o, Action action)
    {
        for (var i = 0; i < o.Warmup; i++) action();
        var us = new double[o.Rounds];
        for (var i = 0; i < us.Length; i++)
        {
            var t = Stopwatch.GetTimestamp();
            action();
            us[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }
        return MedianOf(us);
    }

    private static double MedianOf(double[] xs)
    {
        Array.Sort(xs);
        return xs.Length % 2 == 1 ? xs[xs.Length / 2] : (xs[xs.Length / 2 - 1] + xs[xs.Length / 2]) / 2;
    }

    /// <summary>Median time to send <paramref name="requestBytes"/> over a loopback socket and read <paramref name="replyBytes"/> back.</summary>
    private static double TcpRoundTrip(Options o, int requestBytes, int replyBytes)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(() =>
        {
            using var s = listener.AcceptSocket();
            s.NoDelay = true;
            var inBuf = new byte[requestBytes];
            var outBuf = new byte[replyBytes];
            for (var r = 0; r < o.Warmup + o.Rounds; r++)
            {
                ReadExactly(s, inBuf);
                s.Send(outBuf);
            }
        });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(IPAddress.Loopback, port);
        var request = new byte[requestBytes];
        var reply = new byte[replyBytes];
        var us = new double[o.Rounds];
        for (var r = 0; r < o.Warmup + o.Rounds; r++)
        {
            var t = Stopwatch.GetTimestamp();
            client.Send(request);
            ReadExactly(client, reply);
            if (r >= o.Warmup) us[r - o.Warmup] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }
        server.GetAwaiter().GetResult();
        return MedianOf(us);
    }

    private static void ReadExactly(Socket s, byte[] buffer)
    {
        var got = 0;
        while (got < buffer.Length)
        {
            var n = s.Receive(buffer, got, buffer.Length - got, SocketFlags.None);
            if (n == 0) throw new IOException($"the loopback peer closed after {got} of {buffer.Length} bytes");
            got += n;
        }
    }

    /// <summary>A driver system and <c>peers</c> echo systems, all with remoting on 127.0.0.1 and the cluster's serializer settings.</summary>
    private sealed class RemoteRig : IDisposable
    {
        private readonly ActorSystem _driver;
        private readonly List<ActorSystem> _peers = [];
        private readonly List<IActorRef> _echoes = [];

        public RemoteRig(int peers, string extra, bool dataPlane = false)
        {
            // The cluster's base.conf (serializers, bindings, 16 MiB frames, socket buffers) with plain remoting.
            var overrides = extra + """
                akka.actor.provider = remote
                akka.remote.dot-netty.tcp.hostname = "127.0.0.1"
                akka.remote.dot-netty.tcp.port = 0
                # Quiet: tearing the systems down at the end logs disassociations that mean nothing here.
                akka.loglevel = OFF
                akka.stdout-loglevel = OFF
                """;
            var env = new Dictionary<string, string?>();
            _driver = ActorSystem.Create(ClusterConfig.SystemName, ClusterConfig.Load(overrides, env));
            for (var i = 0; i < peers; i++)
            {
                var peer = ActorSystem.Create(ClusterConfig.SystemName, ClusterConfig.Load(overrides, env));
                _peers.Add(peer);
                peer.ActorOf(Props.Create(() => new Echo()), "echo");
                var address = ((ExtendedActorSystem)peer).Provider.DefaultAddress;
                _echoes.Add(_driver.ActorSelection($"{address}/user/echo").ResolveOne(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult());
            }
            if (!dataPlane) return;
            // Tensor messages over the data plane in both directions, connected before timing starts.
            var driverPlane = DataPlane.Start(_driver);
            var driverAddress = ((ExtendedActorSystem)_driver).Provider.DefaultAddress;
            foreach (var peer in _peers)
            {
                var plane = DataPlane.Start(peer);
                if (!driverPlane.ConnectAsync(((ExtendedActorSystem)peer).Provider.DefaultAddress).GetAwaiter().GetResult()
                    || !plane.ConnectAsync(driverAddress).GetAwaiter().GetResult())
                    throw new InvalidOperationException("the data plane did not connect");
            }
        }

        /// <summary>
        /// Median µs for sending <paramref name="request"/> to the first <paramref name="peers"/> echoes and getting every
        /// reply, and the garbage collections per round (warm-up included).
        /// </summary>
        public (double Us, string Gcs) RoundTrip(Options o, int peers, ComputeGradients request, GradientsComputed reply)
        {
            var done = new TaskCompletionSource<double[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            var targets = _echoes.GetRange(0, peers);
            int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            _driver.ActorOf(Props.Create(() => new Driver(targets, request, reply, o.Warmup, o.Rounds, done)));
            var us = done.Task.WaitAsync(TimeSpan.FromMinutes(5)).GetAwaiter().GetResult();
            double n = o.Warmup + o.Rounds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / wall.Elapsed.TotalMilliseconds;
            var gcs = string.Create(CultureInfo.InvariantCulture,
                $"{cpu:0.00} | {(GC.CollectionCount(0) - g0) / n:0.00} / {(GC.CollectionCount(1) - g1) / n:0.00} / {(GC.CollectionCount(2) - g2) / n:0.00}");
            return (MedianOf(us), gcs);
        }

        public void Dispose()
        {
            var all = new List<Task> { _driver.Terminate() };
            foreach (var p in _peers) all.Add(p.Terminate());
            Task.WaitAll([.. all], TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Through the data plane when the system runs one (as Wire.Send does), else through Akka.Remote.</summary>
    private static void Send(IActorContext context, IActorRef target, object message)
    {
        if (DataPlane.Find(context.System) is not { } plane || !plane.TrySend(target, message, context.Self)) target.Tell(message, context.Self);
    }

    /// <summary>A worker without the math: answers every request with the reply the driver gave it first.</summary>
    private sealed class Echo : ReceiveActor
    {
        private GradientsComputed? _reply;

        public Echo()
        {
            Receive<GradientsComputed>(r => { _reply = r; Sender.Tell("ok"); });
            Receive<ComputeGradients>(_ => Send(Context, Sender, _reply!));
        }
    }

    /// <summary>Sends the request to every target, waits for all replies, repeats; records each round's µs.</summary>
    private sealed class Driver : ReceiveActor
    {
        public Driver(List<IActorRef> targets, ComputeGradients request, GradientsComputed reply, int warmup, int rounds, TaskCompletionSource<double[]> done)
        {
            var us = new double[rounds];
            var round = -warmup - 1;
            var pending = 0;
            long start = 0;
            void Next()
            {
                if (round >= 0) us[round] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                round++;
                if (round == rounds)
                {
                    done.TrySetResult(us);
                    Context.Stop(Self);
                    return;
                }
                pending = targets.Count;
                start = Stopwatch.GetTimestamp();
                foreach (var t in targets) Send(Context, t, request);
            }
            var ready = 0;
            Receive<string>(_ =>
            {
                if (++ready == targets.Count) Next();
            });
            Receive<GradientsComputed>(_ =>
            {
                if (--pending == 0) Next();
            });
            // Each echo first learns the reply it should send back (one remote message each, not timed).
            foreach (var t in targets) t.Tell(reply);
        }
    }

    private static Options? Parse(string[] args)
    {
        int floats = 235_146, rounds = 200, warmup = 30, ids = 64;
        var akka = "";
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int NextInt() => int.Parse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--floats": floats = NextInt(); break;
                case "--rounds": rounds = NextInt(); break;
                case "--warmup": warmup = NextInt(); break;
                case "--sample-ids": ids = NextInt(); break;
                case "--akka": akka += Next() + "\n"; break;
                case "-h" or "--help":
                    Console.WriteLine("wire [--floats N (235146, the W2 MLP)] [--rounds N (200)] [--warmup N (30)] [--sample-ids N (64)] [--akka HOCON (extra settings for every system, repeatable)]");
                    Console.WriteLine("Serializer, loopback TCP and Akka.Remote costs of one step's messages; a markdown table.");
                    return null;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (floats < 0 || rounds < 1 || warmup < 0 || ids < 0) throw new ArgumentException("--floats, --warmup and --sample-ids must be >= 0, --rounds >= 1");
        return new Options(floats, rounds, warmup, ids, akka);
    }
}
