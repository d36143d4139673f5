#!/usr/bin/python3
"""Convert a PyTorch AlexNet state dict (e.g. torchvision's alexnet-owt-7be5be79.pth) to the
suite's safetensors format, with the metadata the tools read (arch, preprocessing, labels).

    /usr/bin/python3 scripts/torch_to_safetensors.py alexnet-owt-7be5be79.pth alexnet-tv.safetensors

Only needs torch for reading the .pth; the writer and reader below are plain Python and numpy,
and the fixture generators and comparison scripts import them.
"""
import argparse
import json
import struct

import numpy as np

TORCHVISION_NAMES = {
    "features.0": "conv1", "features.3": "conv2", "features.6": "conv3", "features.8": "conv4",
    "features.10": "conv5", "classifier.1": "fc6", "classifier.4": "fc7", "classifier.6": "fc8",
}

TORCHVISION_PREPROCESSING = {
    "resize": "256", "resize_mode": "shorter", "crop_size": "224", "input_size": "224",
    "channel_order": "rgb", "pixel_scale": "1", "mean": "0.485,0.456,0.406", "std": "0.229,0.224,0.225",
}


def save_safetensors(path, tensors, metadata=None):
    """tensors: name -> array-like (written as little-endian float32)."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(np.asarray(tensors[name], dtype="<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """(name -> float32 array in file order, metadata dict); F32 files only, as the suite writes."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], np.float32).reshape(t["shape"]).copy()
    return out, header.get("__metadata__", {})


def canonical(name):
    for tv, canon in TORCHVISION_NAMES.items():
        if name.startswith(tv + "."):
            return canon + name[len(tv):]
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth")
    ap.add_argument("out")
    ap.add_argument("--labels", help="class names, one per line, stored in the metadata")
    args = ap.parse_args()
    import torch
    state = torch.load(args.pth, map_location="cpu", weights_only=True)
    tensors = {canonical(k): v.float().numpy() for k, v in state.items()}
    classes = tensors["fc8.weight"].shape[0]
    arch = "alexnet-tv" if tensors["conv1.weight"].shape[0] == 64 else "alexnet"
    meta = {"arch": arch, "num_classes": classes}
    if arch == "alexnet-tv":
        meta.update(TORCHVISION_PREPROCESSING)
    if args.labels:
        with open(args.labels) as f:
            meta["labels"] = json.dumps([line.rstrip("\n") for line in f if line.strip()])
    save_safetensors(args.out, tensors, meta)


if __name__ == "__main__":
    main()
