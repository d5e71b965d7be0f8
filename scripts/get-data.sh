#!/usr/bin/env bash
# Puts the Fashion-MNIST idx files (train-/t10k- images and labels, .gz) into a folder: by default
# data/fashion-mnist at the repo root, which docker-compose.yml mounts read-only into the ps and worker
# containers (override with DISTTRAIN_DATA_DIR). The penguins preset needs nothing: it is bundled.
#
#   scripts/get-data.sh [TARGET_DIR]              from Debian's package dataset-fashion-mnist
#   scripts/get-data.sh --download [TARGET_DIR]   from the upstream repository instead (needs internet)
#
# Without --download: the files come from /usr/share/datasets/fashion-mnist, installing the Debian
# package dataset-fashion-mnist first when they are missing (as root, or through `sudo -n`; otherwise
# it says what to run). They are hard-linked into TARGET_DIR when possible, else copied -- never
# symlinked, since a symlink to /usr/share would dangle inside a container.
#
# With --download: fetches the four .gz files that the Fashion-MNIST repository (Zalando Research, MIT
# licence) publishes, https://github.com/zalandoresearch/fashion-mnist (folder data/fashion), into
# data/fashion-mnist with curl or wget, and checks them against the MD5 sums that its README lists.
# FASHION_MNIST_URL overrides the base address (a mirror). This path needs internet access, which the
# project's CI machines do not have: it is not exercised there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
system_dir=/usr/share/datasets/fashion-mnist
base_url="${FASHION_MNIST_URL:-https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion}"
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
# MD5 of the upstream .gz files, as the Fashion-MNIST README lists them. (Debian's package recompresses
# the same data, so its .gz files have other sums; they are not checked against these.)
declare -A md5=(
  [train-images-idx3-ubyte.gz]=8d4fb7e6c68d591d4c3dfef9ec88bf0d
  [train-labels-idx1-ubyte.gz]=25c81989df183df01b3e8a0aad5dffbe
  [t10k-images-idx3-ubyte.gz]=bef4ecab320f06d8554ea6380940ec79
  [t10k-labels-idx1-ubyte.gz]=bb300cfdad3c16e7a12a480ee83cd310
)

usage() { sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "${BASH_SOURCE[0]}"; }
die() { echo "get-data: $*" >&2; exit 1; }

download=0
target=""
while (( $# > 0 )); do
  case "$1" in
    --download) download=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$target" ]] || die "only one TARGET_DIR, got '$target' and '$1'"; target="$1"; shift ;;
  esac
done
target="${target:-$root/data/fashion-mnist}"

# Whether folder $1 holds all four files (compressed or not, as the reader accepts both).
complete() {
  local f
  for f in "${files[@]}"; do [[ -s "$1/$f" || -s "$1/${f%.gz}" ]] || return 1; done
}

fetch() { # URL FILE
  if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
  else die "--download needs curl or wget"; fi
}

download_into() { # DIR
  local dir=$1 f sum
  mkdir -p "$dir"
  echo "downloading Fashion-MNIST from $base_url into $dir (needs internet access)"
  for f in "${files[@]}"; do
    if [[ -s "$dir/$f" ]] && [[ "$(md5sum "$dir/$f" | cut -d ' ' -f 1)" == "${md5[$f]}" ]]; then
      echo "  $f: already there"
      continue
    fi
    fetch "$base_url/$f" "$dir/$f.part" || { rm -f "$dir/$f.part"; die "could not download $base_url/$f"; }
    sum="$(md5sum "$dir/$f.part" | cut -d ' ' -f 1)"
    if [[ "$sum" != "${md5[$f]}" ]]; then
      rm -f "$dir/$f.part"
      die "$f: MD5 $sum, expected ${md5[$f]} (the upstream README's); not kept"
    fi
    mv -f "$dir/$f.part" "$dir/$f"
    echo "  $f: ok (md5 $sum)"
  done
}

install_package() {
  local as=()
  if (( EUID != 0 )); then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as=(sudo -n)
    else
      die "the Fashion-MNIST files are not in $system_dir. Install them with
  sudo apt-get install dataset-fashion-mnist
and run this again, or run: $0 --download"
    fi
  fi
  echo "installing the Debian package dataset-fashion-mnist ..."
  if ! "${as[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null; then
    "${as[@]}" apt-get update -q >/dev/null
    "${as[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null
  fi
}

if (( download )); then
  source_dir="$root/data/fashion-mnist"
  download_into "$source_dir"
else
  source_dir="$system_dir"
  if ! complete "$source_dir"; then
    command -v apt-get >/dev/null 2>&1 \
      || die "no apt-get here (not Debian/Ubuntu): run $0 --download, or put the four idx .gz files into $target yourself"
    install_package
    complete "$source_dir" || die "dataset-fashion-mnist is installed but $source_dir lacks some of: ${files[*]}"
  fi
fi

mkdir -p "$target"
if [[ "$(cd "$source_dir" && pwd -P)" != "$(cd "$target" && pwd -P)" ]]; then
  for f in "${files[@]}"; do
    [[ -s "$source_dir/$f" ]] || f="${f%.gz}"
    [[ "$source_dir/$f" -ef "$target/$f" ]] && continue
    rm -f "$target/$f"
    ln "$source_dir/$f" "$target/$f" 2>/dev/null || cp "$source_dir/$f" "$target/$f"
  done
fi
complete "$target" || die "$target is still missing some of: ${files[*]}"
chmod a+r "$target"/* 2>/dev/null || true

echo "Fashion-MNIST is in $target:"
( cd "$target" && ls -l -- *idx* )
cat <<EOF
Use it with:
  disttrain train --preset fashion-mlp --data $target
  DISTTRAIN_DATA_DIR=$target DISTTRAIN_PRESET=fashion-mlp docker compose up --build --exit-code-from ps
EOF
