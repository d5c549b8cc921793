#!/usr/bin/env bash
# Installs dependencies (idempotent) and builds drover with the default preset.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
