#!/bin/bash
# The seeds of fuzz_search_index: small index files of each kind (flat, ivf,flat, pq, ivf,pq) made
# by alexnet-search from the demo images and a synthetic IDX set, at fc8 (10 numbers) so they stay
# small. Usage: tests/fuzz/make_search_seeds.sh [BUILD]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out=$root/tests/fuzz/seeds/search_index
mkdir -p "$out"
w=$root/data/alexnet-28-fmnist.safetensors
# The PQ kinds need 256 training vectors: 300 Fashion-MNIST test images (dataset-fashion-mnist).
s=$build/alexnet-search
$s index -q -w "$w" --layer fc8 -o "$out/flat.index" "$root/data/demo" > /dev/null
$s index -q -w "$w" --layer fc8 --lists 2 -o "$out/ivf-flat.index" "$root/data/demo" > /dev/null
$s index -q -w "$w" --layer fc8 --codes 5 --limit 300 --split test -o "$out/pq.index" /usr/share/datasets/fashion-mnist > /dev/null
$s index -q -w "$w" --layer fc8 --codes 5 --lists 4 --limit 300 --split test -o "$out/ivf-pq.index" \
  /usr/share/datasets/fashion-mnist > /dev/null
ls -l "$out"
