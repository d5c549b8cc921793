#!/usr/bin/env bash
# The main job: a local drover cluster (one server, two agents with 2 GPU
# slots each) shared by two teams under a plan with equal shares. Team alpha's
# elastic training job (drover-train, Fashion-MNIST) takes all 4 idle slots;
# when team beta submits its own, alpha's job shrinks 4 -> 2 in-process — same
# worker processes, no restart, no lost step — and grows back to 4 when beta's
# job ends. Then beta runs a hyperparameter search (ASHA over drover-train
# trials, each a job of beta's) beside alpha's training, which shrinks for it
# again. Then beta deploys a model beside alpha's training: the first request
# starts a replica, a burst of load scales it to 2 (alpha shrinks for them),
# and it scales back when the load ends. Then the simulator compares the
# scheduling policies on real cluster traces and writes HTML reports to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
D=$PWD/build/src/cli/drover
TRAIN=$PWD/build/src/train/drover-train
export PATH="$PWD/build/bin:$PATH"  # agents start replicas (drover-serve) from their PATH
OUT=$PWD/out/demo
rm -rf "$OUT" && mkdir -p "$OUT"
export DROVER_CONFIG=$OUT/config.json
PORT=${DROVER_DEMO_PORT:-18480}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
. scripts/local-cluster.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { echo "\$ drover $*"; "$D" "$@"; }

step "start a server and two agents (2 GPU slots each) on 127.0.0.1:$PORT"
start_local_cluster "$D" "$OUT" "$PORT" 2
sleep 1
show hosts

step "apply the two-team plan"
show plan apply -f examples/demo/plan.yaml

# The job files name drover-train by a placeholder; fill in this checkout's.
for f in alpha-train beta-train beta-experiment beta-deployment; do
  sed -e "s|@DROVER_TRAIN@|$TRAIN|" -e "s|@OUT@|$OUT|" examples/demo/$f.yaml >"$OUT/$f.yaml"
done
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
json_field() { "$D" job "$1" -o json | python3 -c "import json,sys; v=json.load(sys.stdin).get('$2'); print(-1 if v is None else v)"; }
alpha_pids() { "$D" job 1 -o json | python3 -c "import json,sys; print('alpha worker PIDs $1', sorted(w['pid'] for w in json.load(sys.stdin)['worker_list']))"; }
wait_for() {  # wait_for SECONDS CONDITION...: polls the condition once a second
  local n=$1; shift
  for _ in $(seq "$n"); do eval "$@" && return 0; sleep 1; done
  echo "(still waiting after ${n}s: $*)"
}

step "alpha submits an elastic training job (1..4 workers): it borrows beta's idle slots"
show submit -f "$OUT/alpha-train.yaml"
wait_for 60 '[ "$(json_field 1 reported_world_size)" = 4 ]'
sleep 3
show jobs
show consumers

step "beta submits its training job: alpha shrinks 4 -> 2 in-process (same worker PIDs)"
alpha_pids before:
show submit -f "$OUT/beta-train.yaml"
wait_for 60 '[ "$(json_field 2 reported_world_size)" = 2 ] && [ "$(json_field 1 reported_world_size)" = 2 ]'
alpha_pids "after: "
show jobs
show consumers

step "beta's job finishes: alpha grows back to 4"
wait_for 180 '[ "$(json_field 2 state)" = SUCCEEDED ]'
wait_for 60 '[ "$(json_field 1 reported_world_size)" = 4 ]'
sleep 2
show jobs
show job 1
show logs 2 --tail 2

step "beta runs a hyperparameter search beside alpha's training: its trials are beta's jobs, so alpha shrinks again"
show exp submit -f "$OUT/beta-experiment.yaml" --follow
show jobs
wait_for 60 '[ "$(json_field 1 reported_world_size)" = 4 ] || [ "$(json_field 1 state)" = SUCCEEDED ]'

step "beta deploys a model beside alpha's training (0..2 replicas): the first request starts one"
/usr/bin/python3 bench/infer/export_cnn.py "$OUT/fmnist.pt"
show deploy -f "$OUT/beta-deployment.yaml"
INFER=http://127.0.0.1:$((PORT + 1))/v2/models/fmnist/infer
TOKEN=$(cat "$OUT/server/admin.token")
echo "\$ curl -H 'Authorization: Bearer ...' -d @examples/infer-request.json $INFER"
curl -s -H "Authorization: Bearer $TOKEN" -d @examples/infer-request.json "$INFER" | head -c 160; echo " ..."

step "a burst of load (8 clients for 15 s): the deployment scales to 2 replicas, alpha shrinks for them"
TOKEN=$TOKEN BODY=examples/infer-request.json URL_PATH=/v2/models/fmnist/infer \
  wrk -t 2 -c 8 -d 15s --latency -s bench/infer/infer.lua "http://127.0.0.1:$((PORT + 1))" >"$OUT/burst.json" &
burst=$!
wait_for 15 '"$D" deployment fmnist -o json | grep -q "\"ready\":2"'
show deployments
show jobs
wait "$burst"
echo "burst: $(cat "$OUT/burst.json")"
wait_for 30 '"$D" deployment fmnist -o json | grep -q "\"desired\":1"'
show deployment fmnist

step "alpha finishes its 3 epochs"
wait_for 300 '[ "$(json_field 1 state)" = SUCCEEDED ]'
show logs 1 --tail 2

step "the simulator: policies compared on the Pollux workloads and a week of the Philly trace"
W=data/pollux/workloads
"$D" sim --policy fifo,tiresias,drover --profiles learned,oracle -q --report out/sim-report.html \
  --workload $W/workload-1.csv,$W/workload-2.csv,$W/workload-3.csv,$W/workload-4.csv
"$D" sim --philly --philly-start 2017-10-02 --philly-days 7 --gpus 384 -q \
  --policy tiresias,drover --report out/philly-report.html | head -3
echo
echo "reports: out/sim-report.html, out/philly-report.html; cluster logs: $OUT"

step "the web console: everything above, as pictures"
echo "open http://127.0.0.1:$PORT/ and sign in with the admin token:"
echo "  $(cat "$OUT/server/admin.token")"
echo "(overview, consumers with the plan editor, alpha's job with its resizes and curves, beta's experiment and deployment)"
if [ -t 0 ]; then
  read -r -p "press Enter to stop the demo cluster " _
else
  echo "(stdin is not a terminal: stopping the demo cluster now)"
fi
