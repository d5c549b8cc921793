#!/usr/bin/python3
"""The trial program of bench/hpo/fmnist.sh, the same under drover and Optuna.

Fashion-MNIST (Debian's dataset-fashion-mnist): train on the first 12,000 of
a seed-0 permutation of the training file, validate on the next 5,000.
SmallCNN(c): conv3x3(1->c)-ReLU-maxpool2 -> conv3x3(c->2c)-ReLU-maxpool2 ->
Linear(2c*49 -> 10); inputs normalised by the training set's mean and std;
SGD(lr, momentum, weight_decay), constant lr; one CPU
thread. After each epoch the validation accuracy is reported: as a
`drover-metric` line when run as a program, through `report` when imported.
"""
import argparse
import gzip
import json
import sys

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def load():
    with gzip.open(f"{DATA}/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DATA}/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    order = np.random.RandomState(0).permutation(len(y))
    x = torch.tensor((x[order].astype(np.float32) / 255.0 - 0.2860) / 0.3530)  # the training set's mean and std
    y = torch.tensor(y[order].astype(np.int64))
    return (x[:12000], y[:12000]), (x[12000:17000], y[12000:17000])


def small_cnn(c):
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * c * 49, 10))


def train(lr, momentum, batch, channels, weight_decay, epochs, report, seed=0):
    """Trains, calling report(epoch, val_acc) after each epoch; stops early when it returns False."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    (tx, ty), (vx, vy) = load()
    model = small_cnn(channels)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(ty))
        for i in range(0, len(ty), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(tx[idx]), ty[idx])
            if not torch.isfinite(loss):
                break
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(vx).argmax(1) == vy).float().mean())
        if report(epoch, acc) is False:
            break
    return acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--momentum", type=float, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--weight-decay", type=float, required=True)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()

    def report(epoch, acc):
        print("drover-metric " + json.dumps({"epoch": epoch, "val_acc": acc}), flush=True)

    train(a.lr, a.momentum, a.batch, a.channels, a.weight_decay, a.epochs, report)


if __name__ == "__main__":
    sys.exit(main())
