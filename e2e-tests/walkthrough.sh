#!/usr/bin/env bash
# Runs README.md's walkthrough ("Try it locally", then "Moving from ACK")
# exactly as written, so the docs cannot drift from what works.
#
# Every fenced ```bash block of README.md preceded by a marker line is taken,
# in order, and run in ONE bash session (variables and functions carry over)
# in a temporary directory holding a copy of policy.wasm:
#
#   <!-- walkthrough: ID -->           always run; its stdout/stderr are kept as ID
#   <!-- walkthrough: needs TOOL -->   run when TOOL is here (kubectl, kwctl,
#                                      yq-v4 = mikefarah's yq, yq-jq = the Python yq)
#   <!-- walkthrough: skip (why) -->   never run: needs a cluster, a registry or
#                                      the network; DIGEST is fixed below instead
#
# Then the verdicts are checked: the attested Pod (RSA, openssl), Deployment
# (EC, openssl) and CronJob (EC, policy-harness sign) are allowed; the
# unattested Pod, the Pod by tag and the raw r||s ECDSA signature are
# rejected, each for its reason; the kubectl/yq variants give the same
# manifest; kritis-import's settings and manifest work.
#
# Needs: bash, openssl, python3 with PyYAML (Debian: python3-yaml), and the
# built harness and module: POLICY_WASM (default ./policy.wasm of the repo)
# and harness/target/debug/policy-harness (`make policy.wasm harness`).
# README=FILE runs another copy of the README (to try an edit);
# WALKTHROUGH_KEEP=1 keeps the temporary directory.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
README="${README:-$ROOT/README.md}"
POLICY_WASM="${POLICY_WASM:-$ROOT/policy.wasm}"
HARNESS_DIR="$ROOT/harness/target/debug"
# What the skipped `crane digest` would have printed (ACK's demo image).
FIXED_DIGEST=sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45

die() { echo "walkthrough: $*" >&2; exit 1; }
[ -f "$README" ] || die "no README at $README"
[ -f "$POLICY_WASM" ] || die "no module at $POLICY_WASM: run make policy.wasm"
[ -x "$HARNESS_DIR/policy-harness" ] || die "no $HARNESS_DIR/policy-harness: run make harness"
command -v openssl >/dev/null || die "openssl is missing"
command -v python3 >/dev/null || die "python3 is missing"
python3 -c 'import yaml' 2>/dev/null \
  || die "python3 has no PyYAML: apt-get install python3-yaml (or pip install pyyaml)"

WORK="$(mktemp -d)"
if [ -n "${WALKTHROUGH_KEEP:-}" ]; then
  echo "walkthrough: keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
OUT="$WORK/.walkthrough"
mkdir -p "$OUT"
cp "$POLICY_WASM" "$WORK/policy.wasm"
export PATH="$HARNESS_DIR:$PATH"
# The harness's compiled-module cache stays in the temporary directory.
export POLICY_HARNESS_CACHE_DIR="$OUT/cache"

have() {
  case "$1" in
    # grep without -q reads all its input: no SIGPIPE for yq under pipefail.
    yq-v4) command -v yq >/dev/null && yq --version 2>&1 | grep 'mikefarah' >/dev/null ;;
    yq-jq) command -v yq >/dev/null && yq --help 2>&1 | grep 'jq wrapper' >/dev/null ;;
    *) command -v "$1" >/dev/null ;;
  esac
}

# README -> $OUT/blocks.tsv (n, id, mode, line) and $OUT/block-N.sh.
python3 - "$README" "$OUT" <<'PY'
import re, sys
readme, out = sys.argv[1], sys.argv[2]
lines = open(readme, encoding="utf-8").read().split("\n")
marker = re.compile(r"^<!-- walkthrough: (.+?) -->$")
blocks, ids, errors = [], set(), []
i = 0
while i < len(lines):
    m = marker.match(lines[i].strip())
    if not m:
        if "<!-- walkthrough" in lines[i]:
            errors.append(f"line {i + 1}: malformed marker {lines[i]!r}")
        i += 1
        continue
    spec, line = m.group(1).strip(), i + 1
    if i + 1 >= len(lines) or lines[i + 1].strip() != "```bash":
        errors.append(f"line {line}: marker not directly followed by a ```bash block")
        i += 1
        continue
    end = i + 2
    while end < len(lines) and lines[end].strip() != "```":
        end += 1
    if end == len(lines):
        errors.append(f"line {line}: unterminated block")
        break
    body = "\n".join(lines[i + 2:end])
    if spec.startswith("skip"):
        mode, ident = "skip", f"skip-{len(blocks) + 1}"
    elif spec.startswith("needs "):
        tool = spec.split()[1]
        mode, ident = f"needs:{tool}", f"needs-{tool}-{len(blocks) + 1}"
    elif re.fullmatch(r"[a-z0-9-]+", spec):
        mode, ident = "run", spec
    else:
        errors.append(f"line {line}: unknown marker {spec!r}")
        i = end + 1
        continue
    if ident in ids:
        errors.append(f"line {line}: block id {ident!r} used twice")
    ids.add(ident)
    blocks.append((ident, mode, line, body))
    i = end + 1
if errors:
    sys.exit("walkthrough: README markers: " + "; ".join(errors))
with open(f"{out}/blocks.tsv", "w") as tsv:
    for n, (ident, mode, line, body) in enumerate(blocks, 1):
        tsv.write(f"{n}\t{ident}\t{mode}\t{line}\n")
        with open(f"{out}/block-{n}.sh", "w") as f:
            f.write(body + "\n")
PY

# One script, one session: each block's output goes to $OUT/ID.out / ID.err.
RUN="$OUT/run.sh"
{
  echo 'set -euo pipefail'
  echo "cd '$WORK'"
  echo "DIGEST='$FIXED_DIGEST'   # instead of the skipped crane/skopeo/docker block"
} >"$RUN"
ran=() skipped=()
while IFS=$'\t' read -r n id mode line; do
  case "$mode" in
    skip) skipped+=("README.md:$line (needs a cluster or the network)"); continue ;;
    needs:*)
      tool="${mode#needs:}"
      if ! have "$tool"; then skipped+=("README.md:$line (no $tool here)"); continue; fi ;;
  esac
  ran+=("$id")
  {
    echo "echo '$id README.md:$line' > '$OUT/current'"
    echo "{"
    cat "$OUT/block-$n.sh"
    echo "} > '$OUT/$id.out' 2> '$OUT/$id.err'"
  } >>"$RUN"
done <"$OUT/blocks.tsv"
echo "echo done > '$OUT/current'" >>"$RUN"

echo "walkthrough: running ${#ran[@]} README blocks in $WORK: ${ran[*]}"
for s in "${skipped[@]}"; do echo "walkthrough: skipped $s"; done
if ! bash "$RUN" </dev/null; then
  read -r id where <"$OUT/current" || true
  echo "walkthrough: the block $id ($where) failed; its stderr:" >&2
  cat "$OUT/$id.err" >&2 || true
  echo "walkthrough: 0 passed, 1 failed"
  exit 1
fi

# ---- the checks ----
passed=0 failed=0
check() {  # check NAME COMMAND...: one named check
  local name="$1" detail; shift
  if detail="$("$@" 2>&1)"; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"
    [ -z "$detail" ] || printf '%s\n' "$detail"
  fi
}
out() { cat "$OUT/$1.out"; }
# line_of ID N: the Nth line of a block's stdout.
line_of() { sed -n "${2}p" "$OUT/$1.out"; }
has() { case "$1" in *"$2"*) return 0 ;; *) echo "  expected: $2"; echo "  got:      $1"; return 1 ;; esac; }
# JSON field of the first line of a block's stdout.
json_field() { sed -n 1p "$OUT/$1.out" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[sys.argv[1]]))' "$2"; }
same_manifest() {  # same_manifest A B: same object, annotation compared without trailing blanks
  python3 - "$WORK/$1" "$WORK/$2" <<'PY'
import sys, yaml
def norm(path):
    obj = yaml.safe_load(open(path))
    a = obj["spec"]["template"]["metadata"]["annotations"]
    a["kritis.grafeas.io/attestations"] = a["kritis.grafeas.io/attestations"].strip()
    return obj
a, b = norm(sys.argv[1]), norm(sys.argv[2])
if a != b:
    print(f"  {sys.argv[1]}: {a}\n  {sys.argv[2]}: {b}")
    sys.exit(1)
PY
}
ran_block() { printf '%s\n' "${ran[@]}" | grep -qx "$1"; }
for id in keys key-ids settings image sign-openssl sign-harness raw-ecdsa manifests attach review \
          run verdicts kritis-yaml kritis-import; do
  check "README block '$id' exists and ran" ran_block "$id"
done

ids="$(out key-ids)"
check "key ids are kritis's ni:///sha-256; form" \
  python3 -c 'import re,sys; ls=sys.argv[1].split("\n"); sys.exit(not (len(ls) == 2 and all(re.fullmatch(r"ni:///sha-256;[A-Za-z0-9_-]{43}", l) for l in ls)))' "$ids"
check "the raw ECDSA signature is 64 bytes" test "$(wc -c <"$WORK/ec.raw.sig")" -eq 64
check "attested Pod (RSA, openssl): allowed" has "$(json_field run allowed)" "true"
check "attested Deployment (EC, openssl): allowed" has "$(line_of verdicts 1)" "deploy-attested.yaml: allowed"
check "attested CronJob (EC, policy-harness sign): allowed" has "$(line_of verdicts 2)" "cronjob-attested.yaml: allowed"
check "unattested Pod: rejected" has "$(line_of verdicts 3)" \
  "pod.yaml: rejected: image registry.example.com/team/app@$FIXED_DIGEST is not attested: no attestation for digest $FIXED_DIGEST"
check "Pod by tag: rejected" has "$(line_of verdicts 4)" \
  "pod-tag.yaml: rejected: image registry.example.com/team/app:1.0 is not attested: it is referenced by tag 1.0, not by digest"
check "raw r||s ECDSA signature: rejected with the DER hint" has "$(line_of verdicts 5)" \
  "is not DER-encoded: its 64 bytes look like a raw r||s ECDSA signature"
check "raw r||s ECDSA signature: rejected as qa's key" has "$(line_of verdicts 5)" "authority qa"
check "verdicts: five lines" test "$(wc -l <"$OUT/verdicts.out")" -eq 5

if [ -f "$WORK/deploy-attested-kubectl.yaml" ]; then
  check "kubectl patch --local gives attach's Deployment" same_manifest deploy-attested.yaml deploy-attested-kubectl.yaml
fi
if [ -f "$WORK/deploy-attested-yq.yaml" ]; then
  check "yq gives attach's Deployment" same_manifest deploy-attested.yaml deploy-attested-yq.yaml
fi
for id in "${ran[@]}"; do
  case "$id" in
    needs-kwctl-*) [ -s "$OUT/$id.out" ] && grep -q '"allowed"' "$OUT/$id.out" \
                     && check "kwctl run ($id): allowed" grep -q '"allowed": *true' "$OUT/$id.out" ;;
  esac
done

check "kritis-import: settings admit the attested Pod" has "$(json_field kritis-import allowed)" "true"
check "kritis-import: says which namespaces are enforced" has "$(cat "$OUT/kritis-import.err")" \
  "policy-harness: enforced in: default (the namespaces of the imported policies); every other namespace is admitted WITHOUT checks"
check "kritis-import: warns about * in the registry host" has "$(cat "$OUT/kritis-import.err")" \
  "\"registry-evil.oss-cn-hangzhou.aliyuncs.com\", an OSS bucket domain"
check "kritis-import: the manifest" python3 - "$WORK/policy.yaml" "$WORK/settings-imported.yaml" <<'PY'
import sys, yaml
m, s = yaml.safe_load(open(sys.argv[1])), yaml.safe_load(open(sys.argv[2]))
assert m["kind"] == "ClusterAdmissionPolicy", m["kind"]
assert m["spec"]["module"] == "registry://ghcr.io/your-org/policies/kritis-attestation-policy:v0.1.0"
assert (m["spec"]["mode"], m["spec"]["mutating"]) == ("protect", False)
assert m["spec"]["settings"]["attestationPolicies"] == [
    {"name": "demo-gap", "namespace": "default", "attestationAuthorityNames": ["demo-aa"], "require": "any"}]
assert "require" not in s["attestationPolicies"][0], s
PY

echo "walkthrough: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
