#!/usr/bin/env bash
# Searcher quality on the tabular benchmarks, drover and Optuna side by side
# in one run: for each table of ../shared/data/hpo at 50 and 100 trials, 20
# seeds, the median best value and its regret (distance to the table's best)
# for random search (the control), drover's TPE (ordered numbers, and all
# categorical as Optuna is given the tables), and Optuna 3.1's TPE.
#
#   bench/hpo_bench.sh [build/src/cli/drover] [--seeds K]
# Needs python3-optuna (Debian). Prints a table; exits 1 if drover's TPE is
# worse than Optuna's anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
DROVER=${1:-build/src/cli/drover}
SEEDS=${SEEDS:-20}
DATA=${DATA:-../shared/data/hpo}
PY=/usr/bin/python3  # Debian's, with python3-optuna (not a pyenv shim)
$PY -c "import optuna" 2>/dev/null || { echo "hpo_bench: $PY has no optuna (apt-get install python3-optuna)"; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for spec in hpolib/naval_propulsion:minimize hpolib/parkinsons_telemonitoring:minimize nasbench201/cifar10:maximize; do
  table="$DATA/${spec%%:*}.csv.gz"
  dir=${spec##*:}
  for trials in 50 100; do
    common=(--table "$table" --direction "$dir" --trials "$trials" --seeds "$SEEDS" --json)
    "$DROVER" exp sim "${common[@]}" --algorithm random | jq -c '. + {side: "drover random"}' >>"$out"
    "$DROVER" exp sim "${common[@]}" --algorithm tpe | jq -c '. + {side: "drover tpe"}' >>"$out"
    "$DROVER" exp sim "${common[@]}" --algorithm tpe --categorical | jq -c '. + {side: "drover tpe (categorical)"}' >>"$out"
    $PY bench/hpo_optuna.py "${common[@]::8}" | jq -c '. + {side: "optuna tpe"}' >>"$out"
  done
done
$PY - "$out" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'table':28} {'trials':>6} {'side':26} {'median best':>12} {'regret':>10} {'vs optuna':>9} {'s':>6}")
worse = False
for r in rows:
    r["regret"] = abs(r["median_best"] - r["table_best"])
for r in rows:
    peer = next(p for p in rows if p["side"] == "optuna tpe" and p["table"] == r["table"] and p["trials"] == r["trials"])
    ratio = r["regret"] / peer["regret"] if peer["regret"] > 0 else float("nan")
    name = os.path.basename(r["table"]).replace(".csv.gz", "")
    print(f"{name:28} {r['trials']:>6} {r['side']:26} {r['median_best']:>12.6g} {r['regret']:>10.4g} {ratio:>9.3f} {r['seconds']:>6.1f}")
    if r["side"] == "drover tpe" and r["regret"] > peer["regret"]:
        worse = True
print("regret ratio < 1: lower regret than Optuna's TPE (median over seeds)")
sys.exit(1 if worse else 0)
PY
