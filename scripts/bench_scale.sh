#!/usr/bin/env bash
# Multi-process scaling over bandwidth-limited links: 1 ps node + N worker processes, each in its own network
# namespace behind a veth to one bridge, every link shaped with tc tbf (netem is not available on this kernel,
# so there is no added delay or loss: DESIGN.md §7). Needs root (ip netns, tc).
#
#   sudo bash scripts/bench_scale.sh                    # N = 4 and 8, links 1gbit and 100mbit, W2, 1 epoch, 10000 images
#   sudo bash scripts/bench_scale.sh --workers "4" --rates "100mbit" --limit 2560 --configs "sync fp16"
#
# Options: --workers "N ..." (4 8), --rates "RATE ..." (1gbit 100mbit; tc rate syntax), --epochs E (1),
# --limit N (10000 training images; 0 = all), --configs "C ..." (sync fp16 local-sgd: synchronous, fp16
# gradients with error feedback, local SGD averaging every 4 steps), --timeout S (900 per job),
# --out FILE (docs/benchmarks-scale-latest.md).
#
# Topology: bridge dps-br0 (10.79.0.1/24); namespace dps-ps (10.79.0.10) runs `disttrain node --roles seed,ps`
# and namespaces dps-w1..dps-wN (10.79.0.21..) run one `disttrain node --roles worker` each (1 worker actor,
# 1 OpenBLAS thread). Each namespace's link is shaped in both directions: tbf on the namespace's eth0 (what it
# sends) and on the bridge-side veth (what it receives), so every node sits behind a RATE port of a switch.
# The job is the W2 MLP of `DistTrain.Benchmarks train --job-json` (global batch 128 split over the workers).
# Every node runs with DISTTRAIN_SHARED_MEMORY=off: network namespaces share this machine's /dev/shm, so the data
# plane would otherwise move the payloads through shared-memory rings beside the shaped links (as it should between
# two processes on one real host), and only the frame heads would cross them. A run that still used a ring is
# marked in the table.
#
# Prints one table row per (workers, rate) with samples/s and the test accuracy from the ps node's summary.json
# for each communication configuration side by side. Everything it creates (namespaces, bridge, processes, an iptables FORWARD rule
# when one was needed) is removed when it ends, fails or is interrupted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WORKERS="4 8"
RATES="1gbit 100mbit"
EPOCHS=1
LIMIT=10000
JOB_TIMEOUT=900
OUT="docs/benchmarks-scale-latest.md"
CONFIGS="sync fp16 local-sgd"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) WORKERS="$2"; shift 2 ;;
    --rates) RATES="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --timeout) JOB_TIMEOUT="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --configs) CONFIGS="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench_scale.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "bench_scale.sh: needs root (ip netns, tc)" >&2; exit 1; }
for n in $WORKERS; do [[ $n =~ ^[1-9][0-9]?$ && $n -le 30 ]] || { echo "bench_scale.sh: --workers takes counts 1-30 (got '$n')" >&2; exit 2; }; done
for r in $RATES; do [[ $r =~ ^[0-9]+(k|m|g)?bit$ ]] || { echo "bench_scale.sh: --rates takes tc rates like 1gbit or 100mbit (got '$r')" >&2; exit 2; }; done
for v in EPOCHS JOB_TIMEOUT; do [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench_scale.sh: --${v,,} needs a whole number >= 1" >&2; exit 2; }; done
[[ $LIMIT =~ ^[0-9]+$ ]] || { echo "bench_scale.sh: --limit needs a whole number" >&2; exit 2; }
command -v tc >/dev/null && command -v ip >/dev/null || { echo "bench_scale.sh: needs ip and tc (iproute2)" >&2; exit 1; }

echo "# building Release" >&2
dotnet build -c Release src/DistTrain.Cli -v quiet -nologo >&2
dotnet build -c Release tests/DistTrain.Benchmarks -v quiet -nologo >&2
BIN=tests/DistTrain.Benchmarks/bin/Release/net10.0/DistTrain.Benchmarks
DLL="$ROOT/src/DistTrain.Cli/bin/Release/net10.0/disttrain.dll"
unset DISTTRAIN_ROLES DISTTRAIN_HOST DISTTRAIN_PORT DISTTRAIN_PUBLIC_HOST DISTTRAIN_SEEDS DISTTRAIN_WORKERS \
  DISTTRAIN_MIN_WORKERS DISTTRAIN_JOB DISTTRAIN_PRESET DISTTRAIN_OUT DISTTRAIN_DATA DISTTRAIN_DATA_PLANE OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

WORK=$(mktemp -d /tmp/disttrain-bench-scale.XXXXXX)
BR=dps-br0
NETS=()
PIDS=()
FWD_RULE=0
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in ${PIDS[@]+"${PIDS[@]}"}; do kill -KILL "$p" 2>/dev/null || true; done
  for n in ${NETS[@]+"${NETS[@]}"}; do ip netns del "$n" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  (( FWD_RULE )) && iptables -D FORWARD -i "$BR" -j ACCEPT 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip link show "$BR" >/dev/null 2>&1 && { echo "bench_scale.sh: $BR exists already (another run? remove it with: ip link del $BR)" >&2; exit 1; }
ip link add "$BR" type bridge
ip addr add 10.79.0.1/24 dev "$BR"
ip link set "$BR" up
# Bridged traffic passes iptables when br_netfilter is loaded; Docker sets FORWARD to DROP.
if command -v iptables >/dev/null && [[ $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 0) == 1 ]]; then
  iptables -I FORWARD -i "$BR" -j ACCEPT && FWD_RULE=1
fi

# add_node NAME INDEX IP: a namespace with eth0 on the bridge.
add_node() {
  local ns=$1 i=$2 addr=$3
  ip netns add "$ns"; NETS+=("$ns")
  ip link add "dps-v$i" type veth peer name eth0 netns "$ns"
  ip link set "dps-v$i" master "$BR" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}
# shape INDEX NS RATE: tbf both ways on that node's link (replacing any earlier shaping).
shape() {
  local i=$1 ns=$2 rate=$3 burst
  # A burst of at least rate/HZ-ish bytes keeps tbf accurate at high rates; 1 Mbit of burst at 1 Gbit/s.
  burst=$([[ $rate == *gbit ]] && echo 1mbit || echo 256kbit)
  ip netns exec "$ns" tc qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 100ms
  tc qdisc replace dev "dps-v$i" root tbf rate "$rate" burst "$burst" latency 100ms
}

MAXW=0
for n in $WORKERS; do (( n > MAXW )) && MAXW=$n; done
add_node dps-ps 0 10.79.0.10
for ((i = 1; i <= MAXW; i++)); do add_node "dps-w$i" "$i" "10.79.0.$((20 + i))"; done

JOB="$WORK/job.json"
args=(--workload mlp --epochs "$EPOCHS")
(( LIMIT > 0 )) && args+=(--limit "$LIMIT")
"$BIN" train "${args[@]}" --job-json >"$JOB"
# One job file per communication configuration: the same job with its "communication" block.
for config in $CONFIGS; do
  case "$config" in
    sync) comm='null' ;;
    fp16) comm='{"mode": "sync", "compression": "fp16"}' ;;
    local-sgd) comm='{"mode": "local_sgd", "local_steps": 4}' ;;
    *) echo "bench_scale.sh: unknown configuration '$config' (sync, fp16, local-sgd)" >&2; exit 2 ;;
  esac
  /usr/bin/python3 - "$JOB" "$WORK/job-$config.json" "$comm" "$config" <<'PYEOF'
import json, sys
src, dst, comm, name = sys.argv[1:]
job = json.load(open(src))
job["communication"] = json.loads(comm)
job["job_id"] = f"{job['job_id']}-{name}"
json.dump(job, open(dst, "w"), indent=1)
PYEOF
done

RAW="$WORK/raw.jsonl"
: >"$RAW"
run_one() {  # WORKERS RATE CONFIG -> one JSON line on $RAW, or a null result
  local n=$1 rate=$2 config=$3 dir="$WORK/run-$1-$2-$3" seed ps i pids=() deadline rc=0
  mkdir -p "$dir/out"
  shape 0 dps-ps "$rate"
  for ((i = 1; i <= n; i++)); do shape "$i" "dps-w$i" "$rate"; done
  seed="akka.tcp://disttrain@10.79.0.10:4053"
  ip netns exec dps-ps env DISTTRAIN_BLAS_THREADS=1 OPENBLAS_NUM_THREADS=1 DISTTRAIN_SHARED_MEMORY=off dotnet "$DLL" node --roles seed,ps --host 10.79.0.10 --port 4053 \
    --seeds "$seed" --min-workers "$n" --job "$WORK/job-$config.json" --out "$dir/out" --log-level INFO >"$dir/ps.log" 2>&1 &
  ps=$!; PIDS+=("$ps")
  deadline=$((SECONDS + 90))
  until grep -qs 'node up: ' "$dir/ps.log"; do
    kill -0 "$ps" 2>/dev/null && (( SECONDS < deadline )) || { echo "#   the ps node did not come up" >&2; tail -n 5 "$dir/ps.log" >&2; return 1; }
    sleep 0.2
  done
  for ((i = 1; i <= n; i++)); do
    ip netns exec "dps-w$i" env DISTTRAIN_BLAS_THREADS=1 OPENBLAS_NUM_THREADS=1 DISTTRAIN_SHARED_MEMORY=off dotnet "$DLL" node --roles worker \
      --host "10.79.0.$((20 + i))" --port 4053 --seeds "$seed" >"$dir/worker-$i.log" 2>&1 &
    pids+=($!); PIDS+=($!)
    # One at a time: eight .NET processes starting (JIT) at once on 2 busy cores delayed heartbeats past the
    # failure detector, and the split-brain resolver downed nodes before the job began.
    deadline=$((SECONDS + 90))
    until grep -qs 'node up: ' "$dir/worker-$i.log" || (( SECONDS >= deadline )); do sleep 0.2; done
  done
  deadline=$((SECONDS + JOB_TIMEOUT))
  while kill -0 "$ps" 2>/dev/null; do
    (( SECONDS < deadline )) || { echo "#   the job did not finish within ${JOB_TIMEOUT}s" >&2; kill -TERM "$ps"; rc=1; break; }
    sleep 0.5
  done
  wait "$ps" || rc=$?
  for i in "${pids[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for i in "${pids[@]}"; do wait "$i" 2>/dev/null || true; done
  mkdir -p "$ROOT/out/bench-scale/logs/$n-$rate-$config" && cp "$dir"/*.log "$ROOT/out/bench-scale/logs/$n-$rate-$config/"
  local summary
  summary=$(find "$dir/out" -name summary.json | head -n 1)
  if (( rc != 0 )) || [[ -z $summary ]]; then
    echo "#   run failed (exit $rc); logs in out/bench-scale/logs/$n-$rate-$config" >&2
    printf '{"workers": %d, "rate": "%s", "config": "%s", "result": null}\n' "$n" "$rate" "$config" >>"$RAW"
    return 0
  fi
  local connected rings
  connected=$(grep -c 'data plane: connected to' "$dir/ps.log" || true)
  # Must stay 0: a payload through a shared-memory ring would bypass the shaped link.
  rings=$(grep 'data plane: connected to' "$dir/ps.log" | grep -c 'shared-memory ring' || true)
  printf '{"workers": %d, "rate": "%s", "config": "%s", "data_plane_connections_from_ps": %d, "shared_memory_rings_from_ps": %d, "result": %s}\n' \
    "$n" "$rate" "$config" "$connected" "$rings" "$(tr -d '\n' <"$summary")" >>"$RAW"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $WORKERS; do
  for rate in $RATES; do
    for config in $CONFIGS; do
      echo "# $n workers, $rate links, $config" >&2
      run_one "$n" "$rate" "$config"
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$(dirname "$OUT")"
/usr/bin/python3 - "$RAW" "$OUT" "$EPOCHS" "$LIMIT" "$LOAD_BEFORE" "$LOAD_AFTER" "$CONFIGS" <<'PYEOF'
import json, sys, datetime
raw, out, epochs, limit, before, after, configs = sys.argv[1:]
configs = configs.split()
rows = [json.loads(l) for l in open(raw) if l.strip()]
head = "| workers | link | " + " | ".join(f"samples/s {c} | test accuracy {c}" for c in configs) + " |"
lines = [f"W2 MLP, {epochs} epoch(s), {limit if limit != '0' else 60000} training images, global batch 128 over the workers, "
         f"tbf-shaped links both ways, 1 ps + N worker processes in network namespaces; {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}. "
         f"Load average before: {before}; after: {after}. Configurations: sync = synchronous; fp16 = fp16 gradients with "
         f"error feedback; local-sgd = local SGD, models averaged every 4 steps.", "",
         head, "|--:|---|" + "--:|--:|" * len(configs)]
keys = []
for r in rows:
    k = (r["workers"], r["rate"])
    if k not in keys: keys.append(k)
for k in keys:
    cells = []
    for c in configs:
        r = next((x for x in rows if (x["workers"], x["rate"]) == k and x.get("config") == c), None)
        res = r["result"] if r else None
        ring = " (shared-memory ring: link bypassed)" if r and r.get("shared_memory_rings_from_ps") else ""
        cells.append(f"{res['samples_per_second']:,.0f}{ring}" if res else ("failed" if r else "not run"))
        cells.append(f"{res['test_accuracy']:.4f}" if res else ("failed" if r else "not run"))
    lines.append(f"| {k[0]} | {k[1]} | " + " | ".join(cells) + " |")
lines += ["", "Raw results:", "", "```"] + [json.dumps(r) for r in rows] + ["```"]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text.split("Raw results")[0].rstrip())
PYEOF
echo "# table written to $OUT" >&2
