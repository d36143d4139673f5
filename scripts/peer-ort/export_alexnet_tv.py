#!/usr/bin/python3
# Export torchvision AlexNet (random weights, 1000 classes) to ONNX, opset 13, for the ONNX Runtime
# peer of alexnet-bench (scripts/peer-ort/run.sh). Debian's python3-torch and python3-torchvision.
# Usage: /usr/bin/python3 export_alexnet_tv.py OUT.onnx
import os
import sys
import torch
import torchvision

torch.manual_seed(0)
model = torchvision.models.alexnet(num_classes=1000)  # weights=None -> random init
model.eval()

dummy = torch.randn(1, 3, 224, 224, dtype=torch.float32)
out = sys.argv[1]
with torch.no_grad():
    torch.onnx.export(
        model, dummy, out,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        opset_version=13, do_constant_folding=True,
    )
print("wrote", out, os.path.getsize(out), "bytes")
