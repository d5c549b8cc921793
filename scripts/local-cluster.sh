# Sourced by scripts/demo.sh and bench/rescale_bench.sh: starts a local drover
# cluster (one server and two agents on 127.0.0.1) and logs in as its admin.
#
#   start_local_cluster DROVER OUT PORT GPUS_PER_HOST
#
# Logs and state go to OUT; the PIDs are appended to the caller's `pids` array,
# which its EXIT trap kills; DROVER_CONFIG should point into OUT.
start_local_cluster() {
  local d=$1 out=$2 port=$3 gpus=$4
  # History every 2 s: a short demo's charts get enough points.
  "$d" server --data-dir "$out/server" --listen "127.0.0.1:$port" --history-interval 2 >"$out/server.log" 2>&1 & pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  for h in host-a host-b; do
    "$d" agent --server "http://127.0.0.1:$port" --join-token-file "$out/server/join.token" \
      --name $h --gpus "$gpus" --work-dir "$out/$h" >"$out/$h.log" 2>&1 & pids+=($!)
  done
  "$d" login --server "http://127.0.0.1:$port" --token "$(cat "$out/server/admin.token")"
}
