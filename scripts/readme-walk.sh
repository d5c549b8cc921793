#!/usr/bin/env bash
# Runs every ```sh block of README.md as written, in order, in one shell from
# the repository root, stopping at the first command that fails. A block
# preceded by a line `<!-- readme-walk: skip (why) -->` is skipped (the test
# suite itself, long benchmarks). Needs a build (scripts/build.sh) and ports
# 8080 and 8081 free. The walk's `drover login` writes into a private HOME; what the
# blocks leave (data dir, agents' work dirs, logs) is removed at the end, and
# every process they start in the background is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d)
walk=$tmp/walk.sh
cleanup() {
  rm -rf "$tmp" "$root/drover-data" "$root"/drover-agent-* "$root/server.log" "$root"/agent-*.log "$root/report.html" \
    /tmp/drover-models
}
trap cleanup EXIT
for port in 8080 8081; do  # the API, and the inference router beside it
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "readme-walk: port $port is in use; the README's cluster listens there" >&2
    exit 1
  fi
done
rm -rf drover-data drover-agent-*

python3 - README.md > "$walk" <<'PY'
import shlex, sys
text = open(sys.argv[1]).read().split("\n")
print("set -euo pipefail")
print("trap 'status=$?; for p in $(jobs -p); do kill $p 2>/dev/null || true; done; wait; exit $status' EXIT")
skip, block, n = False, None, 0
for line in text:
    if block is None:
        if line.startswith("<!-- readme-walk: skip"):
            skip = True
        elif line.strip() == "```sh":
            block = []
        elif line.strip():
            skip = False
        continue
    if line.strip() == "```":
        n += 1
        if skip:
            print(f"echo '== README block {n}: skipped'")
        else:
            print(f"echo '== README block {n}'")
            for cmd in block:
                print("printf '$ %s\\n' " + shlex.quote(cmd))
                print(cmd)
        block, skip = None, False
    else:
        block.append(line)
PY
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config
mkdir -p "$HOME" "$XDG_CONFIG_HOME"
start=$(date +%s)
bash "$walk"
echo "readme-walk: every README block ran as written ($(( $(date +%s) - start )) s)"
