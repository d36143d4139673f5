#!/usr/bin/env bash
# Installs the Debian packages the build needs; does nothing when they are all present.
# (Debian's dnnl-config.cmake needs the OpenCL headers and library: oneDNN was built with the OpenCL GPU runtime.)
# Usage: scripts/install-deps.sh [extra-package ...]
#
# Output: one line per step on stderr, nothing on stdout. When every package is present it prints
# only "set-up: all N Debian packages present" (no apt-get update). Otherwise
#   set-up: apt-get update (log: build/setup.log) ...
#   set-up: installing 3 Debian packages (clang libclang-rt-14-dev llvm-14) ...
#   set-up: done in 84 s
# The full apt-get/dpkg output is appended to the log, ${BUILD:-build}/setup.log (a relative BUILD
# is taken from the repository root; make passes BUILD when it is given on its command line or in
# the environment; the folder is created if needed, or a file in ${TMPDIR:-/tmp} is used when it
# cannot be written). When a step fails: one line naming the step and the log, the last 20 lines
# of that step's output, and apt-get's exit status.
set -euo pipefail
packages=(cmake g++ make pkg-config libdnnl-dev ocl-icd-opencl-dev opencl-c-headers libopencv-dev libcli11-dev nlohmann-json3-dev doctest-dev zlib1g-dev
          libjpeg62-turbo-dev libpng-dev libwebp-dev libcairo2-dev fonts-dejavu-core
          libopenmpi-dev openmpi-bin time libfaiss-dev libonnx-dev libprotobuf-dev
          dataset-fashion-mnist "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "set-up: all ${#packages[@]} Debian packages present" >&2
  exit 0
fi

SECONDS=0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
[[ $build == /* ]] || build=$root/$build
log=$build/setup.log
if ! { mkdir -p "$build" && : >> "$log"; } 2>/dev/null; then
  log=$(mktemp "${TMPDIR:-/tmp}/alexnet-setup.XXXXXX.log")
fi
shown_log=$log
[ "$PWD" != "$root" ] || shown_log=${log#"$root"/}

# step DESCRIPTION COMMAND...: one line on stderr, the command's output into the log.
step() {
  local what=$1 status=0 start
  shift
  printf '\n==== %s  %s\n' "$(date '+%F %T')" "$*" >> "$log"
  start=$(stat -c %s "$log")
  "$@" >> "$log" 2>&1 || status=$?
  if [ $status -ne 0 ]; then
    # The step's last 20 lines (not earlier runs'), each as a terminal shows it (dpkg redraws with \r).
    echo "set-up: $what failed (exit $status); log: $shown_log, the step's last lines:" >&2
    tail -c +$((start + 1)) "$log" | sed 's/.*\r//' | tail -n 20 | sed 's/^/  /' >&2
    exit $status
  fi
}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
n=${#missing[@]}
what="$n Debian package$([ "$n" -eq 1 ] || echo s)"
[ "$n" -gt 6 ] || what+=" (${missing[*]})"
echo "set-up: apt-get update (log: $shown_log) ..." >&2
step "apt-get update" $sudo apt-get update
echo "set-up: installing $what ..." >&2
# (sudo resets the environment: env passes DEBIAN_FRONTEND through it; as root it is the same.)
step "installing $what" $sudo env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
echo "set-up: done in $SECONDS s" >&2
