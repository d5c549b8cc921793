#!/usr/bin/python3
"""Optuna's side of bench/hpo/fmnist.sh: TPE with SuccessiveHalvingPruner(min
1, factor 3), JournalFileStorage, two worker processes, 32 trials of
fmnist_trial.py's training. Prints one JSON object: every report's time since
the start, trial and accuracy, and the total wall time."""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time

import optuna

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist_trial  # noqa: E402


def worker(storage_path, name, n_trials, start, out_path, seed, wid):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(storage_path))
    study = optuna.load_study(study_name=name, storage=storage,
                              sampler=optuna.samplers.TPESampler(seed=seed * 100 + wid),
                              pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))

    def objective(trial):
        p = dict(lr=trial.suggest_float("lr", 1e-3, 0.5, log=True),
                 momentum=trial.suggest_float("momentum", 0.0, 0.99),
                 batch=trial.suggest_categorical("batch", [32, 64, 128, 256]),
                 channels=trial.suggest_categorical("channels", [4, 8, 12, 16]),
                 weight_decay=trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True))

        def report(epoch, acc):
            with open(out_path, "a") as f:
                f.write(json.dumps({"t": time.time() - start, "trial": trial.number, "epoch": epoch, "acc": acc}) + "\n")
            trial.report(acc, epoch)
            return not trial.should_prune()

        acc = fmnist_trial.train(epochs=6, report=report, **p)
        if trial.should_prune():
            raise optuna.TrialPruned()
        return acc

    study.optimize(objective, n_trials=n_trials)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    storage_path = os.path.join(a.dir, "journal.log")
    out_path = os.path.join(a.dir, "reports.jsonl")
    for p in (storage_path, out_path):
        if os.path.exists(p):
            os.remove(p)
    storage = optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(storage_path))
    name = f"fmnist-{a.seed}"
    optuna.create_study(study_name=name, storage=storage, direction="maximize")
    start = time.time()
    procs = [mp.Process(target=worker, args=(storage_path, name, a.trials // 2, start, out_path, a.seed, w))
             for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.time() - start
    reports = [json.loads(l) for l in open(out_path)] if os.path.exists(out_path) else []
    print(json.dumps({"side": "optuna asha", "seed": a.seed, "wall_s": wall, "reports": reports}))


if __name__ == "__main__":
    main()
