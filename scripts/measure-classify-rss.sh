#!/usr/bin/env bash
# Peak resident memory of alexnet-classify at batch 32 over 256 generated 500x375 JPEGs with
# full-size random alexnet weights. Prints one JSON line.
set -euo pipefail
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/alexnet-bench" random-weights "$tmp/alexnet.safetensors" --arch alexnet >/dev/null
"$build/alexnet-bench" make-jpegs "$tmp/jpegs" --embed-images 256 >/dev/null
/usr/bin/time -f '%M %e' -o "$tmp/time" "$build/alexnet-classify" -q --batch 32 \
    --weights "$tmp/alexnet.safetensors" "$tmp/jpegs" >/dev/null
read -r kb seconds < "$tmp/time"
echo "{\"bench\":\"classify_peak_rss\",\"arch\":\"alexnet\",\"batch\":32,\"images\":256,\"max_rss_mb\":$((kb / 1024)),\"seconds\":$seconds}"
