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
