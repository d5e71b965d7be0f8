#!/usr/bin/env bash
# Transfer learning on Fashion-MNIST: pretrain the fashion-cnn preset on classes 0-4 (T-shirt/top,
# Trouser, Pullover, Dress, Coat), then learn classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) three ways:
#   transfer-head  the base frozen up to its 128-unit dense layer (the default cut), new head dense 128 -> 5
#   transfer-conv  only the base's conv blocks frozen (--cut 8), new head dense 128 -> 5 on the 3136 conv features
#   scratch        the same fashion-cnn trained from its seeded initialisation (last layer resized to 5)
# and print held-out accuracy per epoch with cumulative training time, then test accuracy and wall time.
#
#   bash scripts/transfer_fashion.sh                       # defaults below (~5 min on 2 busy cores)
#   bash scripts/transfer_fashion.sh --limit 0 --pre-epochs 3 --epochs 5   # all images (much longer)
#   bash scripts/transfer_fashion.sh --out /tmp/transfer.md --work /tmp/tr   # keep the runs; --report-only reprints
#
# "held-out" is the accuracy on --val-fraction of the 5-9 training images, which no run trains on, after
# each epoch (the coordinator evaluates the validation split every epoch; the test split only at the end).
# Seconds are training time (steps and the per-epoch validation) summed over epochs, from metrics.jsonl;
# wall is the whole `disttrain train` process (data loading, test evaluation, output files included).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PRE_LIMIT=10000   # pretraining images of classes 0-4 (of 30000); 0 = all
LIMIT=6000        # training images of classes 5-9 for every run (of 27000 after the held-out part); 0 = all
PRE_EPOCHS=2
EPOCHS=4
WORKERS=2
VAL=0.1
SEED=42
OUT=""
REPORT_ONLY=0
WORK="$(mktemp -d -t disttrain-transfer-XXXXXX)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) LIMIT="$2"; shift 2 ;;
    --pre-limit) PRE_LIMIT="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --pre-epochs) PRE_EPOCHS="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --work) WORK="$2"; mkdir -p "$WORK"; shift 2 ;;
    --report-only) REPORT_ONLY=1; shift ;;   # only print the table of an earlier run's --work folder
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ "$REPORT_ONLY" == 0 ]]; then
dotnet build -c Release src/DistTrain.Cli -v quiet -nologo >&2
DLL="src/DistTrain.Cli/bin/Release/net10.0/disttrain.dll"
limit_args() { if [[ "$1" != 0 ]]; then echo "--limit $1"; fi; }

run() { # name, then train options; records wall seconds
  local name="$1"; shift
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2046
  dotnet "$DLL" train --preset fashion-cnn --workers "$WORKERS" --seed "$SEED" --out "$WORK/$name" "$@" > "$WORK/$name.log" 2>&1 \
    || { echo "run $name failed; see $WORK/$name.log" >&2; tail -5 "$WORK/$name.log" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 -c "print(round($end - $start, 1))" > "$WORK/$name.wall"
  echo "  $name: $(grep -m1 '^test accuracy' "$WORK/$name.log")" >&2
}

echo "work folder $WORK" >&2
# shellcheck disable=SC2046
run base --classes 0-4 --epochs "$PRE_EPOCHS" --val-fraction 0 $(limit_args "$PRE_LIMIT")
COMMON=(--classes 5-9 --epochs "$EPOCHS" --train-fraction "$(python3 -c "print(1 - $VAL)")" --val-fraction "$VAL")
# shellcheck disable=SC2046
run transfer-head "${COMMON[@]}" --base "$WORK/base/checkpoint.dtck" --head 128 $(limit_args "$LIMIT")
# shellcheck disable=SC2046
run transfer-conv "${COMMON[@]}" --base "$WORK/base/checkpoint.dtck" --cut 8 --head 128 $(limit_args "$LIMIT")
# shellcheck disable=SC2046
run scratch "${COMMON[@]}" $(limit_args "$LIMIT")
fi

/usr/bin/python3 - "$WORK" "$PRE_LIMIT" "$LIMIT" "$PRE_EPOCHS" "$EPOCHS" "$WORKERS" "$VAL" "$SEED" "$OUT" <<'PY'
import json, sys, os, re
work, pre_limit, limit, pre_epochs, epochs, workers, val, seed, out = sys.argv[1:]
runs = ["transfer-head", "transfer-conv", "scratch"]
def metrics(name):
    with open(os.path.join(work, name, "metrics.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]
def summary(name):
    with open(os.path.join(work, name, "summary.json")) as f:
        return json.load(f)
def wall(name):
    with open(os.path.join(work, name + ".wall")) as f:
        return float(f.read())
def trainable(name):
    with open(os.path.join(work, name + ".log")) as f:
        for line in f:
            hit = re.search(r"^\s*model\s+([\d,]+) parameters(?: \(([\d,]+) frozen\))?", line)
            if hit:
                total = int(hit.group(1).replace(",", ""))
                frozen = int((hit.group(2) or "0").replace(",", ""))
                return f"{total - frozen:,} of {total:,}"
    return "?"
m = {r: metrics(r) for r in runs}
lines = []
lines.append("| epoch | " + " | ".join(f"{r} held-out acc | {r} s" for r in runs) + " |")
lines.append("|---:|" + "---:|---:|" * len(runs))
for e in range(int(epochs)):
    cells = []
    for r in runs:
        if e < len(m[r]):
            acc = m[r][e]["val_accuracy"]
            secs = sum(x["seconds"] for x in m[r][: e + 1])
            cells += [f"{acc:.4f}" if acc is not None else "-", f"{secs:.1f}"]
        else:
            cells += ["-", "-"]
    lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
lines.append("")
lines.append("| run | trained parameters | test accuracy (5000 images of classes 5-9) | training s | wall s |")
lines.append("|---|---|---:|---:|---:|")
b = summary("base")
lines.append(f"| base (classes 0-4, {pre_epochs} epochs) | {trainable('base')} | {b['test_accuracy']:.4f} (classes 0-4) | {b['seconds']:.1f} | {wall('base'):.1f} |")
for r in runs:
    s = summary(r)
    lines.append(f"| {r} | {trainable(r)} | {s['test_accuracy']:.4f} | {sum(x['seconds'] for x in m[r]):.1f} | {wall(r):.1f} |")
lines.append("")
lines.append(f"pretrain limit {pre_limit or 'all'}, transfer/scratch limit {limit or 'all'} training images, {epochs} epochs, "
             f"batch 128, Adam 1e-3, {workers} workers, seed {seed}, held-out {val} of the 5-9 training images")
text = "\n".join(lines)
print(text)
if out:
    with open(out, "w") as f:
        f.write(text + "\n")
PY
