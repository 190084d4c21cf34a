#!/usr/bin/env bash
# CI step for a policy-as-code repository: install policy-harness, then run
# every suite (policy-tests.yaml, *-test.yaml) of the repository.
#
#   ci/policy-tests.sh                       # the module of each manifest's spec.module
#   POLICY_MODULE=policy.wasm ci/policy-tests.sh   # a module you just built instead
#   JUNIT_REPORT=policy-tests.xml ci/policy-tests.sh   # also write JUnit XML for the CI UI
#
# POLICY_HARNESS: an installed policy-harness binary (skips the installation).
# HARNESS_REF: the git tag of kritis-attestation-policy to install it from.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
harness=${POLICY_HARNESS:-}
if [ -z "$harness" ]; then
  harness=$(command -v policy-harness || true)
fi
if [ -z "$harness" ]; then
  cargo install --locked --git https://github.com/your-org/kritis-attestation-policy \
    --tag "${HARNESS_REF:-v0.1.0}" policy-harness
  harness=policy-harness
fi

args=()
if [ -n "${POLICY_MODULE:-}" ]; then
  args+=(--module "$POLICY_MODULE")
fi

status=0
"$harness" test ${args[@]+"${args[@]}"} "$repo_root" || status=$?
if [ -n "${JUNIT_REPORT:-}" ]; then
  "$harness" test ${args[@]+"${args[@]}"} --output junit "$repo_root" >"$JUNIT_REPORT" || true
fi
exit "$status"
