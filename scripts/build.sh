#!/usr/bin/env bash
# Installs dependencies (idempotent) and builds drover with the default preset.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# The web console's locked npm packages (uPlot, built into the server; playwright-core for its browser tests).
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  npm ci --prefix web --no-audit --no-fund --silent
fi
cmake --preset default >/dev/null
cmake --build --preset default
