#!/usr/bin/env python3
"""The peer of drover-train in bench/train_bench.sh: PyTorch DDP (Gloo).

Same models (FashionCnn / FashionMlp of src/train/models.h), same data, same
global batch split over the workers, same SGD. Launched like torchrun would,
with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in the environment (Debian's
torchrun 1.13 fails on Python 3.11). Rank 0 prints one line:
  summary {"samples_per_s": ..., "steps": ..., "test_accuracy": ..., "time_to_target_s": ...}
"""
import argparse
import gzip
import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


class FashionCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


class FashionMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def load(data, prefix):
    with gzip.open(os.path.join(data, prefix + "-images-idx3-ubyte.gz")) as f:
        images = torch.frombuffer(bytearray(f.read()[16:]), dtype=torch.uint8).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(data, prefix + "-labels-idx1-ubyte.gz")) as f:
        labels = torch.frombuffer(bytearray(f.read()[8:]), dtype=torch.uint8)
    return images.float() / 255.0, labels.long()


def accuracy(model, images, labels):
    model.eval()
    correct = 0
    with torch.no_grad():
        for b in range(0, len(images), 1000):
            correct += (model(images[b:b + 1000]).argmax(1) == labels[b:b + 1000]).sum().item()
    model.train()
    return correct / len(images)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="cnn")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--global-batch", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--epochs", type=int, default=0)
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--target-accuracy", type=float, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, or cuda (this rank's GPU: LOCAL_RANK, else 0) with NCCL")
    a = p.parse_args()

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = a.device.startswith("cuda")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    torch.manual_seed(a.seed)
    model = (FashionCnn() if a.model == "cnn" else FashionMlp()).to(device)
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=a.lr, momentum=a.momentum)
    images, labels = (t.to(device) for t in load(a.data, "train"))
    test_images, test_labels = (t.to(device) for t in load(a.data, "t10k"))
    n = len(images)
    local = a.global_batch // world  # DDP averages gradients: equal slices
    gen = torch.Generator().manual_seed(a.seed)
    perm, cursor, epoch, step = torch.randperm(n, generator=gen).to(device), 0, 0, 0
    start = time.perf_counter()
    measure_from, measured, eval_time, to_target, acc = None, 0, 0.0, None, None
    while True:
        if a.max_steps and step >= a.max_steps:
            break
        if a.epochs and epoch >= a.epochs:
            break
        if cursor + a.global_batch > n:
            epoch, cursor = epoch + 1, 0
            perm = torch.randperm(n, generator=gen).to(device)
            continue
        idx = perm[cursor + rank * local: cursor + (rank + 1) * local]
        cursor += a.global_batch
        loss = F.cross_entropy(ddp(images[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step == a.warmup_steps:
            if cuda:
                torch.cuda.synchronize()
            measure_from = time.perf_counter()
        elif step > a.warmup_steps:
            measured += a.global_batch
        if a.eval_every and step % a.eval_every == 0:
            t0 = time.perf_counter()
            acc = accuracy(model, test_images, test_labels)
            eval_time += time.perf_counter() - t0
            if rank == 0:
                print(f"step {step} test accuracy {acc:.4f}", flush=True)
            if a.target_accuracy and acc >= a.target_accuracy:
                to_target = time.perf_counter() - start - eval_time
                break
    if cuda:
        torch.cuda.synchronize()  # kernels still queued belong to the measured steps
    wall = time.perf_counter() - (measure_from or start)
    if rank == 0:
        if acc is None:
            acc = accuracy(model, test_images, test_labels)
        print("summary " + json.dumps({
            "samples_per_s": measured / wall if measure_from else 0.0,
            "steps": step, "world_size": world, "test_accuracy": acc,
            "time_to_target_s": to_target}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
