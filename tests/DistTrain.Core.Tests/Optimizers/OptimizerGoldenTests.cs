using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Tests.Optimizers;

/// <summary>
/// Our optimizers and schedules against numbers PyTorch produced (scripts/golden/optimizers.py →
/// OptimizerGoldenValues.g.cs). Relative tolerance 1e-6: float32 rounding differences only.
/// </summary>
public sealed class OptimizerGoldenTests
{
    private const double Relative = 1e-6;
    private const double Absolute = 1e-9;

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in OptimizerGoldenValues.Cases) data.Add(c.Name);
        return data;
    }

    public static TheoryData<string> ScheduleNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in OptimizerGoldenValues.Schedules) data.Add(c.Name);
        return data;
    }

    private static OptimizerGoldenCase Case(string name) => OptimizerGoldenValues.Cases.Single(c => c.Name == name);

    private static ScheduleGoldenCase Schedule(string name) => OptimizerGoldenValues.Schedules.Single(c => c.Name == name);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Optimizer_matches_pytorch_after_the_first_and_the_last_step(string name)
    {
        var golden = Case(name);
        var p = OptimizerGoldenValues.InitialParameters;
        var gradients = OptimizerGoldenValues.Gradients;
        var optimizer = Optimizer.Create(golden.Spec, p.Length);
        for (var s = 0; s < gradients.Length; s++)
        {
            optimizer.Step(p, gradients[s]);
            if (s == 0) Approx.Equal(golden.AfterFirstStep, p, Relative, Absolute, $"{name} parameters after step 1");
        }
        Approx.Equal(golden.AfterLastStep, p, Relative, Absolute, $"{name} parameters after step {gradients.Length}");
        Assert.Equal(gradients.Length, optimizer.StepCount);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Optimizer_state_matches_pytorch_after_the_last_step(string name)
    {
        var golden = Case(name);
        var p = OptimizerGoldenValues.InitialParameters;
        var optimizer = Optimizer.Create(golden.Spec, p.Length);
        foreach (var g in OptimizerGoldenValues.Gradients) optimizer.Step(p, g);
        var state = optimizer.SaveState();
        Assert.Equal(golden.Spec.Kind, state.Kind);
        Assert.Equal(OptimizerGoldenValues.Gradients.Length, state.Step);
        Assert.Equal(golden.State.Length, state.Buffers.Count);
        for (var b = 0; b < golden.State.Length; b++)
            Approx.Equal(golden.State[b], state.Buffers[b], Relative, Absolute, $"{name} state buffer {b}");
    }

    [Theory]
    [MemberData(nameof(ScheduleNames))]
    public void RateAt_step_k_is_the_rate_pytorch_uses_for_update_k_plus_1(string name)
    {
        var golden = Schedule(name);
        for (var k = 0; k < golden.Rates.Length; k++)
            Approx.Equal(golden.Rates[k], LearningRateSchedule.RateAt(golden.BaseRate, golden.Schedule, k), Relative, Absolute, $"{name} rate at step {k}");
    }

    // End to end: SGD with p = 0 and gradient 1 moves p by exactly −lr per update, so the parameter
    // trajectory reveals the rate each update used, with the scheduler advancing once per Step.
    [Theory]
    [MemberData(nameof(ScheduleNames))]
    public void Optimizer_applies_the_pytorch_rate_sequence_one_update_at_a_time(string name)
    {
        var golden = Schedule(name);
        var optimizer = Optimizer.Create(new OptimizerSpec(OptimizerKind.Sgd, golden.BaseRate, Schedule: golden.Schedule), 1);
        var p = new float[1];
        float[] one = [1f];
        for (var k = 0; k < golden.Rates.Length; k++)
        {
            Approx.Equal(golden.Rates[k], optimizer.CurrentLearningRate, Relative, Absolute, $"{name} current rate before update {k + 1}");
            var before = p[0];
            optimizer.Step(p, one);
            Approx.Equal(golden.Rates[k], before - p[0], 1e-5, 1e-7, $"{name} size of update {k + 1}");
        }
    }

    // Documented difference: PyTorch's CosineAnnealingLR keeps following the cosine past T_max (the rate
    // climbs back towards the base rate); ours holds the minimum once TotalSteps updates have been made.
    [Fact]
    public void Cosine_schedule_holds_the_minimum_after_total_steps()
    {
        var schedule = new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 10, MinLearningRate: 0.001f);
        for (var k = 10; k < 25; k++)
            Assert.Equal(0.001f, LearningRateSchedule.RateAt(0.1f, schedule, k));
    }

    [Fact]
    public void Without_a_schedule_every_update_uses_the_base_rate()
    {
        for (var k = 0; k < 5; k++) Assert.Equal(0.25f, LearningRateSchedule.RateAt(0.25f, null, k));
        Assert.Equal(0.25f, LearningRateSchedule.RateAt(0.25f, new ScheduleSpec(), 1_000_000));
    }
}
