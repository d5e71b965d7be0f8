using Akka.Configuration;
using Akka.Dispatch;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// The worker actors' dispatcher on a cluster node: a mailbox scheduled from one of the data plane's receive
/// threads runs on that thread; one scheduled from anywhere else (Akka.Remote's threads, timers, the node
/// itself) goes to the .NET thread pool, as on the default dispatcher.
/// <para>
/// A synchronous step's <c>ComputeGradients</c> arrives on the data-plane thread that reads the parameter
/// server's connection. Handing it to the pool woke a second thread per step on each worker node before the
/// gradient math could start; now the receive thread computes the gradient and sends it back itself. It reads
/// nothing meanwhile, which costs nothing: the next message on that connection is the next step's, which
/// waits for this gradient. <c>PrepareJob</c>, which loads data for seconds, comes through Akka.Remote and
/// runs on the pool (unless it lands in a mailbox that a receive thread is running at that moment, which does
/// not happen at a job's start, when no tensor is in flight); Akka.Remote's own threads never run a worker.
/// </para>
/// </summary>
public sealed class DataPlaneInlineDispatcherConfigurator : MessageDispatcherConfigurator
{
    private readonly DataPlaneInlineDispatcher _dispatcher;

    public DataPlaneInlineDispatcherConfigurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites)
    {
        _dispatcher = new DataPlaneInlineDispatcher(this);
    }

    public override MessageDispatcher Dispatcher() => _dispatcher;
}

/// <summary>See <see cref="DataPlaneInlineDispatcherConfigurator"/>.</summary>
public sealed class DataPlaneInlineDispatcher : MessageDispatcher
{
    [ThreadStatic] private static bool t_receiveThread;

    public DataPlaneInlineDispatcher(MessageDispatcherConfigurator configurator) : base(configurator)
    {
    }

    /// <summary>Marks the calling thread as a data-plane receive thread (it runs for the thread's lifetime).</summary>
    public static void MarkReceiveThread() => t_receiveThread = true;

    /// <summary>Whether the calling thread is a data-plane receive thread.</summary>
    public static bool OnReceiveThread => t_receiveThread;

    protected override void ExecuteTask(IRunnable run)
    {
        if (t_receiveThread) run.Run();
        else ThreadPool.UnsafeQueueUserWorkItem(static r => r.Run(), run, preferLocal: false);
    }

    protected override void Shutdown()
    {
    }
}
