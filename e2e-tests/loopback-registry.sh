# Sourced by registry-e2e.sh and cosign-e2e.sh: Debian's docker-registry on
# 127.0.0.1, a free port, storage under $WORK, stopped by the caller's trap
# (and by `timeout` even if the caller is killed hard).
# Needs from the caller: WORK, REGISTRY_BIN, fail, and `oci free-port` /
# `oci wait URL` (its python helper). Sets PORT, REG_PID, REG and BASE.

start_registry() {
  PORT="$(oci free-port)"
  cat >"$WORK/config.yml" <<EOF2
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
  secret: $1
EOF2
  timeout 600 "$REGISTRY_BIN" serve "$WORK/config.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  oci wait "http://127.0.0.1:$PORT"
}

# start_loopback_registry SECRET: three tries (a free port can be taken
# between choosing it and binding it).
start_loopback_registry() {
  local attempt
  for attempt in 1 2 3; do
    if start_registry "$1"; then break; fi
    kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; REG_PID=""
    [ "$attempt" = 3 ] && fail "start docker-registry on 127.0.0.1" "$(cat "$WORK/registry.log")"
  done
  REG="127.0.0.1:$PORT"
  BASE="http://$REG"
}
