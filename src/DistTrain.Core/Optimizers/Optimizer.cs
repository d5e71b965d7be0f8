namespace DistTrain.Core.Optimizers;

/// <summary>
/// An optimizer over one flat parameter buffer. <see cref="Step"/> takes the <b>mean</b> gradient of the
/// global batch, applies one update in a single loop over contiguous memory and advances the step count.
/// State (moments, step) can be saved and restored exactly.
/// </summary>
public abstract class Optimizer
{
    protected Optimizer(OptimizerSpec spec, int parameterCount)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        if (parameterCount < 0) throw new ArgumentOutOfRangeException(nameof(parameterCount));
        Spec = spec;
        ParameterCount = parameterCount;
    }

    public OptimizerSpec Spec { get; }

    public int ParameterCount { get; }

    /// <summary>Number of updates applied so far.</summary>
    public long StepCount { get; protected set; }

    /// <summary>The learning rate the next <see cref="Step"/> will use.</summary>
    public float CurrentLearningRate => LearningRateSchedule.RateAt(Spec.LearningRate, Spec.Schedule, StepCount);

    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients)
    {
        if (parameters.Length != ParameterCount || gradients.Length != ParameterCount)
            throw new ArgumentException($"Optimizer was built for {ParameterCount} parameters but got {parameters.Length} parameters and {gradients.Length} gradients.");
        Apply(parameters, gradients, CurrentLearningRate, 0);
        StepCount++;
    }

    /// <summary>
    /// <see cref="Step(Span{float}, ReadOnlySpan{float})"/> with this step's learning rate multiplied by
    /// <paramref name="learningRateScale"/> (a staleness-aware rate in asynchronous training); the schedule
    /// and step count advance as usual. A scale of 1 is that step bit for bit.
    /// </summary>
    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRateScale)
    {
        if (parameters.Length != ParameterCount || gradients.Length != ParameterCount)
            throw new ArgumentException($"Optimizer was built for {ParameterCount} parameters but got {parameters.Length} parameters and {gradients.Length} gradients.");
        if (!(learningRateScale >= 0) || float.IsPositiveInfinity(learningRateScale))
            throw new ArgumentOutOfRangeException(nameof(learningRateScale), learningRateScale, "the learning-rate scale must be finite and >= 0");
        Apply(parameters, gradients, CurrentLearningRate * learningRateScale, 0);
        StepCount++;
    }

    /// <summary>
    /// One range of the current step's update (parameters and state elements [start, start + length)), at
    /// the current step's learning rate; ranges may run on several threads at once. After every range of
    /// the buffer has been applied exactly once, call <see cref="CompleteStep"/> once.
    /// </summary>
    public void ApplyRange(float[] parameters, float[] gradients, int start, int length)
    {
        CheckLengths(parameters, gradients);
        if ((uint)start > (uint)ParameterCount || (uint)length > (uint)(ParameterCount - start))
            throw new ArgumentOutOfRangeException(nameof(length), $"range [{start}, {start + length}) is outside the {ParameterCount} parameters");
        Apply(parameters.AsSpan(start, length), gradients.AsSpan(start, length), CurrentLearningRate, start);
    }

    /// <summary>Ends a step applied with <see cref="ApplyRange"/>: the step count (bias corrections, schedule) advances.</summary>
    public void CompleteStep() => StepCount++;

    private void CheckLengths(float[] parameters, float[] gradients)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(gradients);
        if (parameters.Length != ParameterCount || gradients.Length != ParameterCount)
            throw new ArgumentException($"Optimizer was built for {ParameterCount} parameters but got {parameters.Length} parameters and {gradients.Length} gradients.");
    }

    /// <summary>
    /// Updates <paramref name="parameters"/> (the range starting at element <paramref name="offset"/> of the
    /// whole buffer; the optimizer's state buffers are indexed from there) and does not advance the step count.
    /// </summary>
    protected abstract void Apply(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate, int offset);

    protected abstract float[][] StateBuffers { get; }

    /// <summary>
    /// The decimal value a float hyper-parameter was written as (0.999f → 0.999, not 0.99900001287...).
    /// PyTorch computes 1 − β and the bias corrections 1 − βᵗ in double from the value as written; doing
    /// them from the float instead puts 1 − 0.999f off by 1.3e-5 relative, which shows in Adam's second
    /// moment. Computed once per optimizer, never in <see cref="Step"/>.
    /// </summary>
    protected static double AsWritten(float value)
        => double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    public OptimizerState SaveState() => new(Spec.Kind, StepCount, StateBuffers.Select(b => (float[])b.Clone()).ToArray());

    public void LoadState(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Step < 0) throw new ArgumentException($"Optimizer state has a negative step count ({state.Step}).");
        if (state.Kind != Spec.Kind) throw new ArgumentException($"Optimizer state is for {state.Kind} but this optimizer is {Spec.Kind}.");
        var mine = StateBuffers;
        if (state.Buffers.Count != mine.Length) throw new ArgumentException($"{Spec.Kind} state needs {mine.Length} buffers but the saved state has {state.Buffers.Count}.");
        for (var i = 0; i < mine.Length; i++)
        {
            if (state.Buffers[i].Length != mine[i].Length)
                throw new ArgumentException($"{Spec.Kind} state buffer {i} has {state.Buffers[i].Length} values; this model has {mine[i].Length} parameters.");
        }
        for (var i = 0; i < mine.Length; i++) state.Buffers[i].CopyTo(mine[i], 0);
        StepCount = state.Step;
    }

    public static Optimizer Create(OptimizerSpec spec, int parameterCount) => spec.Kind switch
    {
        OptimizerKind.Sgd => new Sgd(spec, parameterCount),
        OptimizerKind.Adam => new Adam(spec, parameterCount),
        OptimizerKind.Adadelta => new Adadelta(spec, parameterCount),
        _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "unknown optimizer"),
    };
}
