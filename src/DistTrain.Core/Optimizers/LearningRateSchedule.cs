namespace DistTrain.Core.Optimizers;

/// <summary>Learning rate as a pure function of the 0-based update number.</summary>
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
