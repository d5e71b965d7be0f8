using Akka.Actor;
using DistTrain.Cluster.Hosting;

namespace DistTrain.Cluster.Tests.Hosting;

public class InlineDispatcherTests
{
    /// <summary>Records the thread each message is handled on, and whether two handlers ever overlapped.</summary>
    private sealed class ThreadRecorder : ReceiveActor
    {
        public ThreadRecorder(List<int> threads, int[] overlaps)
        {
            var busy = 0;
            Receive<int>(_ =>
            {
                if (Interlocked.Exchange(ref busy, 1) != 0) Interlocked.Increment(ref overlaps[0]);
                lock (threads) threads.Add(Environment.CurrentManagedThreadId);
                Thread.SpinWait(200);
                Volatile.Write(ref busy, 0);
            });
        }
    }

    private static List<int> SendFromOwnThread(ActorSystem system, string name, int messages, int[] overlaps, out int senderThread,
        string? dispatcher = null, bool asDataPlaneReceiveThread = false)
    {
        var threads = new List<int>();
        var props = Props.Create(() => new ThreadRecorder(threads, overlaps));
        var actor = system.ActorOf(dispatcher is null ? props : props.WithDispatcher(dispatcher), name);
        // Let the actor finish starting first: while its mailbox is still busy with start-up (another thread),
        // a message is queued behind that run rather than handled on its sender's thread (CI saw all 20 so).
        actor.Tell(-1);
        var warm = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < warm)
        {
            lock (threads) if (threads.Count == 1) break;
            Thread.Sleep(1);
        }
        Thread.Sleep(50);
        lock (threads) threads.Clear();
        var id = 0;
        var sender = new Thread(() =>
        {
            if (asDataPlaneReceiveThread) InlineDispatcher.MarkReceiveThread();
            id = Environment.CurrentManagedThreadId;
            for (var i = 0; i < messages; i++) actor.Tell(i);
        });
        sender.Start();
        sender.Join();
        senderThread = id;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            lock (threads) if (threads.Count == messages) break;
            Thread.Yield();
        }
        return threads;
    }

    [Fact]
    public void Local_mode_handles_the_parameter_servers_messages_on_the_senders_thread_and_a_workers_on_the_pool()
    {
        using var system = ActorSystem.Create("inline-test", LocalMode.Configuration());
        var overlaps = new int[1];
        var ps = SendFromOwnThread(system, TrainingTopology.ParameterServerName, 20, overlaps, out var psSender);
        Assert.Equal(20, ps.Count);
        Assert.All(ps, t => Assert.Equal(psSender, t));
        var worker = SendFromOwnThread(system, "worker-1", 20, overlaps, out var workerSender);
        Assert.Equal(20, worker.Count);
        Assert.DoesNotContain(workerSender, worker); // a pool thread, never the (non-pool) sender
        Assert.Equal(0, overlaps[0]);
    }

    [Fact]
    public void A_ps_node_deploys_the_parameter_server_coordinator_and_ps_proxy_inline_and_not_its_workers()
    {
        var node = ClusterNode.NodeConfig(new DistTrain.Cluster.Settings.NodeSettings(["seed", "ps", "worker"], Port: 0), Akka.Configuration.Config.Empty);
        using var system = ActorSystem.Create("inline-test-3", Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(node));
        var deployer = ((ExtendedActorSystem)system).Provider.Deployer;
        string? Dispatcher(string path) => deployer.Lookup(ActorPath.Parse($"akka://inline-test-3/user/{path}"))?.Dispatcher;

        Assert.Equal("disttrain-inline-dispatcher", Dispatcher($"{TrainingTopology.ParameterServerName}/singleton"));
        Assert.Equal("disttrain-inline-dispatcher", Dispatcher($"{TrainingTopology.CoordinatorName}/singleton"));
        Assert.NotEqual("disttrain-inline-dispatcher", Dispatcher("worker-1"));
        var overlaps = new int[1];
        var proxy = SendFromOwnThread(system, ClusterNode.ParameterServerProxyName, 20, overlaps, out var sender);
        Assert.Equal(20, proxy.Count);
        Assert.All(proxy, t => Assert.Equal(sender, t));
    }

    [Fact]
    public void A_worker_nodes_worker_runs_what_a_data_plane_thread_delivers_on_that_thread_and_anything_else_on_the_pool()
    {
        var node = ClusterNode.NodeConfig(new DistTrain.Cluster.Settings.NodeSettings(["worker"], Port: 0), Akka.Configuration.Config.Empty);
        using var system = ActorSystem.Create("inline-test-4", Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = local").WithFallback(node));
        var overlaps = new int[1];
        // A step's shard arrives on the data-plane thread that reads the ps's connection: computed right there.
        var fromDataPlane = SendFromOwnThread(system, "worker-1", 20, overlaps, out var receiveThread, ClusterNode.WorkerDispatcherName, asDataPlaneReceiveThread: true);
        Assert.Equal(20, fromDataPlane.Count);
        Assert.All(fromDataPlane, t => Assert.Equal(receiveThread, t));
        // PrepareJob and the rest come through Akka.Remote's threads: handed to the pool, never run on the sender's.
        var fromElsewhere = SendFromOwnThread(system, "worker-2", 20, overlaps, out var otherThread, ClusterNode.WorkerDispatcherName);
        Assert.Equal(20, fromElsewhere.Count);
        Assert.DoesNotContain(otherThread, fromElsewhere);
        Assert.Equal(0, overlaps[0]);
    }

    [Fact]
    public void Only_a_node_with_one_worker_and_without_the_ps_role_runs_its_worker_on_the_data_plane_threads()
    {
        // On a ps node the coordinator runs inline on those threads: an inline local worker would compute its whole
        // gradient inside the coordinator's send loop, before the other workers got their shards. With two workers
        // on a node, both shards come on one connection: the second would wait while the first computed.
        Assert.Equal(ClusterNode.WorkerDispatcherName, ClusterNode.WorkerDispatcher(new DistTrain.Cluster.Settings.NodeSettings(["worker"], Port: 0)));
        Assert.Null(ClusterNode.WorkerDispatcher(new DistTrain.Cluster.Settings.NodeSettings(["worker"], Port: 0, Workers: 2)));
        Assert.Null(ClusterNode.WorkerDispatcher(new DistTrain.Cluster.Settings.NodeSettings(["seed", "ps", "worker"], Port: 0)));
        Assert.Null(ClusterNode.WorkerDispatcher(new DistTrain.Cluster.Settings.NodeSettings(["ps", "worker"], Port: 0)));
    }

    [Fact]
    public void An_unknown_inline_when_is_refused_with_the_values_it_takes()
    {
        using var system = ActorSystem.Create("inline-test-5", Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = local"));
        var prerequisites = ((ExtendedActorSystem)system).Dispatchers.Prerequisites;
        var e = Assert.Throws<Akka.Configuration.ConfigurationException>(() =>
            new InlineDispatcherConfigurator(Akka.Configuration.ConfigurationFactory.ParseString("id = w, inline-when = sometimes"), prerequisites));
        Assert.Contains("always or data-plane-thread", e.Message);
        Assert.Contains("sometimes", e.Message);
    }

    [Fact]
    public void An_inline_actor_told_from_two_threads_at_once_still_handles_one_message_at_a_time()
    {
        using var system = ActorSystem.Create("inline-test-2", LocalMode.Configuration());
        var threads = new List<int>();
        var overlaps = new int[1];
        var actor = system.ActorOf(Props.Create(() => new ThreadRecorder(threads, overlaps)), TrainingTopology.CoordinatorName);
        using var start = new ManualResetEventSlim();
        var senders = new Thread[2];
        for (var s = 0; s < senders.Length; s++)
        {
            senders[s] = new Thread(() =>
            {
                start.Wait();
                for (var i = 0; i < 500; i++) actor.Tell(i);
            });
            senders[s].Start();
        }
        start.Set();
        foreach (var t in senders) t.Join();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            lock (threads) if (threads.Count == 1000) break;
            Thread.Yield();
        }
        Assert.Equal(1000, threads.Count);
        Assert.Equal(0, overlaps[0]);
    }
}
