#!/usr/bin/env bash
# DistTrain vs PyTorch training throughput on Fashion-MNIST (DESIGN.md §4), side by side.
#
#   bash scripts/bench.sh                 # 3 rounds, W2 MLP, 3 epochs, full 60000 training images
#   bash scripts/bench.sh --quick         # smoke test: 1 round, 1 epoch, first 10000 images
#   bash scripts/bench.sh --rounds 5 --epochs 2 --out /tmp/table.md
#   bash scripts/bench.sh --workload cnn  # W3 (1 epoch by default)
#
# Runs every configuration once per round, in rotation (so slow drift of the machine's load hits all of
# them alike), takes the median over rounds, prints a markdown table and one line per target:
#   target <name> ratio=<measured> goal=<goal> ok|short
# and writes the table (plus the raw JSON lines) to --out (default docs/benchmarks-latest.md).
#
# samples/s counts training steps only (forward, loss, backward, optimizer; all epochs), not the test
# evaluation after each epoch — the same definition in bench_torch.py and in the `train` benchmark.
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (set on some machines of this workplace for older OpenBLAS
# builds) are unset for every benchmark command, ours and PyTorch's alike; the output records whether
# they were set. PyTorch runs with /usr/bin/python3 (Debian's python3-torch, linked to the system
# OpenBLAS), never another python on PATH.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=3
EPOCHS=""
LIMIT=""
WORKLOAD=mlp
OUT="docs/benchmarks-latest.md"
QUICK=0
SKIP_GEMM=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --workload) WORKLOAD="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --no-gemm) SKIP_GEMM=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $QUICK -eq 1 ]]; then
  ROUNDS=1; EPOCHS=${EPOCHS:-1}; LIMIT=${LIMIT:-10000}
fi
if [[ -z "$EPOCHS" ]]; then
  if [[ "$WORKLOAD" == mlp ]]; then EPOCHS=3; else EPOCHS=1; fi
fi
[[ "$WORKLOAD" == mlp || "$WORKLOAD" == cnn ]] || { echo "bench.sh: --workload must be mlp or cnn" >&2; exit 2; }

# ---- prerequisites -----------------------------------------------------------------------------
# shellcheck source=scripts/lib/bench-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench-common.sh"
bench_prerequisites bench.sh


echo "# building Release" >&2
dotnet build -c Release tests/DistTrain.Benchmarks -v quiet -nologo >&2
BIN=tests/DistTrain.Benchmarks/bin/Release/net10.0/DistTrain.Benchmarks
[[ -x $BIN ]] || { echo "bench.sh: $BIN missing after the build" >&2; exit 1; }

RAW=$(mktemp /tmp/disttrain-bench.XXXXXX)
GEMM_OUT=$(mktemp /tmp/disttrain-gemm.XXXXXX)
trap 'rm -f "$RAW" "$GEMM_OUT"' EXIT

COMMON=(--epochs "$EPOCHS")
[[ -n "$LIMIT" ]] && COMMON+=(--limit "$LIMIT")

# name | environment | command. Every command runs with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed.
CONFIGS=(
  "ours single 1 thread|OPENBLAS_NUM_THREADS=1|$BIN train --workload $WORKLOAD --mode single --threads 1 ${COMMON[*]}"
  "ours single 2 threads|OPENBLAS_NUM_THREADS=2|$BIN train --workload $WORKLOAD --mode single --threads 2 ${COMMON[*]}"
  "ours local 1 worker, 1 thread|OPENBLAS_NUM_THREADS=1|$BIN train --workload $WORKLOAD --mode local --workers 1 --threads 1 ${COMMON[*]}"
  "ours local 2 workers (BLAS 1 each)|OPENBLAS_NUM_THREADS=1|$BIN train --workload $WORKLOAD --mode local --workers 2 --threads 2 ${COMMON[*]}"
  "torch 1 thread|OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1|$PY scripts/bench_torch.py --workload $WORKLOAD --threads 1 ${COMMON[*]}"
  "torch 2 threads + OpenBLAS 1|OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2|$PY scripts/bench_torch.py --workload $WORKLOAD --threads 2 ${COMMON[*]}"
  "torch 1 thread + OpenBLAS 2|OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=1|$PY scripts/bench_torch.py --workload $WORKLOAD --threads 1 ${COMMON[*]}"
)

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  for cfg in "${CONFIGS[@]}"; do
    IFS='|' read -r name envs cmd <<<"$cfg"
    echo "# round $r/$ROUNDS: $name" >&2
    # shellcheck disable=SC2086
    if line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $envs $cmd 2>/dev/null | tail -n 1) && [[ "$line" == \{* ]]; then
      printf '{"config": "%s", "round": %d, "result": %s}\n' "$name" "$r" "$line" >>"$RAW"
    else
      echo "#   $name: no result (exit status or output above)" >&2
      printf '{"config": "%s", "round": %d, "result": null}\n' "$name" "$r" >>"$RAW"
    fi
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ $SKIP_GEMM -eq 0 ]]; then
  echo "# gemm seam vs OpenBLAS" >&2
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BIN" gemm --only mlp >"$GEMM_OUT" 2>&1 || true
fi

MACHINE=$(bench_machine)

mkdir -p "$(dirname "$OUT")"
$PY - "$RAW" "$GEMM_OUT" "$OUT" "$WORKLOAD" "$EPOCHS" "${LIMIT:-60000}" "$ROUNDS" "$LOAD_BEFORE" "$LOAD_AFTER" "$(( $(date +%s) - START ))" "$MACHINE" "$CORETYPE_NOTE" <<'PYEOF'
import json, math, statistics, sys, datetime
sys.path.insert(0, "scripts/lib")
import bench_report
raw, gemm_path, out, workload, epochs, limit, rounds, load_before, load_after, seconds, machine, coretype = sys.argv[1:]
runs, order, by = bench_report.load_runs(raw)
med = bench_report.median

summary = {}
for name in order:
    res = by[name]
    sps = [x["samples_per_second"] for x in res]
    acc = [x["test_accuracy"] for x in res]
    acc_med = [round(med([a[i] for a in acc]), 4) for i in range(min(len(a) for a in acc))] if acc else []
    summary[name] = dict(sps=med(sps), all=sps, acc=acc_med, rss=med([x["peak_rss_mib"] for x in res]), n=len(res))

def sps(name):
    return summary.get(name, {}).get("sps", float("nan"))

base = sps("torch 1 thread")
lines = []
w = lines.append
w(f"Workload {workload.upper()} ({'W2 MLP 784-256-128-10' if workload == 'mlp' else 'W3 CNN'}), {epochs} epoch(s), {limit} training images, batch 128, Adam 1e-3; "
  f"median of {rounds} round(s) in rotation; {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}.")
w("")
w(f"Machine: {machine}.")
w(f"Load average (1/5/15 min) before: {load_before}; after: {load_after} (other jobs share these 2 cores). {coretype}. Total {seconds} s.")
w("")
w("| system | setting | samples/s (median) | all rounds | × torch 1 thread | test accuracy per epoch | peak RSS MiB |")
w("|---|---|--:|---|--:|---|--:|")
for name in order:
    s = summary[name]
    system, _, setting = name.partition(" ")
    ratio = s["sps"] / base if base == base and base > 0 else float("nan")
    allr = " / ".join(f"{x:,.0f}" for x in s["all"]) or "n/a"
    accs = " / ".join(f"{a:.4f}" for a in s["acc"]) or "n/a"
    sp = f"{s['sps']:,.0f}" if s["n"] else "n/a"
    w(f"| {'DistTrain' if system == 'ours' else 'PyTorch'} | {setting} | {sp} | {allr} | {ratio:.2f} | {accs} | {s['rss']:.0f} |")

# GEMM seam vs OpenBLAS direct, from the gemm benchmark's MLP shapes.
gemm_ratios = []
gemm_rows = []
try:
    for l in open(gemm_path):
        cells = [c.strip() for c in l.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[0].startswith("mlp"):
            try:
                gemm_ratios.append(float(cells[9])); gemm_rows.append(l.rstrip())
            except ValueError:
                pass
except OSError:
    pass
gemm = statistics.median(gemm_ratios) if gemm_ratios else float("nan")  # the median resists one shape hit by a load spike
if gemm_rows:
    w("")
    w(f"GEMM seam vs OpenBLAS called directly, MLP shapes (GFLOP/s; median of seam/direct = {gemm:.3f}, worst {min(gemm_ratios):.2f}):")
    w("")
    w("| shape | op | m | n | k | thr | direct | seam | managed | seam/direct |")
    w("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    lines.extend(gemm_rows)

def last_acc(name):
    a = summary.get(name, {}).get("acc", [])
    return a[-1] if a else float("nan")

best2 = max(sps("torch 2 threads + OpenBLAS 1"), sps("torch 1 thread + OpenBLAS 2"))
acc_diff = abs(last_acc("ours single 1 thread") - last_acc("torch 1 thread"))
targets = [
    ("mlp_local_1thread_vs_torch", sps("ours local 1 worker, 1 thread") / base, 1.2, True),
    ("mlp_single_1thread_vs_torch", sps("ours single 1 thread") / base, 1.2, True),
    ("mlp_local_2threads_vs_torch_best2", sps("ours local 2 workers (BLAS 1 each)") / best2, 1.2, True),
    ("actor_overhead", sps("ours local 2 workers (BLAS 1 each)") / sps("ours single 2 threads"), 0.95, True),
    ("gemm_seam_vs_openblas", gemm, 0.9, True),
    ("accuracy_difference", acc_diff, 0.005, False),
]
w("")
w("Targets (ratio = ours / reference; accuracy_difference = |ours − torch| test accuracy after the last epoch, single 1 thread vs torch 1 thread):")
w("")
w("```")
tlines = bench_report.target_lines(targets)
lines.extend(tlines)
w("```")
w("")
lines.extend(bench_report.raw_block(runs))
text = "\n".join(lines) + "\n"
with open(out, "w") as f:
    f.write(text)
print(text.split("Raw results")[0].rstrip())
print()
print("\n".join(tlines))
PYEOF
echo "# table written to $OUT" >&2
