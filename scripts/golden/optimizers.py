#!/usr/bin/python3
"""Golden values for DistTrain's optimizers and learning-rate schedules, computed by PyTorch.

Run from the repository root with Debian's PyTorch (python3-torch 1.13):

    /usr/bin/python3 scripts/golden/optimizers.py

It writes tests/DistTrain.Core.Tests/Optimizers/OptimizerGoldenValues.g.cs. Every case below is a
dict of hyper-parameters rendered twice: once as the torch.optim call that produces the numbers, once
as the C# OptimizerSpec / ScheduleSpec the tests build, so the two cannot drift apart.
"""
import math
import os
import sys

import torch

OUTPUT = "tests/DistTrain.Core.Tests/Optimizers/OptimizerGoldenValues.g.cs"

# A small parameter vector: mixed signs, one tiny value, one large one.
INITIAL = [0.5, -1.25, 0.03, 2.0, -0.7, 0.001, -3.1]

# Five steps of gradients, written out literally: different scales, sign changes, an exact zero.
GRADIENTS = [
    [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7],
    [0.05, 0.25, -0.35, 0.0, 1.5, -0.01, 0.2],
    [-0.3, 0.1, 0.002, 0.8, -0.9, 0.4, -0.05],
    [2.5, -1.0, 0.6, -0.25, 0.0, 0.3, 0.9],
    [0.01, 0.02, -0.03, 0.04, -0.05, 0.06, -0.07],
]

# name, torch class, torch kwargs, C# OptimizerSpec expression, torch state keys in our buffer order
CASES = [
    ("sgd_plain", "SGD", dict(lr=0.1), "new OptimizerSpec(OptimizerKind.Sgd, 0.1f)", []),
    ("sgd_momentum", "SGD", dict(lr=0.1, momentum=0.9),
     "new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Momentum: 0.9f)", ["momentum_buffer"]),
    ("sgd_nesterov", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True),
     "new OptimizerSpec(OptimizerKind.Sgd, 0.1f, Momentum: 0.9f, Nesterov: true)", ["momentum_buffer"]),
    ("sgd_weight_decay", "SGD", dict(lr=0.1, weight_decay=0.01),
     "new OptimizerSpec(OptimizerKind.Sgd, 0.1f, WeightDecay: 0.01f)", []),
    ("sgd_nesterov_weight_decay", "SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
     "new OptimizerSpec(OptimizerKind.Sgd, 0.05f, Momentum: 0.8f, Nesterov: true, WeightDecay: 0.01f)", ["momentum_buffer"]),
    ("adam_default", "Adam", dict(lr=1e-3),
     "new OptimizerSpec(OptimizerKind.Adam, 1e-3f)", ["exp_avg", "exp_avg_sq"]),
    ("adam_large_lr", "Adam", dict(lr=0.1),
     "new OptimizerSpec(OptimizerKind.Adam, 0.1f)", ["exp_avg", "exp_avg_sq"]),
    ("adam_weight_decay", "Adam", dict(lr=0.1, weight_decay=0.01),
     "new OptimizerSpec(OptimizerKind.Adam, 0.1f, WeightDecay: 0.01f)", ["exp_avg", "exp_avg_sq"]),
    ("adam_custom", "Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6),
     "new OptimizerSpec(OptimizerKind.Adam, 0.05f, Beta1: 0.8f, Beta2: 0.99f, Epsilon: 1e-6f)", ["exp_avg", "exp_avg_sq"]),
    ("adadelta_default", "Adadelta", dict(lr=1.0),
     "new OptimizerSpec(OptimizerKind.Adadelta, 1.0f)", ["square_avg", "acc_delta"]),
    ("adadelta_custom", "Adadelta", dict(lr=0.5, rho=0.95, weight_decay=0.01),
     "new OptimizerSpec(OptimizerKind.Adadelta, 0.5f, Rho: 0.95f, WeightDecay: 0.01f)", ["square_avg", "acc_delta"]),
]

SCHEDULE_BASE_LR = 0.1


def warmup(steps):
    return lambda s: min(1.0, (s + 1) / steps)


def warmup_cosine(warm, total, base, eta_min):
    def factor(s):
        t = min(s, total)
        lr = eta_min + 0.5 * (base - eta_min) * (1 + math.cos(math.pi * t / total))
        return lr / base * min(1.0, (s + 1) / warm)
    return factor


# name, scheduler factory (optimizer -> scheduler), C# ScheduleSpec expression, number of updates
SCHEDULES = [
    ("step_lr", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
     "new ScheduleSpec(ScheduleKind.StepDecay, StepSize: 3, Gamma: 0.5f)", 12),
    ("cosine_annealing", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
     "new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 10, MinLearningRate: 0.001f)", 11),
    ("cosine_annealing_to_zero", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7),
     "new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 7)", 8),
    ("linear_warmup", lambda o: torch.optim.lr_scheduler.LambdaLR(o, warmup(4)),
     "new ScheduleSpec(ScheduleKind.Constant, WarmupSteps: 4)", 8),
    ("linear_warmup_then_cosine",
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, warmup_cosine(3, 10, SCHEDULE_BASE_LR, 0.0)),
     "new ScheduleSpec(ScheduleKind.Cosine, TotalSteps: 10, WarmupSteps: 3)", 11),
]


def f32(x):
    """A C# float literal that round-trips the float32 value exactly."""
    x = float(x)
    if x == 0:
        return "0f"
    return "{:.9g}f".format(x)


def f64(x):
    return "{:.17g}".format(float(x))


def floats(values):
    return "[" + ", ".join(f32(v) for v in values) + "]"


def run_case(cls, kwargs, keys):
    p = torch.nn.Parameter(torch.tensor(INITIAL, dtype=torch.float32))
    opt = getattr(torch.optim, cls)([p], **kwargs)
    after_first = None
    for i, g in enumerate(GRADIENTS):
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        if i == 0:
            after_first = p.detach().clone().tolist()
    state = opt.state[p]
    buffers = [state[k].tolist() for k in keys]
    return after_first, p.detach().tolist(), buffers


def run_schedule(factory, updates):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=SCHEDULE_BASE_LR)
    sched = factory(opt)
    rates = []
    for _ in range(updates):
        # The rate the (k+1)-th update uses, with the scheduler stepped once after every optimizer step.
        rates.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros(1)
        opt.step()
        sched.step()
    return rates


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    out = []
    w = out.append
    w("// <auto-generated>")
    w("// Generated by scripts/golden/optimizers.py with PyTorch {} -- do not edit by hand.".format(torch.__version__))
    w("// Regenerate from the repository root with: /usr/bin/python3 scripts/golden/optimizers.py")
    w("// </auto-generated>")
    w("using DistTrain.Core.Optimizers;")
    w("")
    w("namespace DistTrain.Core.Tests.Optimizers;")
    w("")
    w("/// <summary>An optimizer run in PyTorch: parameters after the first and the last step, state after the last (our buffer order).</summary>")
    w("internal sealed record OptimizerGoldenCase(string Name, OptimizerSpec Spec, float[] AfterFirstStep, float[] AfterLastStep, float[][] State);")
    w("")
    w("/// <summary>A learning-rate scheduler run in PyTorch: Rates[k] is the rate the (k+1)-th update used.</summary>")
    w("internal sealed record ScheduleGoldenCase(string Name, float BaseRate, ScheduleSpec Schedule, double[] Rates);")
    w("")
    w("internal static class OptimizerGoldenValues")
    w("{")
    w("    public static float[] InitialParameters => {};".format(floats(INITIAL)))
    w("")
    w("    public static float[][] Gradients =>")
    w("    [")
    for g in GRADIENTS:
        w("        {},".format(floats(g)))
    w("    ];")
    w("")
    w("    public static IEnumerable<OptimizerGoldenCase> Cases =>")
    w("    [")
    for name, cls, kwargs, spec, keys in CASES:
        first, last, buffers = run_case(cls, kwargs, keys)
        w("        // torch.optim.{}({})".format(cls, ", ".join("{}={}".format(k, v) for k, v in kwargs.items())))
        w("        new(\"{}\", {},".format(name, spec))
        w("            {},".format(floats(first)))
        w("            {},".format(floats(last)))
        w("            [{}]),".format(", ".join(floats(b) for b in buffers)))
    w("    ];")
    w("")
    w("    public static IEnumerable<ScheduleGoldenCase> Schedules =>")
    w("    [")
    for name, factory, spec, updates in SCHEDULES:
        rates = run_schedule(factory, updates)
        w("        new(\"{}\", {}, {},".format(name, f32(SCHEDULE_BASE_LR), spec))
        w("            [{}]),".format(", ".join(f64(r) for r in rates)))
    w("    ];")
    w("}")
    path = os.path.join(root, OUTPUT)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(out) + "\n")
    print("wrote " + os.path.relpath(path, root), file=sys.stderr)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
