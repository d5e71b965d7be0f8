# shellcheck shell=bash
# Shared by scripts/bench.sh and scripts/bench_cluster.sh (source it; it defines functions and variables only).

# bench_prerequisites NAME: installs PyTorch, OpenBLAS and Fashion-MNIST from Debian if missing, and sets
# PY to Debian's python3 (the one python3-torch installs into, not another python3 on PATH).
bench_prerequisites() {
  local name=$1 pkg missing=()
  for pkg in python3-torch libopenblas0-pthread dataset-fashion-mnist; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "# installing ${missing[*]}" >&2
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  PY=/usr/bin/python3
  [[ -x $PY ]] || { echo "$name: $PY not found (PyTorch must run with Debian's python3)" >&2; exit 1; }
}

# The OpenBLAS settings some machines here set for old builds; every benchmark command runs without them.
# shellcheck disable=SC2034 # used by the scripts that source this file
CORETYPE_NOTE="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-<unset>} in the caller's environment; both unset for every benchmark command"

# bench_machine: one line naming the CPU, cores, .NET SDK, torch, OpenBLAS and the kernel it picked.
bench_machine() {
  local corename
  corename=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" -c 'import ctypes; l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())' 2>/dev/null || echo '?')
  echo "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; .NET SDK $(dotnet --version); $("$PY" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || echo 'torch ?'); OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?') (pthread, kernel $corename)"
}

# Polling a running benchmark without starting a process: every fork and exec of a cat/sed/awk/grep/sleep takes
# CPU from the job being measured. Measured here: bench_cluster.sh's former loop (3 processes, 2 log checks, every
# 0.2 s) with external commands used 0.94 CPU s per 10 s (~5% of this 2-core machine); with these, 0.09 s.
# proc_read PID VAR: sets VAR to "cpu_ticks vmhwm_kb" (utime + stime of the process; peak RSS) from /proc, or leaves
# it as it was once the process exited (a zombie, exited but not yet reaped, has no memory lines).
proc_read() {
  local pid=$1 var=$2 stat="" k v hwm="" f
  { IFS= read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 0
  { while read -r k v _; do [[ $k == VmHWM: ]] && { hwm=$v; break; }; done <"/proc/$pid/status"; } 2>/dev/null
  [[ -n $hwm ]] || return 0
  # Fields after the ") " that ends the command name: state is the first, utime the 12th, stime the 13th.
  read -r -a f <<<"${stat##*) }"
  printf -v "$var" '%s %s' "$(( f[11] + f[12] ))" "$hwm"
}
# log_has FILE TEXT [prefix]: whether a line of FILE contains TEXT (starts with it, given "prefix"), in bash alone.
log_has() {
  local line
  while IFS= read -r line; do
    if [[ ${3:-} == prefix ]]; then [[ $line == "$2"* ]] && return 0; else [[ $line == *"$2"* ]] && return 0; fi
  done <"$1"
  return 1
}
# nap_init, then nap SECONDS: sleeps without starting /usr/bin/sleep (a read that times out on a pipe nobody writes to).
nap_init() { exec {NAPFD}<> <(:); }
nap() { read -rt "$1" -u "$NAPFD" _ || true; }
