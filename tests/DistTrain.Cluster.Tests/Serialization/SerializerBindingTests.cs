using Akka.Actor;
using Akka.Serialization;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.Serialization;
using DistTrain.Cluster.Settings;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Tests.Serialization;

/// <summary>The bindings of base.conf: which serializer each message meets, and that none meets JSON.</summary>
public class SerializerBindingTests : Akka.TestKit.Xunit2.TestKit
{
    public SerializerBindingTests() : base(ClusterConfig.Load("akka.actor.provider = local", new Dictionary<string, string?>()))
    {
    }

    private static bool IsTensor(object m) => m is ITensorMessage or TensorChunk;

    [Fact]
    public void The_samples_cover_every_message_type_in_the_assembly()
    {
        var sampled = ProtocolSamples.All(ActorRefs.Nobody).Select(m => m.GetType()).OrderBy(t => t.FullName).ToList();
        Assert.Equal(ProtocolSamples.MessageTypes(), sampled);
    }

    [Fact]
    public void Tensor_messages_get_the_raw_serializer_and_every_other_message_gets_Hyperion()
    {
        foreach (var m in ProtocolSamples.All(TestActor))
        {
            var serializer = Sys.Serialization.FindSerializerFor(m);
            if (IsTensor(m)) Assert.True(serializer is TensorMessageSerializer, $"{m.GetType().Name} -> {serializer.GetType().Name}");
            else Assert.True(serializer is HyperionSerializer, $"{m.GetType().Name} -> {serializer.GetType().Name}");
        }
    }

    [Fact]
    public void Records_that_travel_inside_messages_are_bound_to_Hyperion_too()
    {
        Type[] nested =
        [
            typeof(ShardAssignment), typeof(TrainingJob), typeof(DataSpec), typeof(ModelSpec), typeof(DenseSpec), typeof(Conv2DSpec),
            typeof(FlattenSpec), typeof(OptimizerSpec), typeof(ScheduleSpec), typeof(EpochMetrics), typeof(StepProgress), typeof(Normalization),
            typeof(CheckpointMetadata),
        ];
        foreach (var t in nested)
        {
            var serializer = Sys.Serialization.FindSerializerForType(t);
            Assert.True(serializer is HyperionSerializer, $"{t.Name} -> {serializer.GetType().Name}");
        }
    }

    [Fact]
    public void Every_concrete_tensor_message_has_an_exact_binding_because_Akka_does_not_prefer_the_more_specific_interface()
    {
        // Akka.NET 1.5.73 takes the first assignable binding in ConcurrentDictionary order when there is no
        // exact one; ITensorMessage and IDistTrainMessage both match, so only an exact binding is reliable.
        var bound = new HashSet<Type>();
        foreach (var (key, _) in Sys.Settings.Config.GetConfig("akka.actor.serialization-bindings").AsEnumerable())
            if (Type.GetType(key) is { } t) bound.Add(t);
        var missing = ProtocolSamples.MessageTypes().Where(t => typeof(ITensorMessage).IsAssignableFrom(t) || t == typeof(TensorChunk))
            .Where(t => !bound.Contains(t)).Select(t => t.Name).ToList();
        Assert.True(missing.Count == 0, "no exact binding in base.conf for: " + string.Join(", ", missing));
    }

    [Fact]
    public void Every_message_survives_a_round_trip_through_its_bound_serializer()
    {
        foreach (var m in ProtocolSamples.All(TestActor))
        {
            var serializer = Sys.Serialization.FindSerializerFor(m);
            var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, m);
            var bytes = Akka.Serialization.Serialization.WithTransport((ExtendedActorSystem)Sys, () => serializer.ToBinary(m));
            var back = Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
            Assert.NotSame(m, back);
            Deep.Equal(m, back, m.GetType().Name);
        }
    }
}

/// <summary>With serialize-messages on, every local Tell crosses the serializer; the actors' messages must survive it.</summary>
public class SerializeMessagesTests : Akka.TestKit.Xunit2.TestKit
{
    public SerializeMessagesTests() : base(ClusterConfig.Load("""
        akka.actor.provider = local
        akka.actor.serialize-messages = on
        """, new Dictionary<string, string?>()))
    {
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(m => Sender.Tell(m));
    }

    [Fact]
    public void Every_message_arrives_as_an_equal_copy_when_local_messages_are_serialized()
    {
        var echo = Sys.ActorOf(Props.Create(() => new Echo()));
        foreach (var m in ProtocolSamples.All(TestActor))
        {
            echo.Tell(m);
            var back = ExpectMsg<object>(TimeSpan.FromSeconds(3));
            Assert.NotSame(m, back); // it was serialized (twice: there and back)
            Deep.Equal(m, back, m.GetType().Name);
        }
    }
}
