# Sourced by registry-e2e.sh and cosign-e2e.sh: a temporary work dir removed
# on exit, TAP-like `ok`/`fail`, and Debian's docker-registry on 127.0.0.1
# (a free port, storage under $WORK, stopped by the trap, and by `timeout`
# even if the caller is killed hard).
# start_loopback_registry needs from the caller: REGISTRY_BIN and
# `oci free-port` / `oci wait URL` (its python helper). It sets PORT,
# REG_PID, REG and BASE.

WORK="$(mktemp -d)"
REG_PID=""
cleanup() {
  if [ -n "$REG_PID" ]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok $PASSED - $1"; }
fail() {
  FAILED=$((FAILED + 1))
  echo "not ok - $1" >&2
  [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /' >&2
  echo "# registry log (last lines):" >&2
  tail -n 20 "$WORK/registry.log" 2>/dev/null | sed 's/^/#   /' >&2 || true
  echo "$PASSED passed, $FAILED failed"
  exit 1
}

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

# The real kwctl, for the scripts' KWCTL=/path/to/kwctl mode (needs REG,
# and `oci field` from the caller's python helper).
# kwctl_run MODULE SETTINGS REQUEST [kwctl flags...]: kwctl run with the
# loopback registry listed as insecure (kwctl reaches plain HTTP only then)
# and kwctl's store under $WORK; sets OUT and RC.
kwctl_run() {
  local module="$1" settings="$2" request="$3"; shift 3
  printf 'insecure_sources: ["%s"]\n' "$REG" >"$WORK/kwctl-sources.yaml"
  set +e
  OUT="$(XDG_CACHE_HOME="$WORK/kwctl/cache" XDG_DATA_HOME="$WORK/kwctl/data" \
    XDG_CONFIG_HOME="$WORK/kwctl/config" NO_COLOR=1 RUST_BACKTRACE=0 \
    "$KWCTL" run --sources-path "$WORK/kwctl-sources.yaml" -s "$settings" -r "$request" \
    "$@" "$module" 2>&1)"
  RC=$?
  set -e
}
# kwctl_admit MODULE SETTINGS REQUEST [kwctl flags...]: kwctl_run, recording
# the session; then the harness replaying it must answer as kwctl replaying
# it (kwctl records a host error's message without its causes, so a replay
# can say less than the live run), with the live run's verdict.
kwctl_admit() {
  local module="$1" settings="$2" request="$3" kwctl_replay harness_replay
  rm -f "$WORK/session.yml"
  kwctl_run "$@" --record-host-capabilities-interactions "$WORK/session.yml"
  kwctl_replay="$(NO_COLOR=1 RUST_BACKTRACE=0 "$KWCTL" run -s "$settings" -r "$request" \
    --replay-host-capabilities-interactions "$WORK/session.yml" "$module" 2>/dev/null)" || true
  harness_replay="$("$HARNESS" run --settings-path "$settings" --request-path "$request" \
    --replay-host-capabilities-interactions "$WORK/session.yml" "$module" 2>/dev/null)" || true
  [ "$(printf '%s\n' "$kwctl_replay" | oci field r)" = "$(printf '%s\n' "$harness_replay" | oci field r)" ] \
    && [ "$(printf '%s\n' "$OUT" | oci field 'r["allowed"]')" = "$(printf '%s\n' "$harness_replay" | oci field 'r["allowed"]')" ] \
    || fail "kwctl's session replayed by the harness answers as kwctl's replay and verdict" "$OUT
$kwctl_replay
$harness_replay"
}
