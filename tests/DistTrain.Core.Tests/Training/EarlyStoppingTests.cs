using DistTrain.Core.Training;

namespace DistTrain.Core.Tests.Training;

public sealed class EarlyStoppingTests
{
    [Fact]
    public void Stops_after_patience_epochs_without_improvement()
    {
        var stopper = new EarlyStopping(patience: 2);
        Assert.False(stopper.Observe(0, 1.0));
        Assert.False(stopper.Observe(1, 0.8));
        Assert.False(stopper.Observe(2, 0.85));
        Assert.Equal(1, stopper.EpochsWithoutImprovement);
        Assert.True(stopper.Observe(3, 0.9));
        Assert.Equal(0.8, stopper.BestLoss);
        Assert.Equal(1, stopper.BestEpoch);
    }

    [Fact]
    public void An_equal_loss_is_not_an_improvement()
    {
        var stopper = new EarlyStopping(patience: 1);
        Assert.False(stopper.Observe(0, 0.5));
        Assert.True(stopper.Observe(1, 0.5));
        Assert.Equal(0, stopper.BestEpoch);
    }

    [Fact]
    public void An_improvement_resets_the_count()
    {
        var stopper = new EarlyStopping(patience: 2);
        Assert.False(stopper.Observe(0, 1.0));
        Assert.False(stopper.Observe(1, 1.1));
        Assert.False(stopper.Observe(2, 0.9));
        Assert.Equal(0, stopper.EpochsWithoutImprovement);
        Assert.False(stopper.Observe(3, 1.2));
        Assert.True(stopper.Observe(4, 1.3));
        Assert.Equal(2, stopper.BestEpoch);
    }

    [Fact]
    public void Patience_zero_never_stops()
    {
        var stopper = new EarlyStopping(patience: 0);
        Assert.False(stopper.Observe(0, 0.1));
        for (var epoch = 1; epoch < 100; epoch++) Assert.False(stopper.Observe(epoch, 1.0 + epoch));
        Assert.Equal(99, stopper.EpochsWithoutImprovement);
    }

    [Fact]
    public void A_NaN_loss_never_counts_as_an_improvement()
    {
        var stopper = new EarlyStopping(patience: 2);
        Assert.False(stopper.Observe(0, 0.7));
        Assert.False(stopper.Observe(1, double.NaN));
        Assert.True(stopper.Observe(2, double.NaN));
        Assert.Equal(0.7, stopper.BestLoss);
    }
}
