"""Shared by the report generators embedded in scripts/bench.sh and scripts/bench_cluster.sh."""
import json


def target_lines(targets):
    """targets: (name, value, goal, higher_is_better). One `target <name> ratio=<v> goal=<g> ok|short` per target;
    a NaN value (a configuration that produced no result) is always short."""
    lines = []
    for name, value, goal, higher in targets:
        ok = (value >= goal) if higher else (value <= goal)
        lines.append(f"target {name} ratio={value:.3f} goal={goal} {'ok' if ok and value == value else 'short'}")
    return lines


def raw_block(*groups):
    """The raw results as a fenced block, one JSON object per line."""
    lines = ["Raw results (one JSON line per run):", "", "```"]
    for group in groups:
        lines.extend(json.dumps(r) for r in group)
    lines.append("```")
    return lines


def median(xs):
    """Median, or NaN for no values (a configuration that produced no result)."""
    import statistics
    return statistics.median(xs) if xs else float("nan")


def load_runs(raw_path):
    """The raw JSON lines of a rotation, grouped: (runs, config names in first-seen order, results by config)."""
    runs = [json.loads(l) for l in open(raw_path) if l.strip()]
    order, by = [], {}
    for r in runs:
        if r["config"] not in by:
            order.append(r["config"])
            by[r["config"]] = []
        if r["result"] is not None:
            by[r["config"]].append(r["result"])
    return runs, order, by
