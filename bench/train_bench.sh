#!/usr/bin/env bash
# Side by side, in one run: drover-train against PyTorch DDP (Debian's
# python3-torch, Gloo, launched with RANK/WORLD_SIZE env vars), same model,
# global batch, optimizer and data, at 1 and 2 workers on this machine; then
# the wall time of each to reach a test accuracy target.
#
#   bench/train_bench.sh [--model cnn] [--steps 300] [--reps 3] [--target 0.88]
#   (--reps 0: only the time to the target; --skip-target: only samples/s)
#
# Runs alternate (drover, DDP, drover, DDP, ...) so machine noise hits both;
# the table gives each side's median samples/s and the ratio drover/DDP.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=cnn STEPS=300 REPS=3 TARGET=0.88 TARGET_EPOCHS=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --target) TARGET=$2; shift 2 ;;
    --skip-target) TARGET=0; shift ;;
    *) echo "train_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN=${DROVER_TRAIN:-build/src/train/drover-train}
PY=/usr/bin/python3
[[ -x $BIN ]] || { echo "train_bench: $BIN not built (./scripts/build.sh)" >&2; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "train_bench: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }
# OpenBLAS misdetects some virtual CPUs and falls back to slow kernels.
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
export MASTER_ADDR=127.0.0.1
PORT=$((29700 + RANDOM % 200))

# run WORLD CMD... : starts WORLD ranks of CMD, prints rank 0's summary JSON.
run() {
  local world=$1; shift
  PORT=$((PORT + 1))
  local pids=() out
  out=$(mktemp)
  for ((r = world - 1; r >= 1; r--)); do
    RANK=$r WORLD_SIZE=$world MASTER_PORT=$PORT "$@" >/dev/null 2>&1 &
    pids+=($!)
  done
  RANK=0 WORLD_SIZE=$world MASTER_PORT=$PORT "$@" >"$out" 2>&1 || { cat "$out" >&2; rm -f "$out"; return 1; }
  for p in "${pids[@]}"; do wait "$p"; done
  grep '^summary ' "$out" | sed 's/^summary //'
  rm -f "$out"
}
field() { $PY -c "import json,sys; v=json.loads(sys.argv[1])['$1']; print('' if v is None else v)" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# tuned THREADS CMD...: CMD with the process settings drover's runtime applies
# itself (TuneProcessForTraining), given by hand: the DDP+ runs.
tuned() {
  local threads=$1; shift
  GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432 \
    OPENBLAS_NUM_THREADS=$( ((threads > 1)) && echo 1 || nproc) "$@"
}

common=(--model "$MODEL" --global-batch 64 --lr 0.05 --momentum 0.9 --seed 1 --warmup-steps 10)
echo "model $MODEL, global batch 64, SGD(0.05, momentum 0.9), $STEPS steps, $REPS runs each, $(nproc) CPUs"
echo "intra-op threads per worker: CPUs / workers, for both (Debian's Python torch defaults to 1, libtorch to all)"
echo "DDP+: DDP given by hand the process settings drover's runtime applies itself (tuned, above):"
echo "      glibc malloc keeps freed blocks, OpenBLAS on one thread when torch has more than one"
printf '%-8s %16s %16s %8s %16s %8s\n' workers "drover samples/s" "DDP samples/s" ratio "DDP+ samples/s" ratio
worlds=(1 2)
((REPS > 0)) || worlds=()  # --reps 0: only the time to the target
for world in "${worlds[@]}"; do
  d=() p=() q=()
  threads=$(( $(nproc) / world )); ((threads >= 1)) || threads=1
  for ((i = 0; i < REPS; i++)); do
    d+=("$(field samples_per_s "$(run "$world" "$BIN" "${common[@]}" --threads "$threads" --max-steps "$STEPS" --log-every 0)")")
    p+=("$(field samples_per_s "$(run "$world" $PY bench/ddp_fashion_mnist.py "${common[@]}" --threads "$threads" --max-steps "$STEPS")")")
    q+=("$(field samples_per_s "$(tuned "$threads" run "$world" $PY bench/ddp_fashion_mnist.py "${common[@]}" --threads "$threads" --max-steps "$STEPS")")")
  done
  md=$(median "${d[@]}") mp=$(median "${p[@]}") mq=$(median "${q[@]}")
  printf '%-8s %16.0f %16.0f %7.2fx %16.0f %7.2fx   (drover: %s; DDP: %s; DDP+: %s)\n' "$world" "$md" "$mp" \
    "$(awk -v a="$md" -v b="$mp" 'BEGIN {print a / b}')" "$mq" "$(awk -v a="$md" -v b="$mq" 'BEGIN {print a / b}')" \
    "$(printf '%.0f ' "${d[@]}")" "$(printf '%.0f ' "${p[@]}")" "$(printf '%.0f ' "${q[@]}")"
done

if [[ $TARGET != 0 ]]; then
  echo
  echo "time to $TARGET test accuracy (1 worker, evaluating every 100 steps; evaluation time excluded)"
  tc=(--model "$MODEL" --threads "$(nproc)" --global-batch 64 --lr 0.05 --momentum 0.9 --seed 1 --eval-every 100
      --target-accuracy "$TARGET" --epochs "$TARGET_EPOCHS")
  sd=$(run 1 "$BIN" "${tc[@]}" --log-every 0)
  sp=$(run 1 $PY bench/ddp_fashion_mnist.py "${tc[@]}")
  sq=$(tuned "$(nproc)" run 1 $PY bench/ddp_fashion_mnist.py "${tc[@]}")
  printf '%-8s %10s s  at step %s (accuracy %s)\n' drover "$(field time_to_target_s "$sd")" \
    "$(field steps "$sd")" "$(field test_accuracy "$sd")"
  printf '%-8s %10s s  at step %s (accuracy %s)\n' DDP "$(field time_to_target_s "$sp")" \
    "$(field steps "$sp")" "$(field test_accuracy "$sp")"
  printf '%-8s %10s s  at step %s (accuracy %s)\n' DDP+ "$(field time_to_target_s "$sq")" \
    "$(field steps "$sq")" "$(field test_accuracy "$sq")"
fi
