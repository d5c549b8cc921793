#!/usr/bin/env bash
# Installs everything drover needs to build and test, from Debian 12 packages.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev        # libFuzzer targets
  libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libqhull-dev                    # Delaunay interpolation in the simulator
  libcpp-httplib-dev libssl-dev zlib1g-dev libsqlite3-dev   # clients, agent, store
  libboost-dev                    # Boost.Asio/Beast (headers): the server's event-driven HTTP
  dataset-fashion-mnist                                      # the trainer's example data
  libtorch-dev libgloo-dev libopenblas0-pthread              # training runtime (CPU libtorch, c10d Gloo)
  python3-torch                                              # PyTorch DDP, the peer in training benchmarks
  python3-optuna jq                                          # Optuna, the peer in HPO benchmarks (bench/hpo_bench.sh)
  wrk python3-fastapi uvicorn                                # load generator, FastAPI peer in inference benchmarks (bench/infer_bench.sh)
  python3-uvloop python3-httptools                           # uvicorn[standard]'s loop and parser: the peer as users run it
  nodejs                                                     # npm: the API linter (scripts/lint-api.sh), the console's packages
  chromium                                                   # the browser the console's tests drive (playwright-core)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
