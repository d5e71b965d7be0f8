namespace DistTrain.Core.Optimizers;

/// <summary>
/// Learning rate as a pure function of the 0-based update number: <c>RateAt(k)</c> is the rate of the
/// (k+1)-th update. That is PyTorch's convention when <c>scheduler.step()</c> is called once after every
/// <c>optimizer.step()</c>: StepDecay = StepLR(step_size, gamma), Cosine = CosineAnnealingLR(T_max, eta_min),
/// warm-up = LambdaLR(k → min(1, (k+1)/W)) multiplied onto either (tests/…/OptimizerGoldenTests). One
/// deliberate difference: past TotalSteps, Cosine holds MinLearningRate, where CosineAnnealingLR would
/// follow the cosine back up towards the base rate.
/// </summary>
public static class LearningRateSchedule
{
    public static float RateAt(float baseRate, ScheduleSpec? schedule, long step)
    {
        if (schedule is null) return baseRate;
        double rate = schedule.Kind switch
        {
            ScheduleKind.Constant => baseRate,
            ScheduleKind.StepDecay => baseRate * Math.Pow(schedule.Gamma, step / schedule.StepSize),
            ScheduleKind.Cosine => schedule.MinLearningRate + 0.5 * (baseRate - schedule.MinLearningRate)
                * (1 + Math.Cos(Math.PI * Math.Min(step, schedule.TotalSteps) / schedule.TotalSteps)),
            _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule.Kind, "unknown schedule"),
        };
        if (schedule.WarmupSteps > 0 && step < schedule.WarmupSteps)
            rate *= (step + 1) / (double)schedule.WarmupSteps;
        return (float)rate;
    }
}
