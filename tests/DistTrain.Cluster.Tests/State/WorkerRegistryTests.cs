using DistTrain.Cluster.State;

namespace DistTrain.Cluster.Tests.State;

public class WorkerRegistryTests
{
    [Fact]
    public void Ready_workers_come_in_id_order_and_exclude_other_states()
    {
        var r = new WorkerRegistry<int>();
        r.Register("w-2", 2);
        r.Register("w-1", 1);
        r.Register("w-3", 3);
        r.SetStatus("w-2", WorkerStatus.Ready);
        r.SetStatus("w-1", WorkerStatus.Ready);
        r.SetStatus("w-3", WorkerStatus.Refused);
        Assert.Equal(["w-1", "w-2"], r.Ready().Select(x => x.Id));
        Assert.Equal("w-3", r.FindId(3));
        Assert.True(r.Remove("w-1"));
        Assert.Equal(["w-2"], r.Ready().Select(x => x.Id));
    }

    [Fact]
    public void Registering_the_same_id_again_replaces_the_handle_and_resets_status()
    {
        var r = new WorkerRegistry<int>();
        Assert.Equal(RegistrationOutcome.New, r.Register("w", 1));
        r.SetStatus("w", WorkerStatus.Ready);
        Assert.Equal(RegistrationOutcome.Known, r.Register("w", 1));
        Assert.True(r.TryGet("w", out _, out var unchanged));
        Assert.Equal(WorkerStatus.Ready, unchanged);
        Assert.Equal(RegistrationOutcome.Replaced, r.Register("w", 9));
        Assert.True(r.TryGet("w", out var h, out var st));
        Assert.Equal(9, h);
        Assert.Equal(WorkerStatus.Registered, st);
        Assert.Equal(1, r.Count);
    }
}
