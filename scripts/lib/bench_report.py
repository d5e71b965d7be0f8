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
