#!/usr/bin/env bash
# The GPU check of drover's training runtime: builds it against a CUDA
# libtorch (the one in the PyTorch wheel of the machine's python3) with
# DROVER_WITH_CUDA, then runs its tests and the trainers on the GPU with NCCL.
#
# A GPU machine often has PyTorch but no Debian packages, so it goes in two steps:
#
#   bench/gpu-check.sh pack [DIR]     # here, on Debian 12 with drover built:
#                                     # gathers what the build needs besides
#                                     # libtorch into DIR (default .gpu-pack)
#   bench/gpu-check.sh run [--pack DIR] [--out DIR] [--cpu]
#                                     # there: build and check
#
# `run --cpu` is a dry run of the same build against this machine's CPU
# libtorch (no CUDA, no NCCL), to check the pack and the script themselves.
#
# What `run` checks, in order (each step's output goes to OUT/gpu-check.log):
#   1. the build: CMake finds the wheel's TorchConfig, CUDA and NCCL;
#   2. trainer_test and process_group_test, with
#      TrainerTest.CudaTrainingMatchesCpuAndReducesOverNccl: a trainer on the
#      GPU matches the CPU one, an NCCL group reduces a CUDA bucket, and two
#      ranks on CUDA (over NCCL with two GPUs; on one GPU, which NCCL refuses
#      to share between ranks, through host memory over Gloo) match one rank;
#   3. drover-train, the Fashion-MNIST CNN, one epoch on the GPU and 300 steps
#      on the CPU, and PyTorch DDP (bench/ddp_fashion_mnist.py) one epoch on
#      the GPU: samples/s side by side, and the test accuracies;
#   4. two standalone ranks of drover-train on the GPU(s): NCCL with two or
#      more GPUs, else --collectives gloo;
#   5. the example user program (examples/custom-training) on the GPU.
# The last line is a JSON summary; nonzero exit if any step failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

die() { echo "gpu-check: $*" >&2; exit 2; }

pack() {
  local dir=${1:-.gpu-pack} build=${BUILD_DIR:-build}
  [[ -f $build/build.ninja || -f $build/Makefile ]] || die "no drover build in $build (./scripts/build.sh)"
  cmake --build "$build" -j2 --target drover_common drover_train_data drover_net drover_train_client >/dev/null ||
    die "building the torch-free libraries failed"
  rm -rf "$dir" && mkdir -p "$dir/lib" "$dir/include" "$dir/data"
  local a
  for a in common/libdrover_common.a sched/libdrover_sched.a train/libdrover_train_data.a net/libdrover_net.a \
           train/libdrover_train_client.a; do
    cp "$build/src/$a" "$dir/lib/" || die "missing $build/src/$a"
  done
  strip --strip-debug "$dir"/lib/libdrover_*.a  # the device call carries at most 64 MiB
  local multiarch=/usr/lib/x86_64-linux-gnu so
  for so in libz.so.1 libfmt.so.9 libspdlog.so.1.10 libcpp-httplib.so.0.11 libssl.so.3 libcrypto.so.3 \
            libbrotlidec.so.1 libbrotlienc.so.1 libbrotlicommon.so.1 libgtest.a libgtest_main.a libgmock.a; do
    cp -L "$multiarch/$so" "$dir/lib/" 2>/dev/null || cp -L "/lib/x86_64-linux-gnu/$so" "$dir/lib/" ||
      die "missing $so (scripts/install-deps.sh installs it)"
  done
  local inc
  for inc in nlohmann spdlog fmt CLI gtest gmock httplib.h zlib.h zconf.h; do
    cp -r "/usr/include/$inc" "$dir/include/" || die "missing /usr/include/$inc"
  done
  cp /usr/share/datasets/fashion-mnist/*.gz "$dir/data/" ||
    die "no Fashion-MNIST (apt-get install dataset-fashion-mnist)"
  echo "gpu-check: packed into $dir ($(du -sh "$dir" | cut -f1)); carry it to the GPU machine and run"
  echo "  bench/gpu-check.sh run --pack $dir"
}

run() {
  local pack_dir=.gpu-pack out=${OUT:-out/gpu-check} cpu=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --pack) pack_dir=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      --cpu) cpu=1; shift ;;
      *) die "unknown argument $1" ;;
    esac
  done
  pack_dir=$(cd "$pack_dir" 2>/dev/null && pwd) || die "no pack at $pack_dir (bench/gpu-check.sh pack, on Debian)"
  mkdir -p "$out"
  local log=$out/gpu-check.log
  : >"$log"
  local failed=() build=$ROOT/build-gpu py=${PYTHON:-python3}
  last_summary() { grep '^summary' "$log" | tail -1; }  # rank 0's JSON line of the last run
  step() {  # step NAME CMD...: runs CMD, its output into the log, and notes a failure
    local name=$1; shift
    echo "== $name: $*" | tee -a "$log"
    local t0=$SECONDS
    if "$@" >>"$log" 2>&1; then
      echo "   ok ($((SECONDS - t0)) s)" | tee -a "$log"
    else
      echo "   FAILED ($((SECONDS - t0)) s): see $log" | tee -a "$log"
      failed+=("$name")
      return 1
    fi
  }

  local cmake_args=(-S bench/gpu -B "$build" -DDROVER_PACK="$pack_dir" -DCMAKE_BUILD_TYPE=Release)
  command -v ninja >/dev/null && cmake_args+=(-G Ninja)
  local device=cuda gpus=0
  if ((cpu)); then
    cmake_args+=(-DDROVER_WITH_CUDA=OFF)
    device=cpu
  else
    command -v nvidia-smi >/dev/null && nvidia-smi -L | tee -a "$log"
    local torch_prefix abi
    torch_prefix=$($py -c 'import torch; print(torch.utils.cmake_prefix_path)') ||
      die "$py has no torch; set PYTHON to one that has PyTorch with CUDA"
    $py -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())' |
      tee -a "$log"
    abi=$($py -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
    # The pack's archives were built by Debian's g++ with the C++11 string ABI.
    [[ $abi == 1 ]] || die "this libtorch uses the pre-C++11 string ABI; the pack needs a cxx11-abi libtorch (PyTorch >= 2.7 wheels are)"
    gpus=$($py -c 'import torch; print(torch.cuda.device_count())')
    cmake_args+=(-DCMAKE_PREFIX_PATH="$torch_prefix" -DDROVER_WITH_CUDA=ON)
    if command -v nvcc >/dev/null; then
      cmake_args+=(-DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCUDAToolkit_ROOT="$(dirname "$(dirname "$(command -v nvcc)")")")
    fi
    export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  fi
  step configure cmake "${cmake_args[@]}" || { summary "$out" "$device" "$gpus"; return 1; }
  step build cmake --build "$build" -j"$(nproc)" --target drover-train drover-example-train trainer_test process_group_test ||
    { summary "$out" "$device" "$gpus"; return 1; }

  step tests-trainer "$build/trainer_test" --gtest_filter=-*FashionMnist*
  step tests-process-group "$build/process_group_test"
  grep -h "CUDA vs CPU\|SKIPPED\|\[  PASSED\|\[  FAILED" "$log" | sort -u

  local train=("$build/drover-train" --model cnn --data "$pack_dir/data" --log-every 0)
  step train-gpu "${train[@]}" --device "$device" --epochs 1 --warmup-steps 20
  local gpu_line; gpu_line=$(last_summary)
  step train-cpu "${train[@]}" --device cpu --max-steps 300 --warmup-steps 20 --threads "$(nproc)"
  local cpu_line; cpu_line=$(last_summary)

  # The peer, side by side: PyTorch DDP on the same device, model, batch and optimizer.
  local ddp_line=""
  if $py -c 'import torch' 2>/dev/null; then
    RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29612 step ddp-gpu $py bench/ddp_fashion_mnist.py \
      --model cnn --data "$pack_dir/data" --device "$device" --epochs 1 --warmup-steps 20 &&
      ddp_line=$(last_summary)
  else
    echo "== ddp-gpu: skipped ($py has no torch)" | tee -a "$log"
  fi

  # Two standalone ranks (RANK/WORLD_SIZE/MASTER_*), one GPU each when there are two.
  local collectives=gloo pids=() r rc=0
  ((gpus >= 2)) && collectives=nccl
  echo "== train-2-ranks: drover-train x2 --collectives $collectives" | tee -a "$log"
  for r in 1 0; do
    local dev=$device
    [[ $collectives == nccl ]] && dev=cuda:$r
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29611 \
      "${train[@]}" --device "$dev" --collectives "$collectives" --max-steps 300 --warmup-steps 20 \
      >>"$log" 2>&1 &
    pids+=($!)
  done
  for r in "${pids[@]}"; do wait "$r" || rc=1; done
  ((rc == 0)) && echo "   ok" | tee -a "$log" || { echo "   FAILED" | tee -a "$log"; failed+=(train-2-ranks); }
  local two_line; two_line=$(last_summary)

  step example "$build/examples/custom-training/drover-example-train" "$pack_dir/data"

  python3 - "$gpu_line" "$cpu_line" "$two_line" "$ddp_line" "$device" "$gpus" "${failed[*]:-}" <<'EOF' | tee -a "$log" | tee "$out/summary.json"
import json, sys
def parse(line):
    try:
        return json.loads(line.split(" ", 1)[1])
    except Exception:
        return None
gpu, cpu, two, ddp = (parse(a) for a in sys.argv[1:5])
out = {"device": sys.argv[5], "gpus": int(sys.argv[6]), "failed": sys.argv[7].split(),
       "one_worker": gpu, "cpu_300_steps": cpu, "two_ranks": two, "ddp_one_worker": ddp}
if gpu and cpu and cpu.get("samples_per_s"):
    out["gpu_over_cpu_samples_per_s"] = round(gpu["samples_per_s"] / cpu["samples_per_s"], 2)
if gpu and ddp and ddp.get("samples_per_s"):
    out["drover_over_ddp_samples_per_s"] = round(gpu["samples_per_s"] / ddp["samples_per_s"], 2)
print(json.dumps(out))
EOF
  ((${#failed[@]} == 0))
}

summary() {
  echo "{\"device\": \"$2\", \"gpus\": $3, \"failed\": [\"build\"]}" | tee "$1/summary.json"
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  run) shift; run "$@" ;;
  *) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
