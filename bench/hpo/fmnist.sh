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
THRESHOLDS = (0.87, 0.88)
def stats(r):
    reps = sorted(r["reports"], key=lambda x: x["t"])
    out = []
    for th in THRESHOLDS:
        hit = next((x for x in reps if x["acc"] >= th), None)
        out += [hit["t"] if hit else None, sum(1 for x in reps if x["t"] <= hit["t"]) if hit else None]
    return out + [max((x["acc"] for x in reps), default=0), r["wall_s"]]
def fmt(v, digits=1):
    return "-" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))
head = "".join(f"{'s to ' + str(t):>10} {'epochs':>7}" for t in THRESHOLDS)
print(f"{'side':12} {'seed':>4} {head} {'best':>7} {'wall s':>7}")
per = {}
for r in rows:
    s = stats(r)
    per.setdefault(r["side"], []).append(s)
    cells = "".join(f"{fmt(s[2 * i]):>10} {fmt(s[2 * i + 1]):>7}" for i in range(len(THRESHOLDS)))
    print(f"{r['side']:12} {r['seed']:>4} {cells} {s[-2]:>7.4f} {s[-1]:>7.1f}")
def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if len(v) * 2 > len(per[next(iter(per))]) else None  # a median only if most seeds got there
print("medians (- where most seeds never got there):")
m = {}
for side, v in per.items():
    m[side] = [med([s[i] for s in v]) for i in range(len(v[0]))]
    cells = "".join(f"{fmt(m[side][2 * i]):>10} {fmt(m[side][2 * i + 1]):>7}" for i in range(len(THRESHOLDS)))
    print(f"{side:12} {'':>4} {cells} {m[side][-2]:>7.4f} {m[side][-1]:>7.1f}")
d, o = m.get("drover asha"), m.get("optuna asha")
for i, th in enumerate(THRESHOLDS):
    if d and o and d[2 * i] and o[2 * i]:
        print(f"time to {th}: drover / Optuna = {d[2 * i] / o[2 * i]:.2f} (target <= 0.5)")
if d and o:
    print(f"best: drover {d[-2]:.4f}, Optuna {o[-2]:.4f}; wall: drover {d[-1]:.1f} s, Optuna {o[-1]:.1f} s")
PY
