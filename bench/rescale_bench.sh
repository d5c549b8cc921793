#!/usr/bin/env bash
# Rescale pause of elastic training through the whole platform: a local server
# and two agents (2 GPU slots each) run one drover-train job on 4 workers, and
# `drover update` moves its bounds 4 -> 2 -> 4 -> ... N times. The pause is
# what the runtime measures from the last step at the old size to the moment
# the first step at the new size can start (re-forming the Gloo group through
# the server's rendezvous store, electing the root, broadcasting its state),
# as the job's `rescales` record it. Prints each pause and the medians.
#
#   bench/rescale_bench.sh [--cycles 6] [--model mlp]
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=6 MODEL=mlp
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cycles) CYCLES=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    *) echo "rescale_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
D=$PWD/build/src/cli/drover
TRAIN=$PWD/build/src/train/drover-train
[[ -x $D && -x $TRAIN ]] || { echo "rescale_bench: build first (./scripts/build.sh)" >&2; exit 1; }
OUT=$(mktemp -d /tmp/drover-rescale-bench.XXXXXX)
export DROVER_CONFIG=$OUT/config.json OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
PORT=$((18600 + RANDOM % 300))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT
. scripts/local-cluster.sh

start_local_cluster "$D" "$OUT" "$PORT" 2 >/dev/null
printf 'consumers:\n  - name: bench\n    owned: 4\n' >"$OUT/plan.yaml"
"$D" plan apply -f "$OUT/plan.yaml" >/dev/null
cat >"$OUT/job.yaml" <<YAML
name: rescale-bench
consumer: /bench
workers: {min: 1, max: 4}
resources: {gpus: 1, cpus: 1, memory: 2Gi}   # limits too: each worker gets its own cgroup
command: ["$TRAIN", "--model", "$MODEL", "--epochs", "0", "--max-steps", "1000000", "--threads", "1",
          "--min-step-ms", "10", "--log-every", "0"]
YAML
id=$("$D" submit -f "$OUT/job.yaml" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
world() { "$D" job "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("reported_world_size") or 0)'; }
await() {  # await N: the workers train as a group of N
  for _ in $(seq 600); do [[ $(world) == "$1" ]] && return 0; sleep 0.1; done
  echo "rescale_bench: the job never trained on $1 workers; see $OUT" >&2; trap - EXIT; exit 1
}
await 4
for ((i = 0; i < CYCLES; i++)); do
  "$D" update "$id" --workers 1:2 >/dev/null; await 2; sleep 1
  "$D" update "$id" --workers 1:4 >/dev/null; await 4; sleep 1
done
sleep 2  # the last pause report rides the next heartbeat
"$D" job "$id" -o json | python3 -c '
import json, statistics, sys
r = [x for x in json.load(sys.stdin)["rescales"] if x.get("pause_ms") is not None]
for kind, f, t in (("shrink", 4, 2), ("grow", 2, 4)):
    p = [x["pause_ms"] for x in r if x["from"] == f and x["to"] == t]
    if p:
        print(f"{kind} {f} -> {t}: median {statistics.median(p):.1f} ms over {len(p)}  (each: " +
              " ".join(f"{v:.0f}" for v in p) + ")")
    else:
        print(f"{kind} {f} -> {t}: no pause reported")
'
"$D" cancel "$id" >/dev/null
