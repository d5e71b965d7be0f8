#!/usr/bin/env python3
"""Where a synchronous step's wall time goes, from the DISTTRAIN_STEP_TRACE files of every process of one run.

    DISTTRAIN_STEP_TRACE=/tmp/trace disttrain node ...      # on every node of one machine (or local mode)
    python3 scripts/step_timeline.py /tmp/trace [--skip 20]

Each process writes steps-PID.csv (ns, point, version, shard, pid; src/DistTrain.Cluster/Hosting/StepTrace.cs) on a
clock all processes of a machine share. For every step (parameter version V) this lines up the parameter server's
points with each shard's worker points and prints, per phase, the median and mean over the steps (the first --skip
steps are left out as warm-up):

  send params      ps: first shard's send starts -> last shard's send handed to the transport
  params -> worker ps handed shard i's message over -> worker i's actor has it (copy out of the ring or socket,
                   deserialize, wake, dispatch)
  compute          worker i: gradient computed
  worker send      worker i: gradient handed to the transport
  gradient -> ps   worker i handed it over -> the ps actor has it (can be negative: the ps thread the send woke
                   may run before the worker records its point; read it with the next line)
  gradient back    worker i's gradient computed -> the ps actor has it (worker send + gradient -> ps)
  wait for last    first shard's gradient at the ps -> the last one's (shards finishing at different times)
  pass             averaging + optimizer (the ps's team)
  next step        pass done -> the next step's RunStep at the ps (StepCompleted, coordinator plans, RunStep)
  step             RunStep V -> RunStep V+1

Shard phases are given for the shard that arrived last at the ps (the one the step waited for) and averaged over
all shards. The sum of the critical path's phases equals the step's wall time up to the overlap of the shards.
"""
import argparse
import collections
import csv
import glob
import os
import statistics
import sys


def load(directory):
    points = collections.defaultdict(dict)  # (pid) -> {(point, version, shard): ns}; first occurrence wins
    roles = {}
    for path in sorted(glob.glob(os.path.join(directory, "steps-*.csv"))):
        with open(path) as f:
            for row in csv.DictReader(line for line in f if not line.startswith("#")):
                key = (row["point"], int(row["version"]), int(row["shard"]))
                pid = int(row["pid"])
                points[pid].setdefault(key, int(row["ns"]))
                if row["point"].startswith("Ps"):
                    roles[pid] = "ps"
    if not points:
        sys.exit(f"step_timeline.py: no steps-*.csv files in {directory} (was DISTTRAIN_STEP_TRACE set on the nodes?)")
    return points, roles


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("directory")
    ap.add_argument("--skip", type=int, default=20, help="leave out the first N steps (warm-up); default 20")
    a = ap.parse_args()
    points, roles = load(a.directory)
    ps_pids = [p for p, r in roles.items() if r == "ps"]
    if len(ps_pids) != 1:
        sys.exit(f"step_timeline.py: expected the points of one parameter server, found {len(ps_pids)} processes with Ps points")
    ps = points[ps_pids[0]]
    # Worker points by (point, version, shard), whichever process recorded them (local mode: the ps's own process).
    worker = {}
    for pid, pts in points.items():
        for k, v in pts.items():
            if k[0].startswith("Worker"):
                worker.setdefault(k, v)
    versions = sorted(v for (p, v, s) in ps if p == "PsStepStart")
    phases = collections.defaultdict(list)
    used = 0
    for i, v in enumerate(versions[:-1]):
        if i < a.skip:
            continue
        nxt = versions[i + 1]
        shards = sorted(s for (p, vv, s) in ps if p == "PsSendStart" and vv == v)
        if not shards or nxt != v + 1:
            continue
        grads = {s: ps.get(("PsGradient", v, s)) for s in shards}
        if any(g is None for g in grads.values()):
            continue  # a retried or dropped shard: not a plain step
        wk = {}
        ok = True
        for s in shards:
            t = [worker.get((p, v, s)) for p in ("WorkerArrived", "WorkerComputed", "WorkerSent")]
            if None in t:
                ok = False
                break
            wk[s] = t
        pass_start, pass_end = ps.get(("PsPassStart", v, -1)), ps.get(("PsPassEnd", v, -1))
        if not ok or pass_start is None or pass_end is None:
            continue
        used += 1
        ms = lambda d: d / 1e6
        start = ps[("PsStepStart", v, -1)]
        phases["step"].append(ms(ps[("PsStepStart", nxt, -1)] - start))
        phases["send params"].append(ms(ps[("PsSendEnd", v, shards[-1])] - ps[("PsSendStart", v, shards[0])]))
        last = max(shards, key=lambda s: grads[s])
        for s in shards:
            arrived, computed, sent = wk[s]
            row = {
                "params -> worker": arrived - ps[("PsSendEnd", v, s)],
                "compute": computed - arrived,
                "worker send": sent - computed,
                "gradient -> ps": grads[s] - sent,
                "gradient back": grads[s] - computed,
            }
            for name, d in row.items():
                phases[name + " (all shards)"].append(ms(d))
                if s == last:
                    phases[name + " (last shard)"].append(ms(d))
        phases["wait for last"].append(ms(max(grads.values()) - min(grads.values())))
        phases["pass"].append(ms(pass_end - pass_start))
        phases["next step"].append(ms(ps[("PsStepStart", nxt, -1)] - pass_end))
    if not used:
        sys.exit(f"step_timeline.py: no complete synchronous step after the first {a.skip} in {a.directory}")
    order = ["send params", "params -> worker (last shard)", "compute (last shard)", "worker send (last shard)",
             "gradient -> ps (last shard)", "gradient back (last shard)", "pass", "next step", "step",
             "params -> worker (all shards)", "compute (all shards)", "worker send (all shards)",
             "gradient -> ps (all shards)", "gradient back (all shards)", "wait for last"]
    print(f"# {used} steps (versions {versions[a.skip] if len(versions) > a.skip else '?'}..), {len(points)} process(es)")
    print("| phase | median ms | mean ms | p90 ms |")
    print("|---|--:|--:|--:|")
    for name in order:
        xs = phases.get(name)
        if not xs:
            continue
        p90 = sorted(xs)[int(0.9 * (len(xs) - 1))]
        print(f"| {name} | {statistics.median(xs):.3f} | {statistics.fmean(xs):.3f} | {p90:.3f} |")


if __name__ == "__main__":
    main()
