#!/usr/bin/python3
"""Full-size check against PyTorch: builds torchvision's AlexNet and a Caffe-layout AlexNet
(grouped convs, LRN, ceil pooling) with random weights, writes them in every format the suite
reads (safetensors; the torchvision net also as a torch.save .pth and an ONNX export; the Caffe
net also as a .caffemodel and an ONNX export with the LRN operator), runs alexnet-embed --layer
fc8 on the given images with each file, and compares with PyTorch's logits for the same images
preprocessed by an independent OpenCV/numpy pipeline. Prints one JSON line per model file.

    /usr/bin/python3 scripts/compare_with_pytorch.py build/alexnet-embed IMAGE...

Needs python3-torch, python3-torchvision, python3-opencv.
"""
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_to_safetensors import save_safetensors, TORCHVISION_PREPROCESSING  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from make_import_fixtures import caffemodel_new, LrnNode  # noqa: E402


def caffe_input(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    interp = cv2.INTER_AREA if bgr.shape[0] >= 256 and bgr.shape[1] >= 256 else cv2.INTER_LINEAR
    r = cv2.resize(bgr, (256, 256), interpolation=interp).astype(np.float32)
    return (r[14:241, 14:241] - np.array([104, 117, 123], np.float32)).transpose(2, 0, 1)


def tv_input(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    h, w = bgr.shape[:2]
    nh, nw = (int(256 * h / w), 256) if w <= h else (256, int(256 * w / h))
    interp = cv2.INTER_AREA if nh <= h and nw <= w else cv2.INTER_LINEAR
    r = cv2.resize(bgr, (nw, nh), interpolation=interp)[:, :, ::-1].astype(np.float32) / 255
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    c = (r[top:top + 224, left:left + 224] - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    return c.astype(np.float32).transpose(2, 0, 1)


def caffe_alexnet():
    lrn = lambda: nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)  # noqa: E731
    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
    convs = [nn.Conv2d(3, 96, 11, 4), nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.Conv2d(256, 384, 3, padding=1),
             nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.Conv2d(384, 256, 3, padding=1, groups=2)]
    fcs = [nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)]
    net = nn.Sequential(convs[0], nn.ReLU(), lrn(), pool(), convs[1], nn.ReLU(), lrn(), pool(), convs[2], nn.ReLU(),
                        convs[3], nn.ReLU(), convs[4], nn.ReLU(), pool(), nn.Flatten(), fcs[0], nn.ReLU(), fcs[1],
                        nn.ReLU(), fcs[2])
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    with torch.no_grad():  # Caffe-like scale: the inputs are 0..255, so keep activations moderate
        for m in convs + fcs:
            m.weight.normal_(0, 0.01)
            m.bias.uniform_(-0.1, 0.1)
    params = {f"{n}.{k}": getattr(m, k).detach().numpy() for n, m in zip(names, convs + fcs) for k in ("weight", "bias")}
    return net, params


def compare(embed, images, net, weights, prepare, name):
    out = subprocess.run([embed, "-q", "--weights", weights, "--layer", "fc8", *images], capture_output=True, text=True)
    if out.returncode != 0:
        print(json.dumps({"model": name, "error": out.stderr.strip()}))
        return float("inf")
    ours = np.array([json.loads(line)["embedding"] for line in out.stdout.splitlines()], np.float32)
    net.eval()
    with torch.no_grad():
        ref = net(torch.from_numpy(np.stack([prepare(p) for p in images]))).numpy()
    err = float(np.abs(ours - ref).max() / np.abs(ref).max())
    agree = float((ours.argmax(1) == ref.argmax(1)).mean())
    print(json.dumps({"model": name, "images": len(images), "relative_max_error": err, "top1_agreement": agree}))
    return err


def main():
    embed, images = sys.argv[1], sys.argv[2:]
    torch.manual_seed(0)
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        path = lambda name: os.path.join(tmp, name)  # noqa: E731
        tv = torchvision.models.alexnet().eval()
        params = {k: v.numpy() for k, v in tv.state_dict().items()}
        save_safetensors(path("tv.safetensors"), params, {"arch": "alexnet-tv", "num_classes": 1000,
                                                          **TORCHVISION_PREPROCESSING})
        torch.save(tv.state_dict(), path("tv.pth"))
        torch.save(tv.state_dict(), path("tv_legacy.pth"), _use_new_zipfile_serialization=False)
        torch.onnx.export(tv, torch.zeros(1, 3, 224, 224), path("tv.onnx"), opset_version=11)
        for f in ("tv.safetensors", "tv.pth", "tv_legacy.pth", "tv.onnx"):
            errors.append(compare(embed, images, tv, path(f), tv_input, "alexnet-tv " + f))

        net, params = caffe_alexnet()
        net.eval()
        save_safetensors(path("caffe.safetensors"), params, {"arch": "alexnet", "num_classes": 1000})
        lrn = {"alpha": 1e-4, "beta": 0.75, "k": 1.0}
        with open(path("caffe.caffemodel"), "wb") as f:
            f.write(caffemodel_new(params, lrn, False))
        exportable = nn.Sequential(*[LrnNode(m) if isinstance(m, nn.LocalResponseNorm) else m for m in net]).eval()
        torch.onnx.export(exportable, torch.zeros(1, 3, 227, 227), path("caffe.onnx"), opset_version=11)
        for f in ("caffe.safetensors", "caffe.caffemodel", "caffe.onnx"):
            errors.append(compare(embed, images, net, path(f), caffe_input, "alexnet " + f))
    sys.exit(0 if max(errors) < 1e-4 else 1)


if __name__ == "__main__":
    main()
