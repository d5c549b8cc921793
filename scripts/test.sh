#!/usr/bin/env bash
# Builds drover and runs every test (unit and slow), the README's command
# blocks, then a short run of each fuzzer over its corpus. Works on a fresh Debian 12 machine (root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --preset default --output-on-failure -j2
./scripts/lint-api.sh      # docs/openapi.yaml against Redocly's recommended rules
./scripts/readme-walk.sh   # every README command block, as written, on a local cluster
if [ -f fuzz/CMakeLists.txt ]; then
  ./scripts/fuzz.sh 15
fi
