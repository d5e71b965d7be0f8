#!/usr/bin/env bash
# Where a multi-process step's CPU goes, per process: one short run of a seed+ps node and 2 worker nodes on
# 127.0.0.1 (as scripts/bench_cluster.sh starts them), with DISTTRAIN_STATS_FILE on each node (see
# NodeCommands.StartProcessStats). Prints samples/s, the parameters' sha256 prefix, and for each process the wall
# seconds, CPU seconds, GC counts (all / gen 1+ / gen 2), GC pause and bytes allocated between the job's start
# and the last epoch's end. Divide by the steps for per-step figures. Needs `dotnet build -c Release src/DistTrain.Cli`.
#
#   bash scripts/mp_step_stats.sh JOB.json EPOCHS [TAG]
#   # the job files of docs/benchmarks.md, "Per-step CPU of the multi-process step":
#   tests/DistTrain.Benchmarks/bin/Release/net10.0/DistTrain.Benchmarks train --workload mlp --epochs 1 --job-json >/tmp/w2.json
#   tests/DistTrain.Benchmarks/bin/Release/net10.0/DistTrain.Benchmarks train --workload mlp --epochs 1 --limit 2000 --batch 2 --job-json >/tmp/w2-b2.json
# ROOT=DIR runs the build in another checkout (for before/after); PERF=1 also records `perf record -a -g` over the window.
# CONFIG=FILE adds `--config FILE` (HOCON over base.conf) to every node; WORKER_WRAP="CMD ..." runs each worker node
# under that command (e.g. "nice -n 5", "taskset -c 1"). docs/benchmarks.md, session 6, used both.
set -uo pipefail
JOB=$(realpath "$1") EPOCHS=$2 TAG=${3:-run}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) # this checkout's scripts, whichever ROOT runs
cd "${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
DLL=src/DistTrain.Cli/bin/Release/net10.0/disttrain.dll
[[ -f $DLL ]] || { echo "mp_step_stats.sh: $DLL missing: dotnet build -c Release src/DistTrain.Cli" >&2; exit 1; }
D=$(mktemp -d "/tmp/mp-step-$TAG.XXXXXX"); mkdir -p "$D/out"
unset DISTTRAIN_ROLES DISTTRAIN_JOB DISTTRAIN_DATA_PLANE OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export DOTNET_PerfMapEnabled=${PERF:+1} DISTTRAIN_BLAS_THREADS=1 OPENBLAS_NUM_THREADS=1
PIDS=()
# The workers write their DISTTRAIN_STEP_TRACE files as they terminate: wait (up to 15 s) for every process group to
# be gone, so that step_timeline.py run right after this script sees every process's points.
cleanup() {
  local p i
  for p in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM -- "-$p" 2>/dev/null; done
  for p in ${PIDS[@]+"${PIDS[@]}"}; do
    for ((i = 0; i < 150; i++)); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.1; done
  done
}
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))
seed="akka.tcp://disttrain@127.0.0.1:$port"
DISTTRAIN_STATS_FILE=$D/ps.stats setsid dotnet "$DLL" node ${CONFIG:+--config "$(realpath "$CONFIG")"} --roles seed,ps --host 127.0.0.1 --port $port --seeds "$seed" --min-workers 2 \
  --job "$JOB" --out "$D/out" --log-level INFO >"$D/ps.log" 2>&1 </dev/null &
ps=$!; PIDS+=("$ps")
until grep -q 'node up: ' "$D/ps.log" 2>/dev/null; do sleep 0.1; kill -0 $ps 2>/dev/null || { echo "ps node died:"; tail "$D/ps.log"; exit 1; }; done
for n in w1 w2; do
  DISTTRAIN_STATS_FILE=$D/$n.stats setsid ${WORKER_WRAP:-} dotnet "$DLL" node ${CONFIG:+--config "$(realpath "$CONFIG")"} --roles worker --host 127.0.0.1 --port 0 --seeds "$seed" >"$D/$n.log" 2>&1 </dev/null &
  PIDS+=("$!")
done
# The loop starts no process while the job runs (log_has, nap: scripts/lib/bench-common.sh).
# shellcheck source=scripts/lib/bench-common.sh
source "$HERE/lib/bench-common.sh"
nap_init
t0="" t1="" perfpid=""
while kill -0 $ps 2>/dev/null; do
  if [[ -z $t0 ]] && log_has "$D/ps.log" ' started: '; then
    t0=$EPOCHREALTIME
    if [[ -n ${PERF:-} ]]; then perf record -F 999 -g -a -o "$D/perf.data" >"$D/perf.log" 2>&1 & perfpid=$!; fi
  fi
  if [[ -n $t0 && -z $t1 ]] && log_has "$D/ps.log" "epoch $EPOCHS/$EPOCHS " prefix; then t1=$EPOCHREALTIME; [[ -n $perfpid ]] && kill -INT $perfpid; fi
  nap 0.1
done
python3 - "$D" "${t0:-0}" "${t1:-0}" "$TAG" <<'PY'
import glob, json, sys
D, t0, t1, tag = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = json.load(open(glob.glob(D + '/out/**/summary.json', recursive=True)[0]))
m = [json.loads(l) for l in open(glob.glob(D + '/out/**/metrics.jsonl', recursive=True)[0]) if l.strip()]
print(f"{tag}: {s['samples_per_second']:.0f} samples/s, epochs {[round(x['samples_per_second']) for x in m]}, "
      f"sha {s.get('parameters_sha256', '')[:12]}, window {t1 - t0:.2f} s ({D})")
for n in ('ps', 'w1', 'w2'):
    rows = [list(map(float, l.split())) for l in open(f'{D}/{n}.stats') if l.strip()]
    a = max((r for r in rows if r[0] <= t0), key=lambda r: r[0], default=rows[0])
    b = min((r for r in rows if r[0] >= t1), key=lambda r: r[0], default=rows[-1])
    d = [b[i] - a[i] for i in range(len(a))]
    print(f"  {n}: wall {d[0]:.2f}s cpu {d[1]:.2f}s gc {d[2]:.0f} gen1+ {d[3]:.0f} gen2 {d[4]:.0f} pause {d[5]:.0f}ms alloc {d[6] / 1e6:.0f}MB")
PY
