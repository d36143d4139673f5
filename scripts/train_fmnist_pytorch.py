#!/usr/bin/python3
"""Trains the interim embedded default model, `alexnet-28` on Fashion-MNIST, with PyTorch, and
writes what `make demo` and the tests use:

    data/alexnet-28-fmnist.safetensors   weights + metadata (arch, preprocessing, labels)
    data/demo/*.png                      a handful of Fashion-MNIST test images
    tests/fixtures/fmnist_demo_logits.safetensors
                                         PyTorch's logits for those PNGs (end-to-end golden test)

    /usr/bin/python3 scripts/train_fmnist_pytorch.py [--epochs 12]

Needs python3-torch, python3-pil and dataset-fashion-mnist (Debian). This stands in until
alexnet-train trains the default itself (`make model`).
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from torch_to_safetensors import save_safetensors  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = 0.2860, 0.3530


def read_idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xff)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


class AlexNet28(nn.Module):
    """The suite's alexnet-28 preset, layer for layer."""
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


def normalise(u8):
    return (torch.from_numpy(u8.astype(np.float32)).unsqueeze(1) / 255.0 - MEAN) / STD


def evaluate(net, x, y):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (net(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count())
    train_x, train_y = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    test_x, test_y = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    xt, yt = normalise(train_x), torch.from_numpy(train_y.astype(np.int64))
    xv, yv = normalise(test_x), torch.from_numpy(test_y.astype(np.int64))

    net = AlexNet28()
    steps_per_epoch = len(xt) // 128
    opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=args.epochs * steps_per_epoch)
    start = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xt))
        for s in range(steps_per_epoch):
            idx = perm[s * 128:(s + 1) * 128]
            x = xt[idx]
            # augmentation: horizontal flip and a random shift of up to 2 pixels
            flip = torch.rand(len(x)) < 0.5
            x[flip] = x[flip].flip(3)
            dx, dy = np.random.randint(-2, 3, size=2)
            x = torch.roll(F.pad(x, (2, 2, 2, 2), value=-MEAN / STD), (int(dy), int(dx)), (2, 3))[:, :, 2:30, 2:30]
            loss = F.cross_entropy(net(x), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(net, xv, yv)
        print(json.dumps({"epoch": epoch + 1, "loss": round(loss.item(), 4), "test_accuracy": acc,
                          "seconds": round(time.time() - start, 1)}), flush=True)

    net.eval()
    tensors = {f"{name}.{p}": getattr(getattr(net, name), p).detach().numpy()
               for name in ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"] for p in ["weight", "bias"]}
    meta = {"arch": "alexnet-28", "num_classes": 10, "input_size": 28, "resize": 28, "resize_mode": "warp",
            "crop_size": 28, "channel_order": "rgb", "pixel_scale": 1, "mean": MEAN, "std": STD,
            "lrn_alpha": 1e-4, "lrn_beta": 0.75, "lrn_k": 1.0, "labels": json.dumps(CLASSES),
            "trained_by": "scripts/train_fmnist_pytorch.py (PyTorch)",
            "test_accuracy": repr(evaluate(net, xv, yv))}
    save_safetensors(os.path.join(ROOT, "data", "alexnet-28-fmnist.safetensors"), tensors, meta)

    # Demo images: the first test image of each class, as PNGs named by index and true label.
    demo = os.path.join(ROOT, "data", "demo")
    os.makedirs(demo, exist_ok=True)
    picks = [int(np.nonzero(test_y == c)[0][0]) for c in range(10)]
    names = []
    for i in picks:
        name = f"{i:04d}-{CLASSES[test_y[i]].lower().replace('/', '-').replace(' ', '-')}.png"
        Image.fromarray(test_x[i]).save(os.path.join(demo, name))
        names.append(name)
    pixels = np.stack([np.asarray(Image.open(os.path.join(demo, n))) for n in names])
    with torch.no_grad():
        logits = net(normalise(pixels)).numpy()
    save_safetensors(os.path.join(ROOT, "tests", "fixtures", "fmnist_demo_logits.safetensors"),
                     {"logits": logits, "labels": test_y[picks].astype(np.float32)},
                     {"files": json.dumps(names)})


if __name__ == "__main__":
    main()
