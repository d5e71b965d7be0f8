#!/usr/bin/env bash
# Runs a DistTrain cluster on this machine as separate processes on 127.0.0.1 -- one seed node, one
# parameter-server (ps) node and N worker nodes -- submits one job to it, prints the result, and stops
# every process it started (also on Ctrl-C, on an error, or when it is killed with SIGTERM).
#
#   scripts/cluster-local.sh                                  # penguins on 2 worker nodes
#   scripts/cluster-local.sh -n 3 --preset fashion-mlp --epochs 2 --batch-size 128
#   scripts/cluster-local.sh --no-build -- --lr 0.05 --seed 7  # after `--`, everything goes to submit
#
# Options (anything it does not know is passed on to `disttrain submit`, as is everything after `--`):
#   -n, --workers N        worker nodes (default 2)
#   --actors K             worker actors per worker node (default 1; `disttrain node --workers K`)
#   -p, --preset NAME      job preset (default penguins)
#   --out DIR              folder for logs/ and results/ (default out/cluster-local at the repo root)
#   --logs DIR             node logs (default OUT/logs): seed.log, ps.log, worker-1.log, ..., submit.log
#   --data PATH            data path for the ps and worker nodes (`disttrain node --data`)
#   --base-port P          first port to try (default 4053); ports in use are skipped
#   --join-timeout S       seconds a node may take to print `node up:` (default 90)
#   --timeout S            seconds the job may take (default 3600)
#   --disttrain PATH       run this disttrain (a .dll is run with `dotnet`) instead of building
#   --no-build             use the existing Release build of src/DistTrain.Cli
#   -h, --help             this text
#
# The cluster processes share the machine's cores: unless DISTTRAIN_BLAS_THREADS / OPENBLAS_NUM_THREADS
# are set, each node gets max(1, cores / worker actors) OpenBLAS threads.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "${BASH_SOURCE[0]}"; }
die() { echo "cluster-local: $*" >&2; exit 1; }
need_int() { if [[ ! "$2" =~ ^[0-9]{1,9}$ ]] || (( 10#$2 < $3 )); then die "$1 needs a whole number >= $3 (got '$2')"; fi; }
need_arg() { (( $2 >= 2 )) || die "$1 needs a value"; }

workers=2
actors=1
preset=penguins
out="$root/out/cluster-local"
logs=""
data=""
base_port=4053
join_timeout=90
job_timeout=3600
disttrain_path=""
build=1
extra=()

while (( $# > 0 )); do
  case "$1" in
    -n|--workers) need_arg "$1" $#; need_int "$1" "$2" 1; workers=$((10#$2)); shift 2 ;;
    --actors) need_arg "$1" $#; need_int "$1" "$2" 1; actors=$((10#$2)); shift 2 ;;
    -p|--preset) need_arg "$1" $#; preset="$2"; shift 2 ;;
    --out) need_arg "$1" $#; out="$2"; shift 2 ;;
    --logs) need_arg "$1" $#; logs="$2"; shift 2 ;;
    --data) need_arg "$1" $#; data="$2"; shift 2 ;;
    --base-port) need_arg "$1" $#; need_int "$1" "$2" 1; base_port=$((10#$2)); shift 2 ;;
    --join-timeout) need_arg "$1" $#; need_int "$1" "$2" 1; join_timeout=$((10#$2)); shift 2 ;;
    --timeout) need_arg "$1" $#; need_int "$1" "$2" 1; job_timeout=$((10#$2)); shift 2 ;;
    --disttrain) need_arg "$1" $#; disttrain_path="$2"; build=0; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra+=("$@"); break ;;
    *) extra+=("$1"); shift ;;
  esac
done
(( base_port + workers + 2 <= 65535 )) || die "--base-port $base_port leaves no room for $((workers + 2)) ports"
[[ -n "$preset" ]] || die "--preset needs a name"

logs="${logs:-$out/logs}"
results="$out/results"
mkdir -p "$logs" "$results"
logs="$(cd "$logs" && pwd)"
results="$(cd "$results" && pwd)"
rm -f "$logs"/*.log

# Node options come from the command line below only: a DISTTRAIN_PRESET left in the caller's
# environment would otherwise reach the seed and the workers too.
unset DISTTRAIN_ROLES DISTTRAIN_HOST DISTTRAIN_PORT DISTTRAIN_PUBLIC_HOST DISTTRAIN_SEEDS DISTTRAIN_WORKERS \
  DISTTRAIN_MIN_WORKERS DISTTRAIN_JOB DISTTRAIN_PRESET DISTTRAIN_OUT DISTTRAIN_DATA

cores="$(nproc 2>/dev/null || echo 1)"
blas_threads=$(( cores / (workers * actors) ))
(( blas_threads >= 1 )) || blas_threads=1
export DISTTRAIN_BLAS_THREADS="${DISTTRAIN_BLAS_THREADS:-$blas_threads}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$DISTTRAIN_BLAS_THREADS}"

# ---- the disttrain command -------------------------------------------------------------------------
if [[ -n "$disttrain_path" ]]; then
  [[ -e "$disttrain_path" ]] || die "--disttrain $disttrain_path: no such file"
  if [[ "$disttrain_path" == *.dll ]]; then disttrain=(dotnet "$disttrain_path"); else disttrain=("$disttrain_path"); fi
else
  if (( build )); then
    echo "building src/DistTrain.Cli (Release) ..."
    if ! dotnet build -c Release "$root/src/DistTrain.Cli" -nologo >"$logs/build.log" 2>&1; then
      tail -n 30 "$logs/build.log" >&2
      die "build failed (full log: $logs/build.log)"
    fi
  fi
  dll=""
  for candidate in "$root"/src/DistTrain.Cli/bin/Release/net*/disttrain.dll; do
    if [[ -f "$candidate" && ( -z "$dll" || "$candidate" -nt "$dll" ) ]]; then dll="$candidate"; fi
  done
  [[ -n "$dll" ]] || die "no Release build of src/DistTrain.Cli found; run without --no-build"
  disttrain=(dotnet "$dll")
fi

# ---- processes and cleanup ---------------------------------------------------------------------------
seed_pid=""
other_pids=()   # ps, workers and submit: stopped before the seed, so they can leave through it
names=()        # "pid name" pairs, for messages

name_of() { local entry; for entry in "${names[@]}"; do [[ "${entry%% *}" == "$1" ]] && { echo "${entry#* }"; return; }; done; echo "$1"; }
alive() { kill -0 "$1" 2>/dev/null; }

# Sends SIGTERM to the given PIDs, waits up to $grace seconds for them to exit, then SIGKILLs the rest.
stop_pids() {
  local grace=$1; shift
  local pid deadline=$((SECONDS + grace)) any
  for pid in "$@"; do alive "$pid" && kill -TERM "$pid" 2>/dev/null; done
  while :; do
    any=0
    for pid in "$@"; do alive "$pid" && any=1; done
    (( any && SECONDS < deadline )) || break
    sleep 0.2
  done
  for pid in "$@"; do
    if alive "$pid"; then
      echo "cluster-local: $(name_of "$pid") did not stop within ${grace}s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local count=0 pid
  for pid in ${seed_pid:+"$seed_pid"} ${other_pids[@]+"${other_pids[@]}"}; do alive "$pid" && count=$((count + 1)); done
  if (( count > 0 )); then
    echo "stopping $count process(es) ..."
    (( ${#other_pids[@]} == 0 )) || stop_pids 30 "${other_pids[@]}"
    [[ -z "$seed_pid" ]] || stop_pids 30 "$seed_pid"
  fi
  if (( rc != 0 )); then echo "cluster-local: failed (exit $rc); logs in $logs" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts `disttrain node ARGS...` in the background with its output in $logs/NAME.log; sets $started.
started=""
start_node() {
  local name=$1; shift
  "${disttrain[@]}" node "$@" >"$logs/$name.log" 2>&1 &
  started=$!
  names+=("$started $name")
}

show_log() { echo "--- last lines of $1 ---" >&2; tail -n 20 "$1" >&2 || true; }

# Waits until node NAME (PID) has printed `node up:`.
wait_up() {
  local name=$1 pid=$2 deadline=$((SECONDS + join_timeout))
  until grep -q 'node up: ' "$logs/$name.log" 2>/dev/null; do
    if ! alive "$pid"; then
      show_log "$logs/$name.log"
      die "$name exited before joining the cluster (log: $logs/$name.log)"
    fi
    if (( SECONDS >= deadline )); then
      show_log "$logs/$name.log"
      die "$name did not print 'node up:' within ${join_timeout}s (log: $logs/$name.log)"
    fi
    sleep 0.2
  done
  echo "  $name (pid $pid): $(grep -m 1 -o 'node up: .*' "$logs/$name.log")"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
taken_ports=" "
next_port=$base_port
# Sets $port to the next port from $next_port on that nothing listens on and this script has not given out.
pick_port() {
  while port_in_use "$next_port" || [[ "$taken_ports" == *" $next_port "* ]]; do
    next_port=$((next_port + 1))
    (( next_port <= 65535 )) || die "no free port from $base_port up"
  done
  port=$next_port
  taken_ports+="$port "
  next_port=$((next_port + 1))
}

# ---- start the cluster ---------------------------------------------------------------------------------
port=""
pick_port
seed_addr="akka.tcp://disttrain@127.0.0.1:$port"
echo "starting seed on $seed_addr (logs: $logs)"
start_node seed --roles seed --host 127.0.0.1 --port "$port" --seeds "$seed_addr"
seed_pid=$started
# The others start only once the seed listens: contacting it earlier gets its address gated for 5 s.
wait_up seed "$seed_pid"

data_args=()
[[ -z "$data" ]] || data_args=(--data "$data")

pick_port
echo "starting ps on port $port and $workers worker node(s) x $actors actor(s), $DISTTRAIN_BLAS_THREADS BLAS thread(s) each"
start_node ps --roles ps --host 127.0.0.1 --port "$port" --seeds "$seed_addr" \
  --min-workers "$((workers * actors))" --out "$results" ${data_args[@]+"${data_args[@]}"}
ps_pid=$started
other_pids+=("$ps_pid")
worker_pids=()
for (( i = 1; i <= workers; i++ )); do
  pick_port
  start_node "worker-$i" --roles worker --host 127.0.0.1 --port "$port" --seeds "$seed_addr" \
    --workers "$actors" ${data_args[@]+"${data_args[@]}"}
  worker_pids+=("$started")
  other_pids+=("$started")
done
wait_up ps "$ps_pid"
for (( i = 1; i <= workers; i++ )); do wait_up "worker-$i" "${worker_pids[$((i - 1))]}"; done

# ---- run the job -----------------------------------------------------------------------------------------
touch "$logs/.job-started"
echo "submitting preset $preset${extra[*]:+ with ${extra[*]}}"
"${disttrain[@]}" submit --seed "$seed_addr" --preset "$preset" ${extra[@]+"${extra[@]}"} >"$logs/submit.log" 2>&1 &
submit_pid=$!
names+=("$submit_pid submit")
other_pids+=("$submit_pid")

# Stream submit's output while watching the nodes. The ps node dying fails the run at once; a worker
# (or the seed) dying is reported and the job goes on: the coordinator re-runs the step on the workers
# that remain, which is also how to try fault tolerance by hand (`kill` a worker's PID).
shown=0
show_new_output() {
  local size
  size=$(stat -c %s "$logs/submit.log" 2>/dev/null || echo 0)
  if (( size > shown )); then
    # (head may close the pipe early when the file grew meanwhile: not an error)
    tail -c "+$((shown + 1))" "$logs/submit.log" | head -c "$((size - shown))" || true
    shown=$size
  fi
}
reported_dead=" "
deadline=$((SECONDS + job_timeout))
while alive "$submit_pid"; do
  show_new_output
  if ! alive "$ps_pid"; then
    show_log "$logs/ps.log"
    die "the ps node exited while the job was running (log: $logs/ps.log)"
  fi
  for pid in "$seed_pid" "${worker_pids[@]}"; do
    if [[ "$reported_dead" != *" $pid "* ]] && ! alive "$pid"; then
      reported_dead+="$pid "
      echo "cluster-local: $(name_of "$pid") (pid $pid) exited; the job continues without it (log: $logs/$(name_of "$pid").log)" >&2
    fi
  done
  if (( SECONDS >= deadline )); then
    die "the job did not finish within ${job_timeout}s (raise --timeout)"
  fi
  sleep 0.5
done
submit_rc=0
wait "$submit_pid" || submit_rc=$?
show_new_output
if (( submit_rc != 0 )); then
  show_log "$logs/ps.log"
  die "disttrain submit exited with $submit_rc (logs: $logs)"
fi

# ---- the result -------------------------------------------------------------------------------------------
# The ps node writes summary.json after the coordinator reports completion, which can be a moment after
# submit returns.
summary=""
for (( tries = 0; tries < 100; tries++ )); do
  summary="$(find "$results" -name summary.json -newer "$logs/.job-started" -printf '%T@ %p\n' 2>/dev/null \
    | sort -n | tail -n 1 | cut -d ' ' -f 2-)"
  [[ -z "$summary" ]] || break
  alive "$ps_pid" || break
  sleep 0.2
done
[[ -n "$summary" ]] || { show_log "$logs/ps.log"; die "the job finished but no summary.json appeared under $results"; }

# Reads a top-level number or string field from a JSON file (no jq needed).
json_field() {
  { grep -o "\"$2\"[[:space:]]*:[[:space:]]*[^,}]*" "$1" || true; } | head -n 1 \
    | sed -E 's/^[^:]*:[[:space:]]*//; s/^"//; s/"[[:space:]]*$//'
}
echo
echo "test_accuracy      $(json_field "$summary" test_accuracy)"
echo "parameters_sha256  $(json_field "$summary" parameters_sha256)"
echo "results            $(dirname "$summary")"
echo "logs               $logs"
