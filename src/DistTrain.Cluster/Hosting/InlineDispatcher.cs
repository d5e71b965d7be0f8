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
/// </summary>
public sealed class InlineDispatcherConfigurator : MessageDispatcherConfigurator
{
    private readonly InlineDispatcher _dispatcher;

    public InlineDispatcherConfigurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites)
    {
        _dispatcher = new InlineDispatcher(this);
    }

    public override MessageDispatcher Dispatcher() => _dispatcher;
}

/// <summary>See <see cref="InlineDispatcherConfigurator"/>.</summary>
public sealed class InlineDispatcher : MessageDispatcher
{
    public InlineDispatcher(MessageDispatcherConfigurator configurator) : base(configurator)
    {
    }

    protected override void ExecuteTask(IRunnable run) => run.Run();

    protected override void Shutdown()
    {
    }
}
