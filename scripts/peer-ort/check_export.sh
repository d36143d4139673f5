#!/usr/bin/env bash
# ONNX Runtime runs what alexnet-convert exports: the embedded Fashion-MNIST model to ONNX, its
# logits on the ten demo images (onnxruntime-node, CPU) against alexnet-embed --layer fc8.
# Prints one JSON line. Needs onnxruntime-node in BUILD/peer-ort (scripts/peer-ort/run.sh installs
# it) and /usr/bin/python3 with numpy and PIL (python3-torch brings numpy; python3-pil).
# Usage: scripts/peer-ort/check_export.sh BUILD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
[ -d "$build/peer-ort/node_modules/onnxruntime-node" ] || { echo "run scripts/peer-ort/run.sh $1 first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
model=$root/data/alexnet-28-fmnist.safetensors
"$build/alexnet-convert" -q "$model" -o "$tmp/m.onnx" > /dev/null
"$build/alexnet-embed" -q -w "$model" --layer fc8 --format npy -o "$tmp/fc8.npy" "$root/data/demo" > /dev/null
# The network input as the model's metadata says (the demo images are 28x28 already: no resize).
/usr/bin/python3 - "$model" "$tmp" <<'PY'
import json, struct, sys
import numpy as np
from PIL import Image
model, tmp = sys.argv[1], sys.argv[2]
with open(model, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n))["__metadata__"]
mean, std, scale = float(meta["mean"]), float(meta["std"]), float(meta["pixel_scale"])
paths = [l.rstrip("\n") for l in open(tmp + "/fc8.npy.paths.txt")]
x = np.stack([(np.asarray(Image.open(p).convert("L"), np.float32) / 255 * scale - mean) / std for p in paths])
x[:, None].astype(np.float32).tofile(tmp + "/input.f32")
PY
cat > "$tmp/run.js" <<'JS'
const ort = require(process.env.ORT);
const fs = require('fs');
(async () => {
  const s = await ort.InferenceSession.create(process.env.TMP + '/m.onnx', {executionProviders: ['cpu']});
  const b = fs.readFileSync(process.env.TMP + '/input.f32');
  const x = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  const out = await s.run({input: new ort.Tensor('float32', x, [x.length / 784, 1, 28, 28])});
  fs.writeFileSync(process.env.TMP + '/ort.f32', Buffer.from(out.logits.data.buffer));
})();
JS
ORT="$build/peer-ort/node_modules/onnxruntime-node" TMP=$tmp node "$tmp/run.js"
version=$(node -p "require('$build/peer-ort/node_modules/onnxruntime-node/package.json').version")
/usr/bin/python3 - "$tmp" "$version" <<'PY'
import json, sys
import numpy as np
tmp, version = sys.argv[1], sys.argv[2]
ours = np.load(tmp + "/fc8.npy")
theirs = np.fromfile(tmp + "/ort.f32", np.float32).reshape(ours.shape)
print(json.dumps({"check": "onnx_runtime_export", "onnxruntime": version, "images": len(ours),
                  "max_abs_diff": float(np.abs(theirs - ours).max()),
                  "max_rel_diff": float(np.abs(theirs - ours).max() / np.abs(ours).max()),
                  "same_top1": bool((theirs.argmax(1) == ours.argmax(1)).all())}))
PY
