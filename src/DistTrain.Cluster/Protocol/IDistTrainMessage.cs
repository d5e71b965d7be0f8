namespace DistTrain.Cluster.Protocol;

/// <summary>
/// Marker for every message that may cross the wire. The serializer bindings in cluster-config bind this
/// interface (Hyperion, unsafe types disallowed) and the tensor-carrying messages (raw-bytes serializer)
/// explicitly, so nothing falls back to JSON.
/// </summary>
public interface IDistTrainMessage;

/// <summary>Messages whose bulk is a float[] (parameters or gradients) and go through the raw-bytes serializer.</summary>
public interface ITensorMessage : IDistTrainMessage;
