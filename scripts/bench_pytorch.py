#!/usr/bin/python3
"""PyTorch's forward speed for the same networks on this machine, for comparison with
alexnet-bench: images/s at batch 32 and batch-1 latency (median of timed runs after warm-up).

    /usr/bin/python3 scripts/bench_pytorch.py
"""
import json
import os
import statistics
import time

import torch
import torchvision


def timed(net, batch, runs, warmup=3):
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        for _ in range(warmup):
            net(x)
        ms = []
        for _ in range(runs):
            t = time.perf_counter()
            net(x)
            ms.append((time.perf_counter() - t) * 1000)
    return statistics.median(ms)


def main():
    torch.set_num_threads(os.cpu_count())
    net = torchvision.models.alexnet().eval()
    b32 = timed(net, 32, 10)
    b1 = timed(net, 1, 50)
    print(json.dumps({"framework": "pytorch " + torch.__version__, "model": "torchvision alexnet",
                      "batch32_images_per_sec": round(32000 / b32, 1), "batch1_median_ms": round(b1, 2)}))


if __name__ == "__main__":
    main()
