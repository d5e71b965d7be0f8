using Akka.Actor;
using DistTrain.Cluster.Actors;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Protocol;
using DistTrain.Cluster.State;
using DistTrain.Core.Models;
using DistTrain.Core.Optimizers;
using DistTrain.Core.Training;

namespace DistTrain.Cluster.Modes;

/// <summary>
/// The parameter server's side of async and SSP training, for one epoch run at a time
/// (<see cref="RunAsyncEpoch"/>): hands each worker slot a batch with a snapshot of the current
/// parameters, applies arrived gradients as <see cref="StalenessController"/> decides (each update: the
/// sample-weighted mean of its gradients, one optimizer step, one version), reports every update to the
/// coordinator as a <see cref="StepCompleted"/>, and gives the released workers their next batches.
/// Non-finite gradients are dropped from their update as in synchronous mode. With a
/// <see cref="StalenessCompensation"/> the step's learning rate shrinks with staleness, or the workers
/// get look-ahead parameters (<see cref="StaleGradients"/>). Not an actor: the parameter server owns the
/// parameters and calls in.
/// </summary>
internal sealed class AsyncUpdateLoop
{
    private readonly Model _model;
    private readonly Optimizer _optimizer;
    private readonly ulong _seed;
    private readonly float[] _mean;
    private readonly StalenessCompensation _compensation;
    private float[]? _previous;          // lookahead: the parameters before the last update
    private long _previousVersion = -1;  // the version that update produced; -1 = no usable last update
    private RunAsyncEpoch? _run;
    private StalenessController? _control;
    private IActorRef _coordinator = ActorRefs.Nobody;
    private float[][] _snapshots = [];
    private readonly List<(GradientsComputed Message, float[] Gradient, bool Finite)?> _arrived = [];

    public AsyncUpdateLoop(ulong seed, Model model, Optimizer optimizer, StalenessCompensation compensation = StalenessCompensation.None)
    {
        _seed = seed;
        _model = model;
        _optimizer = optimizer;
        _compensation = compensation;
        _mean = new float[model.ParameterCount];
    }

    /// <summary>True while an epoch run has gradients outstanding.</summary>
    public bool Active => _run is not null && _control is { Finished: false };

    public long Version => _control?.Version ?? 0;

    /// <summary>True for a gradient message that belongs to the running epoch (same attempt).</summary>
    public bool Owns(GradientsComputed msg) => _run is not null && msg.Attempt == _run.Attempt;

    public void Begin(RunAsyncEpoch run, IActorRef coordinator, IActorContext context)
    {
        _run = run;
        _coordinator = coordinator;
        _control = new StalenessController(run.Workers.Count, run.Batches.Length, run.Version, run.Bound);
        if (_snapshots.Length < run.Workers.Count) Array.Resize(ref _snapshots, run.Workers.Count);
        _arrived.Clear();
        for (var i = 0; i < run.Workers.Count; i++) _arrived.Add(null);
        Execute(_control.Start(), context);
    }

    /// <param name="gradient">The decoded gradient sum (the message's own buffer, or the parameter server's decode buffer for this slot).</param>
    public void OnGradients(GradientsComputed msg, float[] gradient, IActorContext context)
    {
        if (_run is null || _control is null || msg.Attempt != _run.Attempt) return;
        var slot = msg.ShardIndex;
        if ((uint)slot >= (uint)_arrived.Count || _control.UnitOf(slot) != msg.Step - _run.FirstStep || !_control.InFlight(slot)) return;
        _arrived[slot] = (msg, gradient, GradientMath.AllFinite(gradient) && double.IsFinite(msg.LossSum));
        Execute(_control.Arrive(slot), context);
    }

    public void OnWorkerLost(AsyncWorkerLost lost, IActorContext context)
    {
        if (_run is null || _control is null || lost.Attempt != _run.Attempt) return;
        for (var i = 0; i < _run.Workers.Count; i++)
        {
            if (!_run.Workers[i].Equals(lost.Worker)) continue;
            if (_control.InFlight(i)) _arrived[i] = null;
            Execute(_control.Lose(i), context);
        }
    }

    private void Execute(StalenessController.Decision decision, IActorContext context)
    {
        var run = _run!;
        var version = _control!.Version - decision.Updates.Count;
        foreach (var update in decision.Updates)
        {
            version++;
            ApplyUpdate(run, update, version);
        }
        if (decision.Assignments.Count == 0) return;
        for (var n = 0; n < decision.Assignments.Count; n++)
        {
            var a = decision.Assignments[n];
            // Each slot gets its own snapshot: the master parameters change while it computes.
            var snapshot = _snapshots[a.Slot] ??= new float[_model.ParameterCount];
            var ahead = LookaheadSteps(a.Slot, decision.Assignments.Count - 1 - n);
            if (ahead > 0) StaleGradients.Extrapolate(_model.Parameters, _previous!, ahead, snapshot);
            else _model.Parameters.CopyTo(snapshot, 0);
            Wire.Send(context, run.Workers[a.Slot], new ComputeGradients(run.JobId, a.Version, run.Attempt, run.Epoch, run.FirstStep + a.Unit, a.Slot,
                run.Batches[a.Unit], _seed, snapshot));
        }
    }

    /// <summary>
    /// Lookahead: how many updates are expected before slot's gradient lands, the other slots holding a
    /// batch (minus the <paramref name="assignedLater"/> ones of this decision, which start after it),
    /// at most the ssp bound; 0 without a usable last update or with another compensation.
    /// </summary>
    private int LookaheadSteps(int slot, int assignedLater)
    {
        if (_compensation != StalenessCompensation.Lookahead || _previous is null || _previousVersion != _control!.Version) return 0;
        var others = -assignedLater;
        for (var i = 0; i < _run!.Workers.Count; i++)
            if (i != slot && _control.UnitOf(i) >= 0) others++;
        return Math.Max(0, Math.Min(others, _control.Bound ?? int.MaxValue));
    }

    private void ApplyUpdate(RunAsyncEpoch run, IReadOnlyList<StalenessController.Contribution> update, long newVersion)
    {
        var totals = default(BatchResult);
        var dropped = 0;
        var staleness = 0;
        var first = -1;
        var idCount = 0;
        var lrScaleSum = 0.0; // learning-rate compensation: sum over applied gradients of samples / (1 + staleness)
        foreach (var c in update)
        {
            var (msg, g, finite) = _arrived[c.Slot]!.Value;
            staleness = Math.Max(staleness, c.Staleness);
            if (!finite)
            {
                dropped++;
                continue;
            }
            totals += new BatchResult(msg.Samples, msg.LossSum, msg.Correct);
            lrScaleSum += msg.Samples * (double)StaleGradients.LearningRateScale(c.Staleness);
            idCount += run.Batches[c.Unit].Length;
            if (first < 0)
            {
                g.CopyTo(_mean, 0);
                first = c.Slot;
            }
            else
            {
                GradientMath.Add(_mean, g);
            }
        }
        var lr = _optimizer.CurrentLearningRate;
        var applied = totals.Samples > 0;
        if (applied)
        {
            GradientMath.Scale(_mean, 1f / totals.Samples);
            if (_compensation == StalenessCompensation.Lookahead)
            {
                _previous ??= new float[_model.ParameterCount];
                _model.Parameters.CopyTo(_previous, 0);
            }
            if (_compensation == StalenessCompensation.LearningRate)
            {
                // All gradients fresh: the factor is exactly 1 and the step is the uncompensated one.
                var scale = (float)(lrScaleSum / totals.Samples);
                _optimizer.Step(_model.Parameters, _mean, scale);
                lr *= scale;
            }
            else
            {
                _optimizer.Step(_model.Parameters, _mean);
            }
        }
        _previousVersion = applied ? newVersion : -1;
        var ids = new int[idCount];
        var at = 0;
        var minUnit = int.MaxValue;
        foreach (var c in update)
        {
            minUnit = Math.Min(minUnit, c.Unit);
            var finite = _arrived[c.Slot]!.Value.Finite;
            _arrived[c.Slot] = null;
            if (!finite) continue;
            run.Batches[c.Unit].CopyTo(ids, at);
            at += run.Batches[c.Unit].Length;
        }
        _coordinator.Tell(new StepCompleted(run.JobId, newVersion, run.Epoch, run.FirstStep + minUnit, totals.Samples, totals.LossSum, totals.Correct, lr,
            dropped, applied, ids, Steps: update.Count, Staleness: staleness));
    }
}
