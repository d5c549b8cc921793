#!/usr/bin/env bash
# Lints docs/openapi.yaml with Redocly's recommended rules (a pinned
# @redocly/cli, installed from npm into build/tools on first use). Errors fail;
# warnings are printed. server_test checks the document against the served
# routes and answers; this checks the document itself.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=build/tools/redocly
bin=$tools/node_modules/.bin/redocly
if [ ! -x "$bin" ]; then
  command -v npm >/dev/null || { echo "lint-api: npm is missing (scripts/install-deps.sh installs nodejs)" >&2; exit 1; }
  mkdir -p "$tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund --no-save @redocly/cli@2.77.0)
fi
"$bin" lint --config redocly.yaml docs/openapi.yaml
