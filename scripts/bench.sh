#!/usr/bin/env bash
# DistTrain vs PyTorch training throughput on Fashion-MNIST (DESIGN.md §4), side by side, W2 and W3.
#
#   bash scripts/bench.sh                 # 3 rounds; W2 MLP 3 epochs and W3 CNN 1 epoch, all 60000 images (~20 min on 2 cores)
#   bash scripts/bench.sh --quick         # smoke test: 1 round, 1 epoch; first 10000 images (W2), 2560 (W3)
#   bash scripts/bench.sh --workload mlp  # one workload only (mlp or cnn; default both)
#   bash scripts/bench.sh --rounds 5 --epochs 2 --out /tmp/table.md
#
# Runs every configuration of a workload once per round, in rotation (so slow drift of the machine's load
# hits all of them alike), takes the median over rounds, prints a markdown table per workload, the layers'
# GEMM efficiency (`DistTrain.Benchmarks layers`) and the GEMM seam vs OpenBLAS (`gemm --only mlp`), then
# one line per target:
#   target <name> ratio=<measured> goal=<goal> ok|short
# and writes all of it (plus the raw JSON lines) to --out (default docs/benchmarks-latest.md).
# The multi-process targets are in scripts/bench_cluster.sh, accuracy over seeds in bench_accuracy.sh and the
# communication modes' accuracy in bench_modes.sh; `--all` runs those three after this one (about an hour on
# 2 cores) and ends with every target line of the four. bench_scale.sh (network namespaces, root) runs apart.
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
WORKLOAD=both
OUT="docs/benchmarks-latest.md"
QUICK=0
SKIP_GEMM=0
ALL=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --workload) WORKLOAD="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --no-gemm) SKIP_GEMM=1; shift ;;
    --all) ALL=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$WORKLOAD" == mlp || "$WORKLOAD" == cnn || "$WORKLOAD" == both ]] || { echo "bench.sh: --workload must be mlp, cnn or both" >&2; exit 2; }
WORKLOADS=(mlp cnn)
[[ "$WORKLOAD" != both ]] && WORKLOADS=("$WORKLOAD")
# Per workload: epochs and training-image limit (empty = all 60000).
declare -A W_EPOCHS W_LIMIT
W_EPOCHS[mlp]=${EPOCHS:-3}; W_EPOCHS[cnn]=${EPOCHS:-1}
W_LIMIT[mlp]=$LIMIT; W_LIMIT[cnn]=$LIMIT
if [[ $QUICK -eq 1 ]]; then
  ROUNDS=1
  W_EPOCHS[mlp]=${EPOCHS:-1}; W_EPOCHS[cnn]=${EPOCHS:-1}
  W_LIMIT[mlp]=${LIMIT:-10000}; W_LIMIT[cnn]=${LIMIT:-2560}
fi

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
LAYERS_OUT=$(mktemp /tmp/disttrain-layers.XXXXXX)
trap 'rm -rf "$RAW" "$GEMM_OUT" "$LAYERS_OUT" "${INIT_DIR:-}"' EXIT

# name | environment | command (WL, ARGS filled in per workload). Every command runs with
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed. "pool dispatcher" runs local mode's parameter server and
# coordinator on the thread pool instead of the inline dispatcher, to show what that dispatcher saves.
# PyTorch starts from DistTrain's initial parameters (the same values, written once per workload by
# `train --save-init`), so an accuracy difference comes from the training, not from the initialiser
# (PyTorch's default init for these layers is another distribution from DistTrain's He/Glorot).
INIT_DIR=$(mktemp -d /tmp/disttrain-init.XXXXXX)
for wl in "${WORKLOADS[@]}"; do
  "$BIN" train --workload "$wl" --save-init "$INIT_DIR/init-$wl.safetensors" >&2
done

CONFIGS=(
  "ours single 1 thread|OPENBLAS_NUM_THREADS=1|$BIN train --workload WL --mode single --threads 1 ARGS"
  "ours single 2 threads|OPENBLAS_NUM_THREADS=2|$BIN train --workload WL --mode single --threads 2 ARGS"
  "ours local 1 worker, 1 thread|OPENBLAS_NUM_THREADS=1|$BIN train --workload WL --mode local --workers 1 --threads 1 ARGS"
  "ours local 2 workers (BLAS 1 each)|OPENBLAS_NUM_THREADS=1|$BIN train --workload WL --mode local --workers 2 --threads 2 ARGS"
  "ours local 2 workers, pool dispatcher|OPENBLAS_NUM_THREADS=1 DISTTRAIN_LOCAL_DISPATCHER=pool|$BIN train --workload WL --mode local --workers 2 --threads 2 ARGS"
  "torch 1 thread|OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1|$PY scripts/bench_torch.py --workload WL --threads 1 --init INIT_DIR/init-WL.safetensors ARGS"
  "torch 2 threads + OpenBLAS 1|OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2|$PY scripts/bench_torch.py --workload WL --threads 2 --init INIT_DIR/init-WL.safetensors ARGS"
  "torch 1 thread + OpenBLAS 2|OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=1|$PY scripts/bench_torch.py --workload WL --threads 1 --init INIT_DIR/init-WL.safetensors ARGS"
)

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
for wl in "${WORKLOADS[@]}"; do
  args="--epochs ${W_EPOCHS[$wl]}"
  [[ -n "${W_LIMIT[$wl]}" ]] && args+=" --limit ${W_LIMIT[$wl]}"
  for ((r = 1; r <= ROUNDS; r++)); do
    for cfg in "${CONFIGS[@]}"; do
      IFS='|' read -r name envs cmd <<<"$cfg"
      # The comparison row for the inline dispatcher (docs/benchmarks.md, "The actor path"): W2 only.
      [[ $wl == cnn && $name == *"pool dispatcher"* ]] && continue
      cmd=${cmd//WL/$wl}
      cmd=${cmd//ARGS/$args}
      cmd=${cmd//INIT_DIR/$INIT_DIR} # last: the random directory name could hold "WL" or "ARGS"
      echo "# $wl round $r/$ROUNDS: $name" >&2
      # shellcheck disable=SC2086
      if line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $envs $cmd 2>/dev/null | tail -n 1) && [[ "$line" == \{* ]]; then
        printf '{"workload": "%s", "config": "%s", "round": %d, "result": %s}\n' "$wl" "$name" "$r" "$line" >>"$RAW"
      else
        echo "#   $name: no result (exit status or output above)" >&2
        printf '{"workload": "%s", "config": "%s", "round": %d, "result": null}\n' "$wl" "$name" "$r" >>"$RAW"
      fi
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo "# layers vs their bare GEMMs" >&2
LAYER_REPEATS=7
[[ $QUICK -eq 1 ]] && LAYER_REPEATS=3
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BIN" layers --threads 1 --repeats "$LAYER_REPEATS" >"$LAYERS_OUT" 2>&1 || true

if [[ $SKIP_GEMM -eq 0 ]]; then
  echo "# gemm seam vs OpenBLAS" >&2
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BIN" gemm --only mlp >"$GEMM_OUT" 2>&1 || true
fi

MACHINE=$(bench_machine)

mkdir -p "$(dirname "$OUT")"
$PY - "$RAW" "$GEMM_OUT" "$LAYERS_OUT" "$OUT" "${W_EPOCHS[mlp]}/${W_EPOCHS[cnn]}" "${W_LIMIT[mlp]:-60000}/${W_LIMIT[cnn]:-60000}" "$ROUNDS" "$LOAD_BEFORE" "$LOAD_AFTER" "$(( $(date +%s) - START ))" "$MACHINE" "$CORETYPE_NOTE" <<'PYEOF'
import json, math, statistics, sys, datetime
sys.path.insert(0, "scripts/lib")
import bench_report
raw, gemm_path, layers_path, out, epochs, limits, rounds, load_before, load_after, seconds, machine, coretype = sys.argv[1:]
runs = [json.loads(l) for l in open(raw) if l.strip()]
med = bench_report.median
epochs = dict(zip(["mlp", "cnn"], epochs.split("/")))
limits = dict(zip(["mlp", "cnn"], limits.split("/")))
TITLE = {"mlp": "W2 MLP 784-256-128-10", "cnn": "W3 CNN conv32-pool-conv64-pool-dropout-dense128-dense10"}

summaries = {}
lines = []
w = lines.append
w(f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; median of {rounds} round(s) in rotation; batch 128, Adam 1e-3.")
w("")
w(f"Machine: {machine}.")
w(f"Load average (1/5/15 min) before: {load_before}; after: {load_after} (other jobs share these 2 cores). {coretype}. Total {seconds} s.")
for workload in ["mlp", "cnn"]:
    order, by = [], {}
    for r in runs:
        if r.get("workload", "mlp") != workload:
            continue
        if r["config"] not in by:
            order.append(r["config"]); by[r["config"]] = []
        if r["result"] is not None:
            by[r["config"]].append(r["result"])
    if not order:
        continue
    summary = {}
    for name in order:
        res = by[name]
        sps = [x["samples_per_second"] for x in res]
        acc = [x["test_accuracy"] for x in res]
        acc_med = [round(med([a[i] for a in acc]), 4) for i in range(min(len(a) for a in acc))] if acc else []
        summary[name] = dict(sps=med(sps), all=sps, acc=acc_med, rss=med([x["peak_rss_mib"] for x in res]), n=len(res))
    summaries[workload] = summary
    base = summary.get("torch 1 thread", {}).get("sps", float("nan"))
    w("")
    w(f"{TITLE[workload]}, {epochs[workload]} epoch(s), {limits[workload]} training images:")
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

def sps(workload, name):
    return summaries.get(workload, {}).get(name, {}).get("sps", float("nan"))

def rss(workload, name):
    return summaries.get(workload, {}).get(name, {}).get("rss", float("nan"))

def last_acc(workload, name):
    a = summaries.get(workload, {}).get(name, {}).get("acc", [])
    return a[-1] if a else float("nan")

# Layers vs their bare GEMMs (DistTrain.Benchmarks layers): the table and the time-weighted efficiency.
layer_eff = float("nan")
layer_rows = []
try:
    for l in open(layers_path):
        if l.startswith("|"):
            layer_rows.append(l.rstrip())
        elif l.startswith("layer_gemm_efficiency"):
            layer_eff = float(l.split("total=")[1].split()[0])
except (OSError, IndexError, ValueError):
    pass
if layer_rows:
    w("")
    w(f"GEMM layers vs the bare GEMMs they issue (conv1: the im2col GEMMs its direct path replaces; one Forward + Backward, batch 128, OpenBLAS 1 thread; efficiency = GEMM time / layer time; all layers together {layer_eff:.3f}):")
    w("")
    lines.extend(layer_rows)

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

def best2(workload):
    return max(sps(workload, "torch 2 threads + OpenBLAS 1"), sps(workload, "torch 1 thread + OpenBLAS 2"))

ours = ["ours single 1 thread", "ours single 2 threads", "ours local 1 worker, 1 thread", "ours local 2 workers (BLAS 1 each)"]
targets = []
if "mlp" in summaries:
    targets += [
        ("mlp_local_1thread_vs_torch", sps("mlp", "ours local 1 worker, 1 thread") / sps("mlp", "torch 1 thread"), 1.2, True),
        ("mlp_single_1thread_vs_torch", sps("mlp", "ours single 1 thread") / sps("mlp", "torch 1 thread"), 1.2, True),
        ("mlp_local_2threads_vs_torch_best2", sps("mlp", "ours local 2 workers (BLAS 1 each)") / best2("mlp"), 1.2, True),
        ("actor_overhead", sps("mlp", "ours local 2 workers (BLAS 1 each)") / sps("mlp", "ours single 2 threads"), 0.95, True),
        ("accuracy_difference", abs(last_acc("mlp", "ours single 1 thread") - last_acc("mlp", "torch 1 thread")), 0.005, False),
        ("mlp_rss_vs_torch", max(rss("mlp", n) for n in ours) / rss("mlp", "torch 1 thread"), 1.0, False),
    ]
if "cnn" in summaries:
    targets += [
        ("cnn_local_vs_torch_best2", sps("cnn", "ours local 2 workers (BLAS 1 each)") / best2("cnn"), 1.5, True),
        ("cnn_accuracy_difference", abs(last_acc("cnn", "ours single 1 thread") - last_acc("cnn", "torch 1 thread")), 0.005, False),
    ]
targets += [
    ("layer_gemm_efficiency", layer_eff, 0.85, True),
    ("gemm_seam_vs_openblas", gemm, 0.9, True),
]
w("")
w("Targets (ratio = ours / reference; *accuracy_difference = |ours − torch| test accuracy after the last epoch, single 1 thread vs torch 1 thread; "
  "mlp_rss_vs_torch = our largest peak RSS over the four configurations / torch 1 thread's; layer_gemm_efficiency = bare GEMM time / layer time over all the layers above):")
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

if [[ $ALL -eq 1 ]]; then
  # The other benchmarks with their defaults (or their quick forms with --quick); their own tables go to their
  # own docs/benchmarks-*-latest.md files. A failed one is reported and the rest still run.
  TARGETS=$(mktemp /tmp/disttrain-targets.XXXXXX)
  grep '^target ' "$OUT" >"$TARGETS" || true
  quick=(); [[ $QUICK -eq 1 ]] && quick=(--quick)
  for script in bench_cluster.sh bench_accuracy.sh bench_modes.sh; do
    echo "# --all: scripts/$script ${quick[*]}" >&2
    log=$(mktemp /tmp/disttrain-bench-all.XXXXXX)
    if bash "scripts/$script" ${quick[@]+"${quick[@]}"} >"$log" 2>&1; then
      grep '^target ' "$log" >>"$TARGETS" || true
    else
      echo "# --all: scripts/$script failed; last lines:" >&2; tail -n 5 "$log" | sed 's/^/#   /' >&2
      echo "target $script ratio=n/a goal=n/a short (the script failed)" >>"$TARGETS"
    fi
    rm -f "$log"
  done
  echo
  echo "All targets (bench.sh, bench_cluster.sh, bench_accuracy.sh, bench_modes.sh):"
  cat "$TARGETS"
  rm -f "$TARGETS"
fi
