#!/usr/bin/env bash
# alexnet-search on Fashion-MNIST with the shipped alexnet-28 model: the 60,000 training images
# indexed, the 10,000 test images as queries, k = 10. Prints one JSON line per measurement:
#   "quality":    fc7, fc6, pool5 and raw pixels (exact l2), and fc7 with cosine: label precision@1/5/10
#                 and the k-NN (k = 10) top-1; for raw pixels (an index without labels) both are
#                 computed here from the neighbours' paths, and the same computation is checked
#                 against the tool's own numbers on fc7 ("agrees_with_tool");
#   "softmax":    alexnet-eval's top-1 on the test split, for comparison;
#   "compressed": fc7 with --codes / --lists (and --nprobe): bytes per vector, recall@10 against
#                 the exact index's 10 neighbours, query seconds (the tool's, which include loading
#                 and embedding the queries; and the whole command's) and queries per second.
# Usage (from the repository): scripts/measure-search-fmnist.sh [BUILD]     (default: build)
# Environment: WEIGHTS (default data/alexnet-28-fmnist.safetensors), FMNIST (the IDX folder,
# default /usr/share/datasets/fashion-mnist), LIMIT=N (a quick run on N training and N test items),
# KEEP=DIR (keep the indexes and query outputs in DIR instead of a temporary folder).
# Took 16 minutes on 2 cores (Intel Xeon, Emerald Rapids; session 12), mostly building the PQ indexes.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build="$PWD/$build"
weights=${WEIGHTS:-$repo/data/alexnet-28-fmnist.safetensors}
data=${FMNIST:-/usr/share/datasets/fashion-mnist}
limit=${LIMIT:-}
search="$build/alexnet-search"
for f in "$search" "$build/alexnet-eval" "$weights" "$data/train-images-idx3-ubyte.gz" "$data/t10k-images-idx3-ubyte.gz"; do
    [[ -e $f ]] || { echo "measure-search-fmnist: $f: not found" >&2; exit 1; }
done
if [[ -n ${KEEP:-} ]]; then
    w=$KEEP
    mkdir -p "$w"
else
    w=$(mktemp -d)
    trap 'rm -rf "$w"' EXIT
fi
limit_args=()
[[ -z $limit ]] || limit_args=(--limit "$limit")

cat > "$w/helper.py" <<'PY'
"""Raw-pixel .npy files, label metrics and recall@k from alexnet-search query output."""
import argparse, gzip, json, os, struct, sys


def write_npy(images_gz, out, limit):
    with gzip.open(images_gz, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            sys.exit(f"{images_gz}: not an IDX image file (magic {magic})")
        n = min(n, limit) if limit else n
        dim = rows * cols
        # numpy format 1.0: magic, version 1 0, uint16 header length, the dict padded with spaces
        # and a newline so that the data starts at a multiple of 64.
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n, dim)
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        fmt = "<%df" % dim
        with open(out, "wb") as o:
            o.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
            for _ in range(n):
                px = f.read(dim)
                if len(px) != dim:
                    sys.exit(f"{images_gz}: truncated")
                o.write(struct.pack(fmt, *px))
    with open(out + ".paths.txt", "w") as p:  # the names alexnet-search gives data-set items
        p.writelines(f"{images_gz}#{k}\n" for k in range(n))


def read_labels(path):
    with gzip.open(path, "rb") as f:
        magic, n = struct.unpack(">II", f.read(8))
        if magic != 2049:
            sys.exit(f"{path}: not an IDX label file (magic {magic})")
        return list(f.read(n))


def read_query(path):
    """[(query path, [neighbour paths, nearest first])...] and the summary line."""
    rows, summary = [], None
    with open(path) as f:
        for line in f:
            j = json.loads(line)
            if j.get("summary"):
                summary = j
            elif "neighbours" in j:
                rows.append((j["path"], [n["path"] for n in j["neighbours"]]))
    if summary is None:
        sys.exit(f"{path}: no summary line")
    return rows, summary


def vote(classes):
    # As alexnet-search query votes: the most frequent class; among equals, the one that reached
    # that count first, walking the neighbours nearest first.
    count, best = {}, None
    for c in classes:
        count[c] = count.get(c, 0) + 1
        if best is None or count[c] > count[best]:
            best = c
    return best


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def label_metrics(data, rows):
    tables = {os.path.join(data, "train-images-idx3-ubyte.gz"): read_labels(os.path.join(data, "train-labels-idx1-ubyte.gz")),
              os.path.join(data, "t10k-images-idx3-ubyte.gz"): read_labels(os.path.join(data, "t10k-labels-idx1-ubyte.gz"))}

    def label(path):
        name, _, k = path.rpartition("#")
        return tables[name][int(k)]

    same, right = {1: 0, 5: 0, 10: 0}, 0
    for q, neighbours in rows:
        ql, cl = label(q), [label(p) for p in neighbours]
        for d in same:
            same[d] += sum(c == ql for c in cl[:d])
        right += vote(cl) == ql
    return ({str(d): s / (d * len(rows)) for d, s in same.items()}, right / len(rows))


def line(a):
    out = json.loads(a.base)
    with open(a.index_summary) as f:
        idx = json.loads(f.read().strip().splitlines()[-1])
    rows, s = read_query(a.query)
    with open(a.index_time) as f:
        index_wall = float(f.read().split()[-1])
    with open(a.query_time) as f:
        query_wall = float(f.read().split()[-1])
    out.update({"kind": s["kind"], "metric": s["metric"], "dim": idx["dim"], "bytes_per_vector": idx["bytes_per_vector"],
                "vectors": idx["vectors"], "queries": s["queries"], "k": s["k"]})
    if a.nprobe:
        out["nprobe"] = a.nprobe
    if a.labels:
        precision, knn = label_metrics(a.labels, rows)
        if "label_precision_at" in s:
            # The tool prints float32 values: agreeing means the same float32.
            out["agrees_with_tool"] = all(f32(precision[d]) == f32(s["label_precision_at"][d]) for d in precision) \
                and f32(knn) == f32(s["knn_top1_accuracy"])
        precision, knn = {d: round(v, 6) for d, v in precision.items()}, round(knn, 6)
        out["labels_from"] = "index paths -> IDX labels (this script)"
    elif "label_precision_at" in s:
        precision, knn = s["label_precision_at"], s["knn_top1_accuracy"]
        out["labels_from"] = "alexnet-search"
    else:
        precision = knn = None
    if precision is not None:
        out["label_precision_at"], out["knn_top1_accuracy"] = precision, knn
    if a.exact:
        exact, _ = read_query(a.exact)
        if [q for q, _ in exact] != [q for q, _ in rows]:
            sys.exit(f"{a.query} and {a.exact} list different queries")
        k = s["k"]
        out["recall_at_10" if k == 10 else f"recall_at_{k}"] = round(
            sum(len(set(e[:k]) & set(o[:k])) / k for (_, e), (_, o) in zip(exact, rows)) / len(rows), 5)
        out["quarter_size_and_recall_0_8"] = idx["bytes_per_vector"] <= idx["dim"] and out.get("recall_at_10", 0) >= 0.8
    out.update({"index_wall_seconds": index_wall, "query_seconds": s["seconds"], "query_wall_seconds": query_wall,
                "queries_per_second": round(s["queries"] / s["seconds"], 1),
                "queries_per_second_wall": round(s["queries"] / query_wall, 1)})
    print(json.dumps(out))


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
n = sub.add_parser("npy")
n.add_argument("images_gz"), n.add_argument("out"), n.add_argument("--limit", type=int, default=0)
l = sub.add_parser("line")
for name in ("base", "index_summary", "index_time", "query", "query_time"):
    l.add_argument(name)
l.add_argument("--labels"), l.add_argument("--exact"), l.add_argument("--nprobe", type=int)
a = p.parse_args()
if a.cmd == "npy":
    write_npy(a.images_gz, a.out, a.limit)
else:
    line(a)
PY
helper() { python3 "$w/helper.py" "$@"; }

# index NAME ARGS...: $w/NAME.index with its summary line in NAME.index.json and wall seconds in NAME.index.time
index() {
    local name=$1
    shift
    /usr/bin/time -f %e -o "$w/$name.index.time" "$search" index -q -w "$weights" -o "$w/$name.index" "$@" \
        > "$w/$name.index.json"
}
# query NAME INDEX ARGS...: the query lines in $w/NAME.jsonl, wall seconds in NAME.time
query() {
    local name=$1 idx=$2
    shift 2
    /usr/bin/time -f %e -o "$w/$name.time" "$search" query -q "$w/$idx.index" "$@" -k 10 > "$w/$name.jsonl"
}

# 1. Quality: what the nearest training images share with the test image (its class).
for layer in fc7 fc6 pool5; do
    index "$layer" "$data" --split train --layer "$layer" --metric l2 "${limit_args[@]}"
    query "$layer" "$layer" "$data" --split test --layer "$layer" "${limit_args[@]}"
    helper line "{\"measure\":\"quality\",\"representation\":\"$layer\"}" "$w/$layer.index.json" "$w/$layer.index.time" \
        "$w/$layer.jsonl" "$w/$layer.time"
done
# The same computation as the raw pixels' below, checked against the tool's fc7 numbers.
helper line '{"measure":"quality-check","representation":"fc7"}' "$w/fc7.index.json" "$w/fc7.index.time" \
    "$w/fc7.jsonl" "$w/fc7.time" --labels "$data"

helper npy "$data/train-images-idx3-ubyte.gz" "$w/pixels-train.npy" --limit "${limit:-0}"
helper npy "$data/t10k-images-idx3-ubyte.gz" "$w/pixels-test.npy" --limit "${limit:-0}"
index pixels "$w/pixels-train.npy" --metric l2
query pixels pixels "$w/pixels-test.npy"
helper line '{"measure":"quality","representation":"pixels"}' "$w/pixels.index.json" "$w/pixels.index.time" \
    "$w/pixels.jsonl" "$w/pixels.time" --labels "$data"

index fc7-cosine "$data" --split train --layer fc7 --metric cosine "${limit_args[@]}"
query fc7-cosine fc7-cosine "$data" --split test --layer fc7 "${limit_args[@]}"
helper line '{"measure":"quality","representation":"fc7","note":"cosine"}' "$w/fc7-cosine.index.json" \
    "$w/fc7-cosine.index.time" "$w/fc7-cosine.jsonl" "$w/fc7-cosine.time"

/usr/bin/time -f %e -o "$w/eval.time" "$build/alexnet-eval" -q -w "$weights" "$data" > "$w/eval.out"
python3 - "$w/eval.out" "$w/eval.time" <<'PY'
import json, sys
last = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(json.dumps({"measure": "softmax", "representation": "fc8 (alexnet-eval)", "top1_accuracy": last["top1_accuracy"],
                  "wall_seconds": float(open(sys.argv[2]).read().split()[-1])}))
PY

# 2. Compressed fc7 indexes against the exact one (the fc7 run above).
helper line '{"measure":"compressed","setting":"exact"}' "$w/fc7.index.json" "$w/fc7.index.time" \
    "$w/fc7.jsonl" "$w/fc7.time" --exact "$w/fc7.jsonl"
compressed() {  # NAME "INDEX ARGS" NPROBE...
    local name=$1 args=$2
    shift 2
    # shellcheck disable=SC2086
    index "$name" "$data" --split train --layer fc7 --metric l2 $args "${limit_args[@]}"
    local probes=("$@")
    [[ ${#probes[@]} -gt 0 ]] || probes=("")
    for np in "${probes[@]}"; do
        local run=$name${np:+-nprobe$np}
        query "$run" "$name" "$data" --split test --layer fc7 ${np:+--nprobe "$np"} "${limit_args[@]}"
        helper line "{\"measure\":\"compressed\",\"setting\":\"$args${np:+ --nprobe $np}\"}" "$w/$name.index.json" \
            "$w/$name.index.time" "$w/$run.jsonl" "$w/$run.time" --exact "$w/fc7.jsonl" ${np:+--nprobe "$np"}
    done
}
compressed pq64 "--codes 64"
compressed pq128 "--codes 128"
compressed pq32 "--codes 32"
compressed ivf256 "--lists 256" 1 8 32
compressed ivf256-pq64 "--lists 256 --codes 64" 8 32
compressed ivf256-pq128 "--lists 256 --codes 128" 32
