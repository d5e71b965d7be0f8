using Akka.Actor;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Transport;

namespace DistTrain.Cluster.Actors;

/// <summary>
/// How actors send tensor messages: through the chunking transport when the node runs one (cluster
/// mode: payloads above the frame limit go in chunks, never dropped), else a plain Tell (local mode).
/// Tensor messages to another node take the node's <see cref="DataPlane"/> first when its connection is up.
/// </summary>
internal static class Wire
{
    public static void Send(IActorContext context, IActorRef target, object message)
    {
        var system = context.System;
        if (DataPlane.Find(system) is { } dataPlane && dataPlane.TrySend(target, message, context.Self)) return;
        if (system.HasExtension<ChunkingTransport>()) ChunkingTransport.Get(system).Send(target, message, context.Self);
        else target.Tell(message, context.Self);
    }
}
