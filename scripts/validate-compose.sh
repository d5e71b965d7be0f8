#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker daemon: the file parses, matches the compose schema,
# and has the three services the docs describe, with nothing that would stop `--scale worker=N`.
# Uses docker-compose (v1, `apt-get install docker-compose`), or the `docker compose` v2 plugin.
#
#   bash scripts/validate-compose.sh [COMPOSE_FILE]     (default: docker-compose.yml at the repo root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="${1:-$root/docker-compose.yml}"

if [[ ! -f "$file" ]]; then
  echo "validate-compose: $file not found" >&2
  exit 2
fi

if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  echo "validate-compose: docker-compose is not installed; install it (Debian: apt-get install -y docker-compose) or the docker compose plugin" >&2
  exit 3
fi

# Validate with the defaults and with the overrides docs/cluster.md shows.
"${compose[@]}" -f "$file" config -q
DISTTRAIN_PRESET=fashion-mlp DISTTRAIN_MIN_WORKERS=4 DISTTRAIN_WORKERS=2 DISTTRAIN_DATA_DIR=/tmp \
  "${compose[@]}" -f "$file" config -q
DISTTRAIN_RESUME=/out/penguins-42/checkpoint.dtck "${compose[@]}" -f "$file" config -q

services="$("${compose[@]}" -f "$file" config --services | sort | tr '\n' ' ')"
if [[ "$services" != "ps seed worker " ]]; then
  echo "validate-compose: expected services 'ps seed worker', found '$services'" >&2
  exit 1
fi

# A scalable worker must not pin a container name, a hostname or a host port.
worker="$("${compose[@]}" -f "$file" config | awk '/^  worker:/{w=1; next} /^  [a-z]/{w=0} w')"
for key in container_name hostname ports; do
  if grep -qE "^    $key:" <<<"$worker"; then
    echo "validate-compose: service worker sets '$key', which breaks --scale worker=N" >&2
    exit 1
  fi
done

echo "validate-compose: $(basename "$file") is valid (${compose[*]} $("${compose[@]}" version --short 2>/dev/null || echo '?'))"
