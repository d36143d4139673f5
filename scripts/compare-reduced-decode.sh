#!/usr/bin/env bash
# How much reduced-size JPEG decoding (the default) changes what the network computes, against
# --exact-decode: per image, the cosine similarity of fc7 and whether the top-1 class of fc8 is the
# same. Prints one JSON line. Needs /usr/bin/python3 with numpy (Debian python3-numpy).
# Usage: scripts/compare-reduced-decode.sh BUILD WEIGHTS IMAGE_DIR [extra alexnet-embed options]
set -euo pipefail
build=$1 weights=$2 images=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for mode in reduced exact; do
    flag=()
    [ $mode = exact ] && flag=(--exact-decode)
    for layer in fc7 fc8; do
        "$build/alexnet-embed" -q -w "$weights" "${flag[@]}" --layer $layer --format npy \
            -o "$tmp/$mode-$layer.npy" "$@" "$images" >/dev/null
    done
done
cmp -s "$tmp/reduced-fc7.npy.paths.txt" "$tmp/exact-fc7.npy.paths.txt"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1]
a, b = (np.load(f"{d}/{m}-fc7.npy").astype(np.float64) for m in ("reduced", "exact"))
cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
la, lb = (np.load(f"{d}/{m}-fc8.npy") for m in ("reduced", "exact"))
same = (la.argmax(1) == lb.argmax(1))
print(json.dumps({"images": len(cos), "fc7_cosine_min": round(float(cos.min()), 5),
                  "fc7_cosine_median": round(float(np.median(cos)), 5),
                  "top1_same": int(same.sum()), "top1_agreement": round(float(same.mean()), 4)}))
PY
