namespace DistTrain.Core.Optimizers;

public enum OptimizerKind
{
    Sgd,
    Adam,
    Adadelta,
}

public enum ScheduleKind
{
    Constant,
    /// <summary>lr · gamma^floor(step / StepSize).</summary>
    StepDecay,
    /// <summary>Cosine annealing from lr to MinLearningRate over TotalSteps.</summary>
    Cosine,
}

/// <summary>Learning-rate schedule; WarmupSteps > 0 adds a linear warm-up from 0 in front of any kind.</summary>
public sealed record ScheduleSpec(ScheduleKind Kind = ScheduleKind.Constant, int StepSize = 1000, float Gamma = 0.1f,
    long TotalSteps = 0, float MinLearningRate = 0f, int WarmupSteps = 0);

/// <summary>
/// Optimizer hyper-parameters. Defaults match PyTorch: Adam (0.9, 0.999, 1e-8); Adadelta rho 0.9,
/// eps 1e-6 (lr 1.0 in PyTorch; set it explicitly); SGD momentum 0. Epsilon null means the kind's default.
/// </summary>
public sealed record OptimizerSpec(
    OptimizerKind Kind,
    float LearningRate,
    float Momentum = 0f,
    bool Nesterov = false,
    float WeightDecay = 0f,
    float Beta1 = 0.9f,
    float Beta2 = 0.999f,
    float? Epsilon = null,
    float Rho = 0.9f,
    ScheduleSpec? Schedule = null)
{
    /// <summary>Epsilon in use: the given one, else PyTorch's default for the kind (Adam 1e-8, Adadelta 1e-6).</summary>
    public float EffectiveEpsilon => Epsilon ?? (Kind == OptimizerKind.Adadelta ? 1e-6f : 1e-8f);

    public static OptimizerKind ParseKind(string name) => name.Trim().ToLowerInvariant() switch
    {
        "sgd" => OptimizerKind.Sgd,
        "adam" => OptimizerKind.Adam,
        "adadelta" => OptimizerKind.Adadelta,
        _ => throw new ArgumentException($"Unknown optimizer '{name}'; use sgd, adam or adadelta."),
    };

    /// <summary>Throws with the offending field when a hyper-parameter is out of range.</summary>
    public void Validate()
    {
        static void Check(bool ok, string what) { if (!ok) throw new ArgumentException($"Optimizer setting {what}."); }
        Check(float.IsFinite(LearningRate) && LearningRate > 0, $"learning rate must be a positive number (got {LearningRate})");
        Check(Momentum >= 0 && Momentum < 1, $"momentum must be in [0, 1) (got {Momentum})");
        Check(!Nesterov || Momentum > 0, "nesterov needs momentum > 0");
        Check(WeightDecay >= 0 && float.IsFinite(WeightDecay), $"weight decay must be >= 0 (got {WeightDecay})");
        Check(Beta1 >= 0 && Beta1 < 1, $"beta1 must be in [0, 1) (got {Beta1})");
        Check(Beta2 >= 0 && Beta2 < 1, $"beta2 must be in [0, 1) (got {Beta2})");
        Check(EffectiveEpsilon > 0 && float.IsFinite(EffectiveEpsilon), $"epsilon must be a positive number (got {Epsilon})");
        Check(Rho >= 0 && Rho < 1, $"rho must be in [0, 1) (got {Rho})");
        if (Schedule is { } s)
        {
            Check(s.WarmupSteps >= 0, $"warm-up steps must be >= 0 (got {s.WarmupSteps})");
            Check(s.Kind != ScheduleKind.StepDecay || s.StepSize > 0, $"step decay needs step size >= 1 (got {s.StepSize})");
            Check(s.Kind != ScheduleKind.StepDecay || (s.Gamma > 0 && s.Gamma <= 1), $"step decay gamma must be in (0, 1] (got {s.Gamma})");
            Check(s.Kind != ScheduleKind.Cosine || s.TotalSteps > 0, $"cosine schedule needs total steps >= 1 (got {s.TotalSteps})");
            Check(s.MinLearningRate >= 0 && float.IsFinite(s.MinLearningRate), $"minimum learning rate must be >= 0 (got {s.MinLearningRate})");
        }
    }
}

/// <summary>Saved optimizer state: plain data (kind, step count, named buffers shaped like the parameters).</summary>
public sealed record OptimizerState(OptimizerKind Kind, long Step, IReadOnlyList<float[]> Buffers);
