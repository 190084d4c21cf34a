#!/usr/bin/env bats
# End-to-end checks as a user runs them: the CLI on the compiled module.
# Uses `kwctl` when it is on PATH (on the annotated module), else the
# project's `policy-harness`, which takes the same flags.

setup() {
  ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
  GOLDEN="$ROOT/e2e-tests/golden"
  if command -v kwctl >/dev/null; then
    RUNNER=(kwctl run)
    MODULE="${POLICY_MODULE:-$ROOT/annotated-policy.wasm}"
  else
    RUNNER=("$ROOT/harness/target/debug/policy-harness" run)
    MODULE="${POLICY_WASM:-$ROOT/policy.wasm}"
  fi
}

# run_case NAME [extra flags...]: the golden case's request and settings.
run_case() {
  local c="$GOLDEN/$1"; shift
  local settings="$c/settings.json"
  [ -f "$settings" ] || settings="$c/settings-invalid.json"
  local host=()
  [ -f "$c/host-capabilities.json" ] && host=(--host-capabilities "$c/host-capabilities.json")
  run "${RUNNER[@]}" --settings-path "$settings" --request-path "$c/request.json" "${host[@]}" "$@" "$MODULE"
}

# field EXPR: evaluates a Python expression on the response `r` (the JSON
# object the runner printed last on stdout).
field() {
  printf '%s\n' "$output" | python3 -c '
import json, sys
r = None
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        try: r = json.loads(line)
        except ValueError: pass
print(eval(sys.argv[1]))' "$1"
}

@test "accepts a Pod whose digest is attested" {
  run_case pod-attested-digest
  [ "$status" -eq 0 ]
  [ "$(field 'r["allowed"]')" = "True" ]
}

@test "rejects a tag with kritis's message and the fix" {
  run_case pod-tag-not-attested
  [ "$status" -eq 0 ]
  [ "$(field 'r["allowed"]')" = "False" ]
  [[ "$(field 'r["status"]["message"]')" == *"image alpine:3.11 is not attested"* ]]
  [[ "$(field 'r["status"]["message"]')" == *"@sha256:"* ]]
}

@test "rejects a digest nobody attested" {
  run_case pod-digest-without-attestation
  [ "$(field 'r["allowed"]')" = "False" ]
  [[ "$(field 'r["status"]["message"]')" == *"no attestation for digest sha256:ddba4d27"* ]]
}

@test "a signature by another key never counts" {
  run_case pod-signature-by-wrong-key
  [ "$(field 'r["allowed"]')" = "False" ]
  [[ "$(field 'r["status"]["message"]')" == *"does not verify"* ]]
}

@test "an attestation for another repository never counts" {
  run_case pod-attestation-for-other-repository
  [ "$(field 'r["allowed"]')" = "False" ]
  [[ "$(field 'r["status"]["message"]')" == *"names repository registry.example.com/team/other"* ]]
}

@test "lists every failing image" {
  run_case pod-several-failures-all-listed
  [ "$(field 'r["status"]["message"].count("is not attested")')" = "2" ]
}

@test "ACK's allowlist examples skip verification" {
  run_case allowlist-acs-hangzhou
  [ "$(field 'r["allowed"]')" = "True" ]
  run_case allowlist-trailing-star-stops-at-slash
  [ "$(field 'r["allowed"]')" = "False" ]
}

@test "every workload kind is checked" {
  for kind in deployment replicaset statefulset daemonset job cronjob replicationcontroller; do
    run_case "kind-$kind-bad-init-container"
    [ "$(field 'r["allowed"]')" = "False" ]
    run_case "kind-$kind-attested-template-annotation"
    [ "$(field 'r["allowed"]')" = "True" ]
  done
}

@test "break-glass admits with a warning only when allowed" {
  run_case breakglass-off-changes-nothing
  [ "$(field 'r["allowed"]')" = "False" ]
  run_case breakglass-on
  [ "$(field 'r["allowed"]')" = "True" ]
  [[ "$(field 'r["warnings"][0]')" == *"break-glass"* ]]
}

@test "settings given inline with --settings-json" {
  c="$GOLDEN/pod-attested-digest"
  run "${RUNNER[@]}" --settings-json "$(cat "$c/settings.json")" --request-path "$c/request.json" "$MODULE"
  [ "$status" -eq 0 ]
  [ "$(field 'r["allowed"]')" = "True" ]
}

@test "invalid settings are refused with the field's path" {
  run_case settings-empty-authority-names
  [ "$status" -ne 0 ]
  [[ "$output" == *"Provided settings are not valid"* ]]
  [[ "$output" == *"attestationPolicies[0].attestationAuthorityNames"* ]]
}

@test "a resolved tag is pinned by a JSONPatch" {
  run_case tags-resolved-attested-pinned
  [ "$(field 'r["allowed"]')" = "True" ]
  [ "$(field 'r["patchType"]')" = "JSONPatch" ]
  [[ "$(field '__import__("base64").b64decode(r["patch"]).decode()')" == *"@sha256:ddba4d27"* ]]
}

@test "a host error rejects the tag with the host's reason" {
  run_case tags-host-error
  [ "$(field 'r["allowed"]')" = "False" ]
  [[ "$(field 'r["status"]["message"]')" == *"manifest unknown"* ]]
}
