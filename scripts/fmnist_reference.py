#!/usr/bin/python3
"""PyTorch's view of the embedded default model: loads data/alexnet-28-fmnist.safetensors (trained
by alexnet-train, `make model`) into an independent PyTorch definition of the alexnet-28 preset and
writes the golden file the tests hold our engine to:

    tests/fixtures/fmnist_demo_logits.safetensors
        PyTorch's logits for the data/demo/*.png Fashion-MNIST test images, and in its metadata
        what PyTorch measures over the 10,000 test images: "test_accuracy" (top-1, center crop),
        "test_top5_accuracy", "test_ten_crop_accuracy" (over the first 1,000 test images, softmax
        averaged over the ten crops; at 28x28 with crop 28 these are the image five times and its
        mirror five times) and
        "test_per_class_accuracy" (top-1, per class).

    /usr/bin/python3 scripts/fmnist_reference.py

Needs python3-torch, python3-pil and dataset-fashion-mnist (Debian); the tests only read the file.
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from torch_to_safetensors import load_safetensors, save_safetensors  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
TEN_CROP_IMAGES = 1000  # the first ones (ten crops cost ten forward passes; the tests stay fast)
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xff)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


class AlexNet28(nn.Module):
    """The suite's alexnet-28 preset, layer for layer (eval mode: dropout off)."""
    def __init__(self):
        super().__init__()
        lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)  # noqa: E731
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 5, padding=2), nn.Conv2d(32, 64, 5, padding=2)
        self.conv3, self.conv4 = nn.Conv2d(64, 96, 3, padding=1), nn.Conv2d(96, 96, 3, padding=1)
        self.conv5 = nn.Conv2d(96, 64, 3, padding=1)
        self.norm1, self.norm2, self.pool1, self.pool2, self.pool5 = lrn(), lrn(), pool(), pool(), pool()
        self.fc6, self.fc7, self.fc8 = nn.Linear(64 * 9, 512), nn.Linear(512, 512), nn.Linear(512, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = self.pool1(self.norm1(F.relu(self.conv1(x))))
        x = self.pool2(self.norm2(F.relu(self.conv2(x))))
        x = F.relu(self.conv5(F.relu(self.conv4(F.relu(self.conv3(x))))))
        x = torch.flatten(self.pool5(x), 1)
        x = self.drop(F.relu(self.fc6(x)))
        x = self.drop(F.relu(self.fc7(x)))
        return self.fc8(x)


def evaluate(net, x, y):
    """top-1, top-5, ten-crop top-1 and per-class top-1 accuracy."""
    net.eval()
    top1 = top5 = ten = 0
    per_class_hits, per_class_n = np.zeros(10), np.zeros(10)
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            xb, yb = x[i:i + 1000], y[i:i + 1000]
            logits = net(xb)
            hit1 = logits.argmax(1) == yb
            top1 += hit1.sum().item()
            top5 += (logits.topk(5, 1).indices == yb[:, None]).any(1).sum().item()
            if i < TEN_CROP_IMAGES:
                prob = (F.softmax(logits, 1) + F.softmax(net(torch.flip(xb, [3])), 1)) / 2
                ten += (prob.argmax(1) == yb).sum().item()
            np.add.at(per_class_hits, yb.numpy(), hit1.numpy().astype(np.float64))
            np.add.at(per_class_n, yb.numpy(), 1)
    n = len(x)
    return top1 / n, top5 / n, ten / TEN_CROP_IMAGES, (per_class_hits / per_class_n).tolist()


def main():
    tensors, meta = load_safetensors(os.path.join(ROOT, "data", "alexnet-28-fmnist.safetensors"))
    net = AlexNet28()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("momentum.")})
    net.eval()
    mean, std = float(meta["mean"]), float(meta["std"])
    test_x, test_y = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")

    def normalise_with(u8):
        return (torch.from_numpy(u8.astype(np.float32)).unsqueeze(1) / 255.0 - mean) / std

    accuracy, top5, ten_crop, per_class = evaluate(net, normalise_with(test_x), torch.from_numpy(test_y.astype(np.int64)))
    demo = os.path.join(ROOT, "data", "demo")
    names = sorted(n for n in os.listdir(demo) if n.endswith(".png"))
    pixels = np.stack([np.asarray(Image.open(os.path.join(demo, n))) for n in names])
    labels = [CLASSES.index(next(c for c in CLASSES if c.lower().replace("/", "-").replace(" ", "-") == n[5:-4]))
              for n in names]
    with torch.no_grad():
        logits = net(normalise_with(pixels)).numpy()
    save_safetensors(os.path.join(ROOT, "tests", "fixtures", "fmnist_demo_logits.safetensors"),
                     {"logits": logits, "labels": np.array(labels, np.float32)},
                     {"files": json.dumps(names), "test_accuracy": repr(accuracy), "test_top5_accuracy": repr(top5),
                      "test_ten_crop_accuracy": repr(ten_crop), "test_per_class_accuracy": json.dumps(per_class)})
    print(json.dumps({"test_accuracy": accuracy, "test_top5_accuracy": top5, "test_ten_crop_accuracy": ten_crop,
                      "demo_images": len(names)}))


if __name__ == "__main__":
    main()
