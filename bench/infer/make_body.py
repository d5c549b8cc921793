#!/usr/bin/env python3
"""Writes an Open Inference Protocol v2 infer request body for the FashionCnn.

  python3 bench/infer/make_body.py OUT.json [--index I] [--batch B] [--data DIR] [--random] [--seed S]

One 1x1x28x28 FP32 image by default ({"inputs": [{"name": "input", "shape":
[1, 1, 28, 28], "datatype": "FP32", "data": [...784 floats...]}]}), taken
from Debian's dataset-fashion-mnist test set (pixels / 255, as the trainer
feeds them) when it is installed, else deterministic pseudo-random values in
[0, 1) so the benchmark still runs without it. A real image makes the body a
realistic size to parse: mostly exact zeros (background) and some long
fractions, as json.dumps of a client's float list would write them.
"""
import argparse
import gzip
import json
import os
import random

DATA = "/usr/share/datasets/fashion-mnist"  # dpkg -L dataset-fashion-mnist
PIXELS = 28 * 28


def test_images(data, first, count):
    path = os.path.join(data, "t10k-images-idx3-ubyte.gz")
    with gzip.open(path) as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")  # idx3 header: magic, count, rows, cols
    if first + count > n:
        raise SystemExit(f"make_body: {path} has {n} images, asked for {first}..{first + count - 1}")
    start = 16 + first * PIXELS
    return [b / 255.0 for b in raw[start:start + count * PIXELS]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="file to write the JSON body to")
    ap.add_argument("--index", type=int, default=0, help="first test-set image (default 0)")
    ap.add_argument("--batch", type=int, default=1, help="images in the request (default 1)")
    ap.add_argument("--data", default=DATA, help=f"Fashion-MNIST directory (default {DATA})")
    ap.add_argument("--random", action="store_true", help="pseudo-random pixels even if the data set is there")
    ap.add_argument("--seed", type=int, default=1, help="seed of the pseudo-random pixels")
    args = ap.parse_args()

    if not args.random and os.path.exists(os.path.join(args.data, "t10k-images-idx3-ubyte.gz")):
        data, source = test_images(args.data, args.index, args.batch), f"fashion-mnist test image {args.index}"
    else:
        rng = random.Random(args.seed)
        data, source = [rng.random() for _ in range(args.batch * PIXELS)], f"pseudo-random (seed {args.seed})"
    body = {"inputs": [{"name": "input", "shape": [args.batch, 1, 28, 28], "datatype": "FP32", "data": data}]}
    text = json.dumps(body, separators=(",", ":"))
    with open(args.out, "w") as f:
        f.write(text)
    print(f"make_body: wrote {args.out} ({len(text)} bytes, {args.batch}x1x28x28 from {source})")


if __name__ == "__main__":
    main()
