#!/usr/bin/python3
"""Seed inputs for the fuzz harnesses whose formats have no fixture in tests/fixtures:

    seeds/idx/         IDX pairs as fuzz_idx takes them: byte 0 = labels length - 8, the labels
                       file, then the images file (raw, and gzip-compressed)
    seeds/cifar/       CIFAR-10 batches of one and two records (raw, gzip)
    seeds/list/        a path-label list with comments, blank lines and CRLF; a class-name file
    seeds/checkpoint/  the "checkpoint" metadata of a real alexnet-train checkpoint (stopped
                       mid-epoch) and of one written at an epoch's end

    /usr/bin/python3 tests/fuzz/make_seeds.py build     # build: where alexnet-train is

Needs only the standard library (and the built alexnet-train for the checkpoint seeds).
"""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")


def write(kind, name, data):
    os.makedirs(os.path.join(SEEDS, kind), exist_ok=True)
    with open(os.path.join(SEEDS, kind, name), "wb") as f:
        f.write(data)


def idx_pair(n, h, w):
    labels = struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))
    images = struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))
    return labels, images


def gz(data):
    return gzip.compress(data, mtime=0)


def checkpoint_json(build, workdir, args):
    """The checkpoint metadata of a short alexnet-train run on a 64-image synthetic IDX set."""
    labels, images = idx_pair(64, 28, 28)
    for prefix in ("train", "t10k"):
        with open(os.path.join(workdir, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(labels)
        with open(os.path.join(workdir, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(images)
    out = os.path.join(workdir, "run")
    subprocess.run([os.path.join(build, "alexnet-train"), "-q", "--data", workdir, "--val", workdir, "--arch",
                    "alexnet-28", "--batch-size", "16", "--out", out, "--log-every", "0"] + args,
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "last.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]["checkpoint"].encode()


def main():
    for n, h, w in ((2, 4, 4), (3, 2, 5)):
        labels, images = idx_pair(n, h, w)
        write("idx", f"raw_{n}x{h}x{w}", bytes([len(labels) - 8]) + labels + images)
        write("idx", f"gzip_{n}x{h}x{w}", bytes([len(gz(labels)) - 8]) + gz(labels) + gz(images))
    record = lambda label: bytes([label]) + bytes((label * 3 + i) % 256 for i in range(3072))
    write("cifar", "one_record", record(3))
    write("cifar", "two_records.gz", gz(record(1) + record(9)))
    write("list", "list.txt", b"# a comment\n\nimages/a.png 3\r\n  b c.jpg   1  \n/abs/d.jpg 0\n")
    write("list", "classes.txt", b"cat\ndog\nbird\n")
    if len(sys.argv) > 1:
        with tempfile.TemporaryDirectory() as d:
            write("checkpoint", "mid_epoch.json", checkpoint_json(sys.argv[1], d, ["--epochs", "2", "--stop-after", "3"]))
        with tempfile.TemporaryDirectory() as d:
            write("checkpoint", "epoch_end.json", checkpoint_json(sys.argv[1], d, ["--epochs", "1"]))


if __name__ == "__main__":
    main()
