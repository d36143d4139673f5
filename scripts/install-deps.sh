#!/usr/bin/env bash
# Installs the Debian packages the build needs; does nothing when they are all present.
# (Debian's dnnl-config.cmake needs the OpenCL headers and library: oneDNN was built with the OpenCL GPU runtime.)
# Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail
packages=(cmake g++ make pkg-config libdnnl-dev ocl-icd-opencl-dev opencl-c-headers libopencv-dev libcli11-dev nlohmann-json3-dev doctest-dev zlib1g-dev
          libjpeg62-turbo-dev libpng-dev libwebp-dev libcairo2-dev fonts-dejavu-core
          libopenmpi-dev openmpi-bin time
          dataset-fashion-mnist "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
