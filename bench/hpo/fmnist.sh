#!/usr/bin/env bash
# End-to-end HPO on a real task, drover beside Optuna, in one run: the same
# trial program (fmnist_trial.py: a small CNN on Fashion-MNIST, 12,000 train /
# 5,000 validation, up to 6 epochs, one CPU thread) and space (lr, momentum,
# batch, channels, weight decay), 32 trials, 2 at a time.
#   drover: a local server and one agent with 2 slots; algorithm asha (TPE
#           suggestions), resource epochs 1..6, reduction factor 3.
#   Optuna: TPESampler + SuccessiveHalvingPruner(min 1, factor 3),
#           JournalFileStorage, two worker processes.
# Per side and seed: wall time and trial-epochs until a validation accuracy of
# 0.88 is first reported, the best accuracy, the total wall time; then the
# medians over the seeds and drover's time to 0.88 as a fraction of Optuna's.
#
#   bench/hpo/fmnist.sh [SEEDS...]      (default: 0 1 2; about 10 minutes per seed here)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
DROVER=${DROVER:-$root/build/src/cli/drover}
PY=/usr/bin/python3
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
$PY -c "import optuna, torch" || { echo "fmnist.sh: needs python3-optuna and python3-torch" >&2; exit 2; }
work=$(mktemp -d)
server_pid=""; agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$DROVER" server --data-dir "$work/server" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
export DROVER_SERVER=http://127.0.0.1:$port
for _ in $(seq 100); do [ -s "$work/server/admin.token" ] && break; sleep 0.1; done
export DROVER_TOKEN=$(head -1 "$work/server/admin.token")
"$DROVER" agent --server "$DROVER_SERVER" --join-token-file "$work/server/join.token" --name bench --gpus 2 \
  --work-dir "$work/agent" --cgroups off >"$work/agent.log" 2>&1 &
agent_pid=$!
sleep 1

results=$work/results.jsonl
for seed in "${seeds[@]}"; do
  cat >"$work/exp.yaml" <<YAML
name: fmnist-$seed
search:
  algorithm: asha
  metric: val_acc
  goal: maximize
  max_trials: 32
  max_parallel: 2
  seed: $seed
  resource: {name: epochs, min: 1, max: 6, reduction_factor: 3}
parameters:
  lr: {type: log, min: 1e-3, max: 0.5}
  momentum: {type: double, min: 0.0, max: 0.99}
  batch: {type: categorical, values: [32, 64, 128, 256]}
  channels: {type: categorical, values: [4, 8, 12, 16]}
  weight_decay: {type: log, min: 1e-6, max: 1e-2}
trial:
  resources: {gpus: 1, cpus: 1, memory: 2Gi}
  command: [$PY, $root/bench/hpo/fmnist_trial.py, --lr, "\${params.lr}", --momentum, "\${params.momentum}",
            --batch, "\${params.batch}", --channels, "\${params.channels}",
            --weight-decay, "\${params.weight_decay}", --epochs, "\${resource.epochs}"]
YAML
  id=$("$DROVER" exp submit -f "$work/exp.yaml" -o json | jq .id)
  while [ "$("$DROVER" exp show "$id" -o json | jq -r .state)" = RUNNING ]; do sleep 2; done
  "$DROVER" exp trials "$id" -o json >"$work/trials.json"
  created=$("$DROVER" exp show "$id" -o json | jq .created)
  ended=$("$DROVER" exp show "$id" -o json | jq .ended)
  for job in $(jq '.[].job' "$work/trials.json"); do
    curl -sf -H "Authorization: Bearer $DROVER_TOKEN" "$DROVER_SERVER/api/v1/jobs/$job/metrics" |
      jq -c --argjson c "$created" --argjson job "$job" '.metrics[] | {t: (.time - $c), trial: $job, epoch: .values.epoch, acc: .values.val_acc}'
  done | jq -s -c --argjson seed "$seed" --argjson wall "$(jq -n "$ended - $created")" \
    '{side: "drover asha", seed: $seed, wall_s: $wall, reports: .}' >>"$results"
  mkdir -p "$work/optuna-$seed"
  $PY bench/hpo/fmnist_optuna.py --seed "$seed" --dir "$work/optuna-$seed" >>"$results"
done

$PY - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def stats(r):
    reps = sorted(r["reports"], key=lambda x: x["t"])
    hit = next((x for x in reps if x["acc"] >= 0.88), None)
    t088 = hit["t"] if hit else None
    epochs088 = sum(1 for x in reps if hit and x["t"] <= hit["t"]) if hit else None
    best = max((x["acc"] for x in reps), default=0)
    return t088, epochs088, best, r["wall_s"]
print(f"{'side':12} {'seed':>4} {'s to 0.88':>10} {'epochs to 0.88':>15} {'best':>7} {'wall s':>7}")
med = {}
for r in rows:
    t, e, b, w = stats(r)
    med.setdefault(r["side"], []).append((t, e, b, w))
    print(f"{r['side']:12} {r['seed']:>4} {t if t is None else round(t, 1)!s:>10} {e!s:>15} {b:>7.4f} {w:>7.1f}")
def m(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None
print("medians:")
out = {}
for side, v in med.items():
    out[side] = [m([x[i] for x in v]) for i in range(4)]
    t, e, b, w = out[side]
    print(f"{side:12} {'':>4} {t if t is None else round(t, 1)!s:>10} {e!s:>15} {b:>7.4f} {w:>7.1f}")
d, o = out.get("drover asha"), out.get("optuna asha")
if d and o and d[0] and o[0]:
    print(f"drover's time to 0.88 / Optuna's: {d[0] / o[0]:.2f} (target <= 0.5); best {d[2]:.4f} vs {o[2]:.4f}")
PY
