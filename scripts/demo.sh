#!/usr/bin/env bash
# The main job: a local drover cluster (one server, two agents with 4 GPU
# slots each) shared by two teams under a plan. Team alpha's elastic job takes
# the whole idle cluster; when team beta submits, alpha's job shrinks to its
# share without restarting, and grows back when beta is done. Then the
# simulator compares the scheduling policies on real cluster traces and writes
# HTML reports to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
D=$PWD/build/src/cli/drover
OUT=$PWD/out/demo
rm -rf "$OUT" && mkdir -p "$OUT"
export DROVER_CONFIG=$OUT/config.json
PORT=${DROVER_DEMO_PORT:-18480}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { echo "\$ drover $*"; "$D" "$@"; }

step "start a server and two agents (4 GPU slots each) on 127.0.0.1:$PORT"
"$D" server --data-dir "$OUT/server" --listen "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 & pids+=($!)
for i in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
for h in host-a host-b; do
  "$D" agent --server "http://127.0.0.1:$PORT" --join-token "$(cat "$OUT/server/join.token")" \
    --name $h --gpus 4 --work-dir "$OUT/$h" >"$OUT/$h.log" 2>&1 & pids+=($!)
done
"$D" login --server "http://127.0.0.1:$PORT" --token "$(cat "$OUT/server/admin.token")"
sleep 1
show hosts

step "apply the two-team plan"
show plan apply -f examples/demo/plan.yaml

step "alpha submits an elastic job (1..8 workers): it borrows beta's idle GPUs"
show submit -f examples/demo/alpha-train.yaml
sleep 2
show jobs
show consumers

step "beta submits an elastic job and a rigid one: alpha shrinks to its share, same processes"
show submit -f examples/demo/beta-train.yaml
show submit -f examples/demo/beta-eval.yaml
sleep 3
show jobs
show consumers
show job 1

step "beta's jobs finish: alpha grows back"
for i in $(seq 60); do
  [ "$("$D" jobs --state RUNNING -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')" = 1 ] && break
  sleep 1
done
sleep 2
show jobs
show consumers
show logs 3 --tail 3

step "the simulator: policies compared on the Pollux workloads and a week of the Philly trace"
W=data/pollux/workloads
"$D" sim --policy fifo,tiresias,drover -q --report out/sim-report.html \
  --workload $W/workload-1.csv,$W/workload-2.csv,$W/workload-3.csv,$W/workload-4.csv
"$D" sim --philly --philly-start 2017-10-02 --philly-days 7 --gpus 384 -q \
  --policy tiresias,drover --report out/philly-report.html | head -3
echo
echo "reports: out/sim-report.html, out/philly-report.html; cluster logs: $OUT"
