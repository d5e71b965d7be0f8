using Akka.Configuration;
using Akka.Dispatch;

namespace DistTrain.Cluster.Hosting;

/// <summary>
/// A dispatcher that runs an actor's mailbox on the thread that sent it the message, instead of handing
/// it to a thread-pool thread (Akka.TestKit's CallingThreadDispatcher does the same for tests).
/// <para>
/// Local mode puts the parameter server and the coordinator on it (<see cref="LocalMode.Configuration"/>).
/// A synchronous step then wakes no thread between the last worker's gradient and the next step's
/// <c>ComputeGradients</c>: the last worker's thread aggregates and steps the optimizer, tells the
/// coordinator, which plans the next step on the same thread, and the parameter server sends it out. On
/// the thread pool each of those hops could wait for a thread to wake up (tens of µs each, more on a
/// loaded machine), which is most of local mode's fixed cost per step.
/// </para>
/// <para>
/// Mailbox semantics are unchanged: a mailbox that is already running on one thread is only enqueued
/// to by another (the running thread processes it), so each actor still handles one message at a time,
/// in order per sender. The workers stay on the default dispatcher so they compute in parallel.
/// </para>
/// <para>
/// On a worker node the worker actors use it with <c>inline-when = data-plane-thread</c>
/// (<see cref="ClusterNode.WorkerDispatcherName"/>): a step's <c>ComputeGradients</c> arrives on the data-plane
/// thread that reads the parameter server's connection, and handing it to the pool woke a second thread per step
/// before the gradient math could start; now the receive thread computes the gradient and sends it back itself.
/// It reads nothing meanwhile, which costs nothing: the next message on that connection is the next step's,
/// which waits for this gradient. <c>PrepareJob</c>, which loads data for seconds, comes through Akka.Remote and
/// runs on the pool (unless it lands in a mailbox that a receive thread is running at that moment, which does
/// not happen at a job's start, when no tensor is in flight); Akka.Remote's own threads never run a worker.
/// </para>
/// </summary>
public sealed class InlineDispatcherConfigurator : MessageDispatcherConfigurator
{
    private readonly InlineDispatcher _dispatcher;

    /// <param name="config">
    /// <c>inline-when = always</c> (the default) or <c>data-plane-thread</c>: then only a mailbox scheduled from
    /// a data-plane receive thread runs inline, and any other goes to the .NET thread pool.
    /// </param>
    public InlineDispatcherConfigurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites)
    {
        var when = config.GetString("inline-when", "always");
        var dataPlaneOnly = when switch
        {
            "always" => false,
            "data-plane-thread" => true,
            _ => throw new ConfigurationException($"inline-when of dispatcher {config.GetString("id", "?")} must be always or data-plane-thread, not '{when}'"),
        };
        _dispatcher = new InlineDispatcher(this, dataPlaneOnly);
    }

    public override MessageDispatcher Dispatcher() => _dispatcher;
}

/// <summary>See <see cref="InlineDispatcherConfigurator"/>.</summary>
public sealed class InlineDispatcher : MessageDispatcher
{
    [ThreadStatic] private static bool t_receiveThread;
    private readonly bool _dataPlaneThreadsOnly;

    public InlineDispatcher(MessageDispatcherConfigurator configurator, bool dataPlaneThreadsOnly = false) : base(configurator)
    {
        _dataPlaneThreadsOnly = dataPlaneThreadsOnly;
    }

    /// <summary>Marks the calling thread as a data-plane receive thread (for the thread's lifetime).</summary>
    public static void MarkReceiveThread() => t_receiveThread = true;

    protected override void ExecuteTask(IRunnable run)
    {
        if (!_dataPlaneThreadsOnly || t_receiveThread) run.Run();
        else ThreadPool.UnsafeQueueUserWorkItem(static r => r.Run(), run, preferLocal: false);
    }

    protected override void Shutdown()
    {
    }
}
