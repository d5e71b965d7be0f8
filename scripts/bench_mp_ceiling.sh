#!/usr/bin/env bash
# How close can W2 multi-process (1 ps + 2 worker processes on 127.0.0.1) come to our own local mode, and what
# is left once every payload copy is gone? Runs, in rotation, per round (seed r in round r):
#
#   local sync            DistTrain.Benchmarks train --mode local --workers 2 --threads 2 (as bench_cluster.sh)
#   multi-process sync    scripts/mp_step_stats.sh on the same job (--job-json)
#   mp sync, no copies    the same with scripts/experiments/no-payload-copy.patch applied to a copy of this checkout:
#                         after the first 40 large payloads no process copies a payload into a shared-memory ring
#                         or out of it. Its training is wrong (stale parameters and gradients); only its speed
#                         means anything: the ceiling of a zero-copy data plane on this machine.
#   local local-SGD k     --local-steps K (default 4): each worker takes K Adam steps between two model averages
#   multi-process local-SGD k
#
#   bash scripts/bench_mp_ceiling.sh [--rounds N (5)] [--epochs E (3)] [--local-steps K (4)] [--out FILE]
#
# Prints a markdown table (medians, all rounds, test accuracy) and the ratios; --out also writes it (default
# docs/benchmarks-mp-ceiling.md). Needs what bench_cluster.sh needs (dataset-fashion-mnist, a Release build).
# ~1 min per round on 2 quiet cores.
set -euo pipefail
ROUNDS=5 EPOCHS=3 K=4 OUT=docs/benchmarks-mp-ceiling.md
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --local-steps) K=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "bench_mp_ceiling.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "bench_mp_ceiling.sh: apt-get install dataset-fashion-mnist" >&2; exit 1; }
echo "# building Release (this checkout)" >&2
dotnet build -c Release src/DistTrain.Cli -v quiet -nologo >&2
dotnet build -c Release tests/DistTrain.Benchmarks -v quiet -nologo >&2
BIN=$ROOT/tests/DistTrain.Benchmarks/bin/Release/net10.0/DistTrain.Benchmarks
WORK=$(mktemp -d /tmp/bench-mp-ceiling.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "# building the no-copy experiment in $WORK/nocopy" >&2
mkdir "$WORK/nocopy"
tar -C "$ROOT" --exclude=./.git --exclude='*/bin' --exclude='*/obj' --exclude=./out --exclude=./runs -cf - . | tar -C "$WORK/nocopy" -xf -
(cd "$WORK/nocopy" && git apply "$ROOT/scripts/experiments/no-payload-copy.patch")
dotnet build -c Release "$WORK/nocopy/src/DistTrain.Cli" -v quiet -nologo >&2

# One mp_step_stats.sh run; prints "samples/s accuracy".
mp() { # ROOT-or-empty JOB
  local line dir
  ROOT=${1:-$ROOT} bash "$ROOT/scripts/mp_step_stats.sh" "$2" "$EPOCHS" r > "$WORK/mp.log" 2>&1 || true
  line=$(head -1 "$WORK/mp.log")
  dir=$(sed -n 's/.*(\(\/tmp\/mp-step-[^)]*\)).*/\1/p' <<<"$line")
  [[ -n $dir ]] || { echo "bench_mp_ceiling.sh: a multi-process run failed: $line" >&2; exit 1; }
  /usr/bin/python3 -c 'import glob,json,sys; s=json.load(open(glob.glob(sys.argv[1]+"/out/**/summary.json",recursive=True)[0])); print(s["samples_per_second"], s["test_accuracy"])' "$dir"
  rm -rf "$dir"
}
local_mode() { # extra args...
  OPENBLAS_NUM_THREADS=1 "$BIN" train --workload mlp --mode local --workers 2 --threads 2 --epochs "$EPOCHS" "$@" \
    | /usr/bin/python3 -c 'import json,sys; l=[json.loads(x) for x in sys.stdin if x.startswith("{")][-1]; print(l["samples_per_second"], l["test_accuracy"][-1])'
}

NAMES=("local sync" "multi-process sync" "multi-process sync, no payload copies (timing only)" "local local-SGD k=$K" "multi-process local-SGD k=$K")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
  "$BIN" train --workload mlp --epochs "$EPOCHS" --seed "$r" --job-json > "$WORK/sync-$r.json"
  "$BIN" train --workload mlp --epochs "$EPOCHS" --seed "$r" --local-steps "$K" --job-json > "$WORK/lsgd-$r.json"
  for i in "${!NAMES[@]}"; do
    echo "# round $r/$ROUNDS: ${NAMES[$i]}" >&2
    case $i in
      0) local_mode --seed "$r" ;;
      1) mp "" "$WORK/sync-$r.json" ;;
      2) mp "$WORK/nocopy" "$WORK/sync-$r.json" ;;
      3) local_mode --seed "$r" --local-steps "$K" ;;
      4) mp "" "$WORK/lsgd-$r.json" ;;
    esac > "$WORK/r$r-c$i"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

REPORT=$(/usr/bin/python3 - "$WORK" "$ROUNDS" "$K" "${NAMES[@]}" <<'PY'
import statistics, sys
work, rounds, k, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
rate, acc = {}, {}
for i, n in enumerate(names):
    rows = [open(f"{work}/r{r}-c{i}").read().split() for r in range(1, rounds + 1)]
    rate[i] = [float(x[0]) for x in rows]
    acc[i] = [float(x[1]) for x in rows]
med = {i: statistics.median(v) for i, v in rate.items()}
print("| configuration | samples/s (median) | all rounds | test accuracy, seeds 1.. | mean |")
print("|---|--:|---|---|--:|")
for i, n in enumerate(names):
    a = " / ".join(f"{x:.4f}" for x in acc[i]) if i != 2 else "(wrong by design)"
    m = f"{statistics.mean(acc[i]):.4f}" if i != 2 else ""
    print(f"| {n} | {med[i]:,.0f} | {' / '.join(f'{x:,.0f}' for x in rate[i])} | {a} | {m} |")
print()
per = lambda a, b: " / ".join(f"{x / y:.2f}" for x, y in zip(rate[a], rate[b]))
print("| ratio | of medians | per round |")
print("|---|--:|---|")
print(f"| multi-process sync / local sync | {med[1] / med[0]:.3f} | {per(1, 0)} |")
print(f"| no payload copies (ceiling) / local sync | {med[2] / med[0]:.3f} | {per(2, 0)} |")
print(f"| multi-process local-SGD k={k} / local local-SGD k={k} | {med[4] / med[3]:.3f} | {per(4, 3)} |")
print(f"| multi-process local-SGD k={k} / local sync | {med[4] / med[0]:.3f} | {per(4, 0)} |")
print(f"| local-SGD k={k} − sync, mean test accuracy (points; multi-process) | {100 * (statistics.mean(acc[4]) - statistics.mean(acc[1])):+.2f} | |")
PY
)
{
  echo "# bench_mp_ceiling.sh, $(date -u '+%Y-%m-%d %H:%M UTC'): W2, $EPOCHS epochs, $ROUNDS rounds, load $LOAD_BEFORE before, $LOAD_AFTER after"
  echo
  echo "$REPORT"
} | tee "$OUT"
