#!/usr/bin/env bash
# CI step for a policy-as-code repository: find policy-harness (or install
# it), then run every suite of the repository once (files named
# policy-tests.yaml or *-test.yaml whose header is
# `apiVersion: policy-harness.kritis.dev/v1` / `kind: Suite`; other tools'
# files of those names, such as kyverno-test.yaml, are skipped).
#
#   ci/policy-tests.sh                                # the module of each manifest's spec.module
#   POLICY_MODULE=policy.wasm ci/policy-tests.sh      # a module you just built instead
#   JUNIT_REPORT=policy-tests.xml ci/policy-tests.sh  # also write JUnit XML (same run)
#
# Where policy-harness comes from, first found:
#   POLICY_HARNESS   an installed policy-harness binary;
#   policy-harness   on PATH;
#   HARNESS_SOURCE   a checkout of the kritis-attestation-policy project:
#                    `cargo install --locked --path "$HARNESS_SOURCE/harness"`;
#   HARNESS_GIT      the git URL where you host that project (and HARNESS_REF,
#                    a tag or branch of it): `cargo install --locked --git …`.
# There is no default URL: the project is not published under a fixed
# address, so point HARNESS_SOURCE or HARNESS_GIT at your copy.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
harness=${POLICY_HARNESS:-}
if [ -z "$harness" ]; then
  harness=$(command -v policy-harness || true)
fi
if [ -z "$harness" ]; then
  if [ -n "${HARNESS_SOURCE:-}" ]; then
    cargo install --locked --path "$HARNESS_SOURCE/harness"
  elif [ -n "${HARNESS_GIT:-}" ]; then
    cargo install --locked --git "$HARNESS_GIT" ${HARNESS_REF:+--tag "$HARNESS_REF"} policy-harness
  else
    echo "policy-tests.sh: no policy-harness: set POLICY_HARNESS (a binary), HARNESS_SOURCE" \
      "(a checkout of the project) or HARNESS_GIT (its git URL)" >&2
    exit 2
  fi
  harness=policy-harness
fi

args=()
if [ -n "${POLICY_MODULE:-}" ]; then
  args+=(--module "$POLICY_MODULE")
fi
if [ -n "${JUNIT_REPORT:-}" ]; then
  args+=(--junit "$JUNIT_REPORT")
fi

exec "$harness" test ${args[@]+"${args[@]}"} "$repo_root"
