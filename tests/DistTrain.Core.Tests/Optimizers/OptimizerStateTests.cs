using DistTrain.Core.Optimizers;

namespace DistTrain.Core.Tests.Optimizers;

public sealed class OptimizerStateTests
{
    private const int Count = 37;

    public static TheoryData<string> Specs() => new(SpecsByName.Keys);

    private static readonly Dictionary<string, OptimizerSpec> SpecsByName = new()
    {
        ["sgd"] = new(OptimizerKind.Sgd, 0.1f),
        ["sgd_momentum"] = new(OptimizerKind.Sgd, 0.1f, Momentum: 0.9f, WeightDecay: 1e-3f),
        ["sgd_nesterov_step_decay"] = new(OptimizerKind.Sgd, 0.1f, Momentum: 0.9f, Nesterov: true,
            Schedule: new ScheduleSpec(ScheduleKind.StepDecay, StepSize: 2, Gamma: 0.5f)),
        ["adam"] = new(OptimizerKind.Adam, 1e-2f, WeightDecay: 1e-4f),
        ["adam_warmup_cosine"] = new(OptimizerKind.Adam, 1e-2f, Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 5, WarmupSteps: 2)),
        ["adadelta"] = new(OptimizerKind.Adadelta, 1.0f, Rho: 0.95f),
    };

    private static float[] Gradient(int step)
    {
        var g = new float[Count];
        for (var i = 0; i < Count; i++) g[i] = MathF.Sin(1.7f * i + 0.9f * step) * (1 + (i % 5));
        return g;
    }

    private static float[] InitialParameters()
    {
        var p = new float[Count];
        for (var i = 0; i < Count; i++) p[i] = MathF.Cos(0.3f * i) - 0.2f;
        return p;
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void Saving_after_3_steps_and_loading_into_a_new_optimizer_continues_bit_identically(string name)
    {
        var spec = SpecsByName[name];
        var straight = InitialParameters();
        var reference = Optimizer.Create(spec, Count);
        for (var s = 0; s < 5; s++) reference.Step(straight, Gradient(s));

        var resumed = InitialParameters();
        var first = Optimizer.Create(spec, Count);
        for (var s = 0; s < 3; s++) first.Step(resumed, Gradient(s));
        var state = first.SaveState();
        var second = Optimizer.Create(spec, Count);
        second.LoadState(state);
        Assert.Equal(3, second.StepCount);
        Assert.Equal(first.CurrentLearningRate, second.CurrentLearningRate);
        for (var s = 3; s < 5; s++) second.Step(resumed, Gradient(s));

        Approx.Identical(straight, resumed, $"{name} parameters after 5 steps");
        Assert.Equal(reference.StepCount, second.StepCount);
        var a = reference.SaveState();
        var b = second.SaveState();
        Assert.Equal(a.Buffers.Count, b.Buffers.Count);
        for (var i = 0; i < a.Buffers.Count; i++) Approx.Identical(a.Buffers[i], b.Buffers[i], $"{name} state buffer {i}");
    }

    [Fact]
    public void A_saved_state_is_a_snapshot_that_later_steps_do_not_change()
    {
        var spec = SpecsByName["adam"];
        var p = InitialParameters();
        var optimizer = Optimizer.Create(spec, Count);
        optimizer.Step(p, Gradient(0));
        var state = optimizer.SaveState();
        var copy = state.Buffers.Select(b => (float[])b.Clone()).ToArray();
        optimizer.Step(p, Gradient(1));
        Assert.Equal(1, state.Step);
        for (var i = 0; i < copy.Length; i++) Approx.Identical(copy[i], state.Buffers[i], $"saved buffer {i}");
    }

    [Fact]
    public void Each_kind_saves_the_buffers_pytorch_keeps()
    {
        Assert.Empty(Optimizer.Create(SpecsByName["sgd"], Count).SaveState().Buffers);
        Assert.Single(Optimizer.Create(SpecsByName["sgd_momentum"], Count).SaveState().Buffers);
        Assert.Equal(2, Optimizer.Create(SpecsByName["adam"], Count).SaveState().Buffers.Count);
        Assert.Equal(2, Optimizer.Create(SpecsByName["adadelta"], Count).SaveState().Buffers.Count);
    }

    [Fact]
    public void Loading_the_state_of_another_kind_throws_naming_both_kinds()
    {
        var state = Optimizer.Create(SpecsByName["adadelta"], Count).SaveState();
        var adam = Optimizer.Create(SpecsByName["adam"], Count);
        var e = Assert.Throws<ArgumentException>(() => adam.LoadState(state));
        Assert.Contains("Adadelta", e.Message);
        Assert.Contains("Adam", e.Message);
    }

    [Fact]
    public void Loading_a_state_of_another_size_throws_naming_both_sizes_and_changes_nothing()
    {
        var p = InitialParameters();
        var optimizer = Optimizer.Create(SpecsByName["adam"], Count);
        optimizer.Step(p, Gradient(0));
        var before = optimizer.SaveState();
        var other = Optimizer.Create(SpecsByName["adam"], Count + 3);
        other.Step(new float[Count + 3], new float[Count + 3]);
        other.Step(new float[Count + 3], new float[Count + 3]);
        var e = Assert.Throws<ArgumentException>(() => optimizer.LoadState(other.SaveState()));
        Assert.Contains($"{Count + 3} values", e.Message);
        Assert.Contains($"{Count} parameters", e.Message);
        var after = optimizer.SaveState();
        Assert.Equal(before.Step, after.Step);
        for (var i = 0; i < before.Buffers.Count; i++) Approx.Identical(before.Buffers[i], after.Buffers[i], $"buffer {i}");
    }

    [Fact]
    public void Loading_momentum_state_into_plain_sgd_throws_naming_the_buffer_counts()
    {
        var state = Optimizer.Create(SpecsByName["sgd_momentum"], Count).SaveState();
        var plain = Optimizer.Create(SpecsByName["sgd"], Count);
        var e = Assert.Throws<ArgumentException>(() => plain.LoadState(state));
        Assert.Contains("needs 0 buffers", e.Message);
        Assert.Contains("has 1", e.Message);
    }

    [Fact]
    public void Loading_a_state_with_a_negative_step_throws()
    {
        var optimizer = Optimizer.Create(SpecsByName["sgd"], Count);
        var e = Assert.Throws<ArgumentException>(() => optimizer.LoadState(new OptimizerState(OptimizerKind.Sgd, -1, [])));
        Assert.Contains("negative step", e.Message);
    }

    [Fact]
    public void Step_with_buffers_of_the_wrong_length_throws_naming_the_lengths()
    {
        var optimizer = Optimizer.Create(SpecsByName["adam"], Count);
        var e = Assert.Throws<ArgumentException>(() => optimizer.Step(new float[Count], new float[Count - 1]));
        Assert.Contains($"{Count} parameters", e.Message);
        Assert.Contains($"{Count - 1} gradients", e.Message);
        Assert.Equal(0, optimizer.StepCount);
    }

    public static TheoryData<string, OptimizerSpec, string> InvalidSpecs() => new()
    {
        { "negative lr", new OptimizerSpec(OptimizerKind.Sgd, -0.1f), "learning rate" },
        { "zero lr", new OptimizerSpec(OptimizerKind.Adam, 0f), "learning rate" },
        { "NaN lr", new OptimizerSpec(OptimizerKind.Adam, float.NaN), "learning rate" },
        { "infinite lr", new OptimizerSpec(OptimizerKind.Adadelta, float.PositiveInfinity), "learning rate" },
        { "momentum 1", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Momentum: 1f), "momentum" },
        { "momentum 1.5", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Momentum: 1.5f), "momentum" },
        { "negative momentum", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Momentum: -0.1f), "momentum" },
        { "NaN momentum", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Momentum: float.NaN), "momentum" },
        { "nesterov without momentum", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Nesterov: true), "nesterov" },
        { "negative weight decay", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, WeightDecay: -1e-4f), "weight decay" },
        { "NaN weight decay", new OptimizerSpec(OptimizerKind.Adam, 0.1f, WeightDecay: float.NaN), "weight decay" },
        { "beta1 1", new OptimizerSpec(OptimizerKind.Adam, 0.1f, Beta1: 1f), "beta1" },
        { "beta2 above 1", new OptimizerSpec(OptimizerKind.Adam, 0.1f, Beta2: 1.5f), "beta2" },
        { "negative beta2", new OptimizerSpec(OptimizerKind.Adam, 0.1f, Beta2: -0.5f), "beta2" },
        { "zero epsilon", new OptimizerSpec(OptimizerKind.Adam, 0.1f, Epsilon: 0f), "epsilon" },
        { "NaN epsilon", new OptimizerSpec(OptimizerKind.Adam, 0.1f, Epsilon: float.NaN), "epsilon" },
        { "infinite epsilon", new OptimizerSpec(OptimizerKind.Adadelta, 1f, Epsilon: float.PositiveInfinity), "epsilon" },
        { "rho 1", new OptimizerSpec(OptimizerKind.Adadelta, 1f, Rho: 1f), "rho" },
        { "negative warm-up", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Schedule: new ScheduleSpec(WarmupSteps: -1)), "warm-up" },
        { "step decay size 0", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Schedule: new ScheduleSpec(ScheduleKind.StepDecay, StepSize: 0)), "step size" },
        { "step decay gamma 0", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Schedule: new ScheduleSpec(ScheduleKind.StepDecay, Gamma: 0f)), "gamma" },
        { "step decay gamma above 1", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Schedule: new ScheduleSpec(ScheduleKind.StepDecay, Gamma: 1.5f)), "gamma" },
        { "cosine without total steps", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Schedule: new ScheduleSpec(ScheduleKind.Cosine)), "total steps" },
        { "negative minimum lr", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 9, MinLearningRate: -1e-3f)), "minimum learning rate" },
        { "NaN minimum lr", new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 9, MinLearningRate: float.NaN)), "minimum learning rate" },
    };

    [Theory]
    [MemberData(nameof(InvalidSpecs))]
    public void Validate_rejects_an_out_of_range_setting_naming_the_field(string what, OptimizerSpec spec, string field)
    {
        var e = Assert.Throws<ArgumentException>(spec.Validate);
        Assert.True(e.Message.Contains(field, StringComparison.Ordinal), $"{what}: the message \"{e.Message}\" does not name {field}.");
        var viaCreate = Assert.Throws<ArgumentException>(() => Optimizer.Create(spec, 3));
        Assert.Equal(e.Message, viaCreate.Message);
    }

    [Fact]
    public void Validate_accepts_the_pytorch_defaults_of_every_kind()
    {
        new OptimizerSpec(OptimizerKind.Sgd, 0.01f).Validate();
        new OptimizerSpec(OptimizerKind.Sgd, 0.01f, Momentum: 0.9f, Nesterov: true, WeightDecay: 5e-4f).Validate();
        new OptimizerSpec(OptimizerKind.Adam, 1e-3f).Validate();
        new OptimizerSpec(OptimizerKind.Adadelta, 1f).Validate();
        new OptimizerSpec(OptimizerKind.Adam, 1e-3f, Schedule: new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 100, WarmupSteps: 10)).Validate();
        Assert.Equal(1e-8f, new OptimizerSpec(OptimizerKind.Adam, 1e-3f).EffectiveEpsilon);
        Assert.Equal(1e-6f, new OptimizerSpec(OptimizerKind.Adadelta, 1f).EffectiveEpsilon);
    }

    [Theory]
    [InlineData("SGD", OptimizerKind.Sgd)]
    [InlineData(" adam ", OptimizerKind.Adam)]
    [InlineData("Adadelta", OptimizerKind.Adadelta)]
    public void ParseKind_accepts_names_in_any_case(string name, OptimizerKind kind) => Assert.Equal(kind, OptimizerSpec.ParseKind(name));

    [Fact]
    public void ParseKind_of_an_unknown_name_says_which_names_work()
    {
        var e = Assert.Throws<ArgumentException>(() => OptimizerSpec.ParseKind("rmsprop"));
        Assert.Contains("'rmsprop'", e.Message);
        Assert.Contains("adadelta", e.Message);
    }
}
