#!/usr/bin/python3
"""alexnet-convert --names torchvision, checked by PyTorch itself: a full-size alexnet-tv model
(seeded random weights from `alexnet-bench random-weights`, or --weights FILE) is converted to a
.pth state dict, loaded into torchvision.models.alexnet(num_classes=N) with
load_state_dict(strict=True), and its logits for one generated 224x224 image are compared with
`alexnet-embed --layer fc8` on the same image (the suite reading the .pth it wrote). Prints one
JSON line with the max differences; exits 1 when the relative max difference exceeds 1e-4.

    /usr/bin/python3 scripts/check_torchvision_export.py [--build build] [--weights FILE]

Needs python3-torch and python3-torchvision (Debian); not run by the test suite.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torchvision
from torchvision.io import read_image, write_png

TOLERANCE = 1e-4  # max |ours - torch| / max |torch|
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the alexnet-tv preset's preprocessing


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
    parser.add_argument("--weights", help="an alexnet-tv model with torchvision's widths (default: random)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights
        if not weights:
            weights = os.path.join(tmp, "random.safetensors")
            run(os.path.join(args.build, "alexnet-bench"), "random-weights", weights, "--arch", "alexnet-tv", "-q")
        pth = os.path.join(tmp, "tv.pth")
        written = json.loads(run(os.path.join(args.build, "alexnet-convert"), weights, "--names", "torchvision",
                                 "-o", pth))
        state = torch.load(pth)
        model = torchvision.models.alexnet(num_classes=written["num_classes"])
        model.load_state_dict(state, strict=True)
        model.eval()

        torch.manual_seed(2012)
        image = os.path.join(tmp, "image.png")
        write_png(torch.randint(0, 256, (3, 224, 224), dtype=torch.uint8), image)
        x = read_image(image).float() / 255
        x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
        with torch.no_grad():
            theirs = model(x[None])[0]
        # 224x224 in, resized to 224 and cropped to 224: the pixels as they are
        line = run(os.path.join(args.build, "alexnet-embed"), "-q", "-w", pth, "--layer", "fc8",
                   "--resize", "224", "--crop-size", "224", image)
        ours = torch.tensor(json.loads(line)["embedding"])
    diff = (ours - theirs).abs().max().item()
    relative = diff / theirs.abs().max().item()
    print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__,
                      "num_classes": written["num_classes"], "strict_load": True,
                      "max_abs_difference": diff, "relative_max_difference": relative}))
    return 0 if relative <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
