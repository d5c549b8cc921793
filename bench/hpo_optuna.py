#!/usr/bin/python3
"""Optuna's side of bench/hpo_bench.sh: TPESampler (defaults) on a tabular
benchmark, every parameter categorical over the table's values, as the
shared data's README measured it. Prints one JSON object like
`drover exp sim --json`: median_best, bests, table_best."""
import argparse
import csv
import gzip
import json
import statistics
import time

import optuna


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    metric = [i for i, h in enumerate(header) if "_seed" in h and h.rsplit("_seed", 1)[1].isdigit()]
    params = [i for i in range(len(header)) if i not in metric]
    table = {}
    for r in rows:
        vals = [float(r[i]) for i in metric if r[i] != ""]
        table[tuple(r[i] for i in params)] = sum(vals) / len(vals)
    choices = [sorted({r[i] for r in rows}) for i in params]
    return [header[i] for i in params], choices, table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--direction", required=True, choices=["minimize", "maximize"])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    a = ap.parse_args()
    names, choices, table = load(a.table)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bests = []
    t0 = time.time()
    for seed in range(a.seeds):
        sampler = (optuna.samplers.TPESampler(seed=seed) if a.sampler == "tpe"
                   else optuna.samplers.RandomSampler(seed=seed))
        study = optuna.create_study(direction=a.direction, sampler=sampler)

        def objective(trial):
            key = tuple(trial.suggest_categorical(n, c) for n, c in zip(names, choices))
            return table[key]

        study.optimize(objective, n_trials=a.trials)
        bests.append(study.best_value)
    best = min(table.values()) if a.direction == "minimize" else max(table.values())
    print(json.dumps({"table": a.table, "algorithm": "optuna-" + a.sampler, "trials": a.trials, "seeds": a.seeds,
                      "median_best": statistics.median(bests), "bests": bests, "table_best": best,
                      "seconds": time.time() - t0}))


if __name__ == "__main__":
    main()
