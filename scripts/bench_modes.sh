#!/usr/bin/env bash
# Communication modes side by side on W2 (fashion-mlp: 784-256-128-10, batch 128, Adam 1e-3), local mode.
#
#   bash scripts/bench_modes.sh            # 3 epochs, all 60000 training images, 2 workers, 1 round
#   bash scripts/bench_modes.sh --quick    # smoke test: 1 epoch, first 10000 images
#   bash scripts/bench_modes.sh --rounds 3 --epochs 2 --workers 2 --out /tmp/modes.md
#
# Runs `disttrain train --preset fashion-mlp` (Release) once per configuration and round, in rotation:
#   sync | async | ssp (staleness 2) | sync + fp16 gradients with error feedback | local SGD (k = 4)
#   | async and ssp without staleness compensation (--stale-compensation none; the default is lookahead)
# and prints a markdown table: samples/s (training steps only, all epochs; median over rounds), test
# accuracy after the last epoch, its difference to sync in points (goal: within 1 point), and the largest
# staleness seen (async/ssp). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for every run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS=1
EPOCHS=3
LIMIT=""
WORKERS=2
OUT=""
QUICK=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_modes.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $QUICK -eq 1 ]]; then EPOCHS=1; LIMIT=${LIMIT:-10000}; fi

[[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]] || {
  echo "bench_modes.sh: Fashion-MNIST missing; apt-get install dataset-fashion-mnist" >&2; exit 1; }

echo "# building Release" >&2
dotnet build -c Release src/DistTrain.Cli -v quiet -nologo >&2
CLI="$ROOT/src/DistTrain.Cli/bin/Release/net10.0/disttrain.dll"

NAMES=("sync" "async" "ssp s=2" "sync + fp16 EF" "local SGD k=4" "async, uncompensated" "ssp s=2, uncompensated")
ARGS=("--mode sync" "--mode async" "--mode ssp --staleness 2" "--mode sync --compress fp16" "--mode local-sgd --local-steps 4"
  "--mode async --stale-compensation none" "--mode ssp --staleness 2 --stale-compensation none")

WORK=$(mktemp -d /tmp/bench-modes.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
  for i in "${!NAMES[@]}"; do
    dir="$WORK/r$r-c$i"
    echo "# round $r: ${NAMES[$i]}" >&2
    # shellcheck disable=SC2086 # ARGS entries are option lists
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE dotnet "$CLI" train --preset fashion-mlp --workers "$WORKERS" --epochs "$EPOCHS" \
      ${LIMIT:+--limit "$LIMIT"} --out "$dir" ${ARGS[$i]} > "$WORK/r$r-c$i.log" 2>&1 \
      || { echo "bench_modes.sh: ${NAMES[$i]} failed:" >&2; tail -20 "$WORK/r$r-c$i.log" >&2; exit 1; }
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

TABLE=$(/usr/bin/python3 - "$WORK" "$ROUNDS" "${NAMES[@]}" <<'PY'
import json, re, statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rows = []
for i, name in enumerate(names):
    rates, accs, stale = [], [], []
    for r in range(1, rounds + 1):
        s = json.load(open(f"{work}/r{r}-c{i}/summary.json"))
        rates.append(s["samples_per_second"]); accs.append(s["test_accuracy"])
        log = open(f"{work}/r{r}-c{i}.log").read()
        stale += [int(m) for m in re.findall(r"staleness max (\d+)", log)]
    rows.append((name, statistics.median(rates), rates, statistics.median(accs), accs, max(stale) if stale else None))
sync_acc = rows[0][3]
print("| mode | samples/s (median) | all rounds | test accuracy (median) | all rounds | Δ vs sync (points) | max staleness |")
print("|---|--:|---|--:|---|--:|--:|")
for name, rate, rates, acc, accs, st in rows:
    delta = (acc - sync_acc) * 100
    print(f"| {name} | {rate:,.0f} | {' / '.join(f'{x:,.0f}' for x in rates)} | {acc:.4f} | {' / '.join(f'{x:.4f}' for x in accs)} | {delta:+.2f} | {'' if st is None else st} |")
for name, rate, rates, acc, accs, st in rows[1:]:
    ok = "ok" if abs(acc - sync_acc) <= 0.01 else "short"
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    print(f"target accuracy_vs_sync_{slug} ratio={abs(acc - sync_acc):.4f} goal=0.01 {ok}", file=sys.stderr)
PY
)
HEADER="W2, $EPOCHS epoch(s), ${LIMIT:-60000} training images, $WORKERS workers, local mode, $ROUNDS round(s); load average $LOAD_BEFORE before, $LOAD_AFTER after; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "$HEADER"
echo
echo "$TABLE"
if [[ -n "$OUT" ]]; then { echo "$HEADER"; echo; echo "$TABLE"; } > "$OUT"; fi
