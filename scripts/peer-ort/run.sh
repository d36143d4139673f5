#!/usr/bin/env bash
# The peer of `alexnet-bench --arch alexnet-tv`: ONNX Runtime (onnxruntime-node from the npm
# registry, CPU, 2 intra-op threads) running torchvision's AlexNet at batch 32 and 1, one JSON line
# each, the CPU beside it. Installs into BUILD/peer-ort on first use: Debian's Node.js, npm,
# python3-torch and python3-torchvision (to export the model), and onnxruntime-node (its
# postinstall would fetch CUDA binaries from nuget.org; the CPU binaries ship in the package, so
# the fetch is skipped).
# Usage: scripts/peer-ort/run.sh BUILD [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(cd "$1" && pwd)/peer-ort
runs=${2:-10}
command -v npm > /dev/null || "$here/../install-deps.sh" nodejs npm
"$here/../install-deps.sh" python3-torch python3-torchvision
mkdir -p "$dir"
cp "$here/bench_ort.js" "$dir/"
if [ ! -d "$dir/node_modules/onnxruntime-node" ]; then
    (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund onnxruntime-node@1.31.1 >&2)
fi
[ -f "$dir/alexnet-tv.onnx" ] || /usr/bin/python3 "$here/export_alexnet_tv.py" "$dir/alexnet-tv.onnx" >&2
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
RUNS=$runs MODEL="$dir/alexnet-tv.onnx" node "$dir/bench_ort.js" | sed "s/}\$/,\"cpu\":\"$cpu\"}/"
