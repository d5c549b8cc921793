#!/usr/bin/env python3
"""Exports the Fashion-MNIST CNN of src/train/models.h as TorchScript.

  python3 bench/infer/export_cnn.py OUT.pt [--seed N]

The model served by both sides of bench/infer_bench.sh (drover-serve and the
FastAPI peer): the same layers as drover's FashionCnn (and
bench/ddp_fashion_mnist.py), with the same module names (conv1, conv2, fc1,
fc2), so a state dict trained by either maps onto it. The weights are the
seeded initial ones: inference speed does not depend on their values, and a
benchmark needs no training run. Input float32 [N, 1, 28, 28], output [N, 10].
Uses Debian's python3-torch (1.13), whose TorchScript libtorch-dev can load.
"""
import argparse
import os
import sys

import torch

# The model is defined once, for the training benchmark's peer.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ddp_fashion_mnist import FashionCnn  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="where to write the TorchScript module (.pt)")
    ap.add_argument("--seed", type=int, default=1, help="torch.manual_seed for the initial weights")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = FashionCnn().eval()  # no dropout/batch norm here, but a served model is in eval mode
    scripted = torch.jit.script(model)
    # Check the scripted module against the eager one before writing it, so a
    # broken export fails here and not as wrong answers under load.
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        y = scripted(x)
        assert y.shape == (2, 10), y.shape
        assert torch.allclose(y, model(x), atol=1e-6)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    scripted.save(args.out)
    params = sum(p.numel() for p in model.parameters())
    print(f"export_cnn: wrote {args.out} (FashionCnn, {params} parameters, seed {args.seed})")


if __name__ == "__main__":
    main()
