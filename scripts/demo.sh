#!/usr/bin/env bash
# The main job, for now: the simulator compares scheduling policies on the
# bundled Pollux workloads (Philly-derived) and replays a week of the Philly
# trace under a per-team plan, writing two HTML reports with charts.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
mkdir -p out
W=data/pollux/workloads
echo "== Pollux workloads 1-4: fifo vs tiresias vs drover (16 nodes x 4 GPUs) =="
./build/src/cli/drover sim --policy fifo,tiresias,drover \
  --workload $W/workload-1.csv,$W/workload-2.csv,$W/workload-3.csv,$W/workload-4.csv \
  --report out/sim-report.html
echo
echo "== Philly trace, one week, one consumer per virtual cluster (384 GPUs) =="
./build/src/cli/drover sim --philly --philly-start 2017-10-02 --philly-days 7 --gpus 384 \
  --policy tiresias,drover --report out/philly-report.html
