# ops/lib.sh: shell shared by ops/demo, ops/bench and ops/phases (sourced, not run). Each of
# them starts the worker and the API in the background and must stop them however it ends.

# Processes started in the background, stopped (SIGTERM, then waited for) by stop_all.
PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

# require_free_ports WHAT PORT...: exits unless nothing listens on each PORT.
require_free_ports() {
  local what=$1 port
  shift
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$what: port $port is taken" >&2
      exit 1
    fi
  done
}

# wait_ready URL LOG: waits up to 30 s for URL to answer 2xx; exits pointing at LOG otherwise.
wait_ready() {
  for _ in $(seq 300); do
    curl -fs "$1" >/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not become ready; see $2" >&2
  exit 1
}

# put_sale BASE_URL SALE_ID JSON: creates or replaces a sale (a fresh round, full stock).
put_sale() {
  curl -fsS -o /dev/null -X PUT "$1/api/v1/admin/sales/$2" \
    -H "Authorization: Bearer $FLASHSALE_ADMIN_TOKEN" -H 'Content-Type: application/json' -d "$3"
}
