#!/usr/bin/env bash
# Runs the documentation's walkthroughs exactly as written, so the docs cannot
# drift from what works. Two sessions, each ONE bash session (variables and
# functions carry over from block to block) in its own temporary directory
# holding a copy of policy.wasm:
#
#   first-run    README.md's "A first run"
#   walkthrough  docs/walkthrough.md ("Try it locally"), then
#                docs/moving-from-ack.md, which continues it, and the (skipped)
#                blocks of docs/registry-signatures.md, whose markers are checked
#
# Every fenced ```bash block preceded by a marker line is taken, in order:
#
#   <!-- walkthrough: ID -->           always run; its stdout/stderr are kept as ID
#   <!-- walkthrough: needs TOOL -->   run when TOOL is here (kubectl, kwctl,
#                                      yq-v4 = mikefarah's yq, yq-jq = the Python yq)
#   <!-- walkthrough: skip (why) -->   never run: needs a cluster, a registry or
#                                      the network (the docs give a fixed digest
#                                      for the skipped `crane digest`)
#
# Then the verdicts are checked: the first run's Pod is rejected, then admitted
# once `sign --into` wrote its attestation; in the walkthrough the attested Pod
# (RSA, openssl), Deployment (EC, openssl) and CronJob (EC, `policy-harness
# sign --into`) are allowed; the unattested Pod, the Pod by tag and the raw
# r||s ECDSA signature are rejected, each for its reason; the kubectl/yq
# variants give the same manifest; kritis-import's settings and manifest work.
#
# Needs: bash, openssl, python3 with PyYAML (Debian: python3-yaml) for the
# checks (the docs themselves need neither), and the built harness and module:
# POLICY_WASM (default ./policy.wasm of the repo) and
# harness/target/debug/policy-harness (`make policy.wasm harness`).
# README=FILE and WALKTHROUGH_DOCS="FILE FILE…" run other copies of the docs
# (to try an edit); WALKTHROUGH_KEEP=1 keeps the temporary directory.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
README="${README:-$ROOT/README.md}"
read -r -a DOCS <<<"${WALKTHROUGH_DOCS:-$ROOT/docs/walkthrough.md $ROOT/docs/moving-from-ack.md $ROOT/docs/registry-signatures.md}"
POLICY_WASM="${POLICY_WASM:-$ROOT/policy.wasm}"
HARNESS_DIR="$ROOT/harness/target/debug"
# The digest the docs fall back to without crane/skopeo/docker (ACK's demo image).
FIXED_DIGEST=sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45

die() { echo "walkthrough: $*" >&2; exit 1; }
for f in "$README" "${DOCS[@]}"; do [ -f "$f" ] || die "no file $f"; done
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

# extract SESSION FILE...: the marked blocks of the files, in order, to
# $OUT/SESSION/blocks.tsv (n, id, mode, where) and $OUT/SESSION/block-N.sh.
extract() {
  local session="$1"; shift
  mkdir -p "$OUT/$session"
  python3 - "$OUT/$session" "$ROOT" "$@" <<'PY'
import os, re, sys
out, root, files = sys.argv[1], sys.argv[2], sys.argv[3:]
marker = re.compile(r"^<!-- walkthrough: (.+?) -->$")
blocks, ids, errors = [], set(), []
for path in files:
    shown = os.path.relpath(path, root) if path.startswith(root + os.sep) else path
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = marker.match(lines[i].strip())
        if not m:
            if "<!-- walkthrough" in lines[i]:
                errors.append(f"{shown}:{i + 1}: malformed marker {lines[i]!r}")
            i += 1
            continue
        spec, where = m.group(1).strip(), f"{shown}:{i + 1}"
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```bash":
            errors.append(f"{where}: marker not directly followed by a ```bash block")
            i += 1
            continue
        end = i + 2
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            errors.append(f"{where}: unterminated block")
            break
        body = "\n".join(lines[i + 2:end])
        if spec.startswith("skip"):
            why = spec[len("skip"):].strip().strip("()") or "not run here"
            mode, ident = f"skip:{why}", f"skip-{len(blocks) + 1}"
        elif spec.startswith("needs "):
            tool = spec.split()[1]
            mode, ident = f"needs:{tool}", f"needs-{tool}-{len(blocks) + 1}"
        elif re.fullmatch(r"[a-z0-9-]+", spec):
            mode, ident = "run", spec
        else:
            errors.append(f"{where}: unknown marker {spec!r}")
            i = end + 1
            continue
        if ident in ids:
            errors.append(f"{where}: block id {ident!r} used twice")
        ids.add(ident)
        blocks.append((ident, mode, where, body))
        i = end + 1
if errors:
    sys.exit("walkthrough: markers: " + "; ".join(errors))
with open(f"{out}/blocks.tsv", "w") as tsv:
    for n, (ident, mode, where, body) in enumerate(blocks, 1):
        tsv.write(f"{n}\t{ident}\t{mode}\t{where}\n")
        with open(f"{out}/block-{n}.sh", "w") as f:
            f.write(body + "\n")
PY
}

# run_session SESSION FILE...: one script, one bash session in $WORK/SESSION;
# each block's output goes to $OUT/SESSION/ID.out / ID.err. Sets RAN.
declare -A RAN=()
run_session() {
  local session="$1"; shift
  local dir="$WORK/$session" out="$OUT/$session" run n id mode where tool
  local ran=() skipped=()
  extract "$session" "$@"
  mkdir -p "$dir"
  cp "$POLICY_WASM" "$dir/policy.wasm"
  run="$out/run.sh"
  {
    echo 'set -euo pipefail'
    echo "cd '$dir'"
  } >"$run"
  while IFS=$'\t' read -r n id mode where; do
    case "$mode" in
      skip:*) skipped+=("$where (${mode#skip:})"); continue ;;
      needs:*)
        tool="${mode#needs:}"
        if ! have "$tool"; then skipped+=("$where (no $tool here)"); continue; fi ;;
    esac
    ran+=("$id")
    {
      echo "echo '$id $where' > '$out/current'"
      echo "{"
      cat "$out/block-$n.sh"
      echo "} > '$out/$id.out' 2> '$out/$id.err'"
    } >>"$run"
  done <"$out/blocks.tsv"
  echo "echo done > '$out/current'" >>"$run"

  echo "walkthrough: $session: running ${#ran[@]} blocks in $dir: ${ran[*]}"
  for s in "${skipped[@]}"; do echo "walkthrough: $session: skipped $s"; done
  if ! bash "$run" </dev/null; then
    read -r id where <"$out/current" || true
    echo "walkthrough: $session: the block $id ($where) failed; its stderr:" >&2
    cat "$out/$id.err" >&2 || true
    echo "walkthrough: 0 passed, 1 failed"
    exit 1
  fi
  for id in "${ran[@]}"; do RAN["$session/$id"]=1; done
}

run_session first-run "$README"
run_session walkthrough "${DOCS[@]}"

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
# out SESSION/ID: a block's stdout; err SESSION/ID: its stderr.
out() { cat "$OUT/$1.out"; }
err() { cat "$OUT/$1.err"; }
has() { case "$1" in *"$2"*) return 0 ;; *) echo "  expected: $2"; echo "  got:      $1"; return 1 ;; esac; }
# verdict SESSION/ID N: the Nth AdmissionResponse a block printed (one JSON
# object per line), as "allowed" or "rejected: <message>".
verdict() {
  sed -n "${2}p" "$OUT/$1.out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("allowed" if r["allowed"] else "rejected: " + r["status"]["message"])'
}
same_manifest() {  # same_manifest A B: same object, annotation compared without trailing blanks
  python3 - "$WORK/walkthrough/$1" "$WORK/walkthrough/$2" <<'PY'
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
ran_block() { [ -n "${RAN[$1]:-}" ]; }
for id in first-run/first-setup first-run/first-rejected first-run/first-sign first-run/first-admitted \
          walkthrough/keys walkthrough/key-ids walkthrough/settings walkthrough/image walkthrough/digest \
          walkthrough/sign-openssl walkthrough/sign-harness walkthrough/raw-ecdsa walkthrough/manifests \
          walkthrough/controllers walkthrough/sign-into walkthrough/run walkthrough/verdicts \
          walkthrough/kritis-yaml walkthrough/kritis-import; do
  check "block '$id' exists and ran" ran_block "$id"
done

# README: a first run.
check "first run: the unsigned Pod is rejected" has "$(verdict first-run/first-rejected 1)" \
  "rejected: image registry.example.com/team/app@$FIXED_DIGEST is not attested: no attestation for digest $FIXED_DIGEST"
check "first run: sign --into writes the Pod's metadata.annotations" has "$(err first-run/first-sign)" \
  'pod.yaml: Pod app: metadata.annotations["kritis.grafeas.io/attestations"]: added (now 1 attestation(s))'
check "first run: the signed Pod is admitted" has "$(verdict first-run/first-admitted 1)" "allowed"

# docs/walkthrough.md.
W=walkthrough
ids="$(out $W/key-ids)"
check "key ids are kritis's ni:///sha-256; form" \
  python3 -c 'import re,sys; ls=sys.argv[1].split("\n"); sys.exit(not (len(ls) == 2 and all(re.fullmatch(r"ni:///sha-256;[A-Za-z0-9_-]{43}", l) for l in ls)))' "$ids"
check "the fixed digest is the fallback" has "$(out $W/digest)" "registry.example.com/team/app@$FIXED_DIGEST"
check "sign without --key-id names the key by the openssl pipeline's id" has "$(cat "$WORK/$W/attestations-harness.json")" \
  "\"publicKeyId\":\"$(sed -n 2p <<<"$ids")\""
check "the raw ECDSA signature is 64 bytes" test "$(wc -c <"$WORK/$W/ec.raw.sig")" -eq 64
check "the raw ECDSA signature is ec.sig's r||s" python3 - "$WORK/$W/ec.sig" "$WORK/$W/ec.raw.sig" <<'PY'
import sys
der, raw = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
r_len = der[3]
r, s = der[4:4 + r_len], der[6 + r_len:]
assert raw == r[-32:].rjust(32, b"\0") + s[-32:].rjust(32, b"\0"), (der.hex(), raw.hex())
PY
check "sign --into writes the CronJob's pod template" has "$(err $W/sign-into)" \
  'cronjob-attested.yaml: CronJob report: spec.jobTemplate.spec.template.metadata.annotations["kritis.grafeas.io/attestations"]: added'
check "attested Pod (RSA, openssl): allowed" has "$(verdict $W/run 1)" "allowed"
check "attested Deployment (EC, openssl): allowed" has "$(verdict $W/verdicts 1)" "allowed"
check "attested CronJob (EC, policy-harness sign --into): allowed" has "$(verdict $W/verdicts 2)" "allowed"
check "unattested Pod: rejected" has "$(verdict $W/verdicts 3)" \
  "rejected: image registry.example.com/team/app@$FIXED_DIGEST is not attested: no attestation for digest $FIXED_DIGEST"
check "Pod by tag: rejected" has "$(verdict $W/verdicts 4)" \
  "rejected: image registry.example.com/team/app:1.0 is not attested: it is referenced by tag 1.0, not by digest"
check "raw r||s ECDSA signature: rejected with the DER hint" has "$(verdict $W/verdicts 5)" \
  "is not DER-encoded: its 64 bytes look like a raw r||s ECDSA signature"
check "raw r||s ECDSA signature: rejected as qa's key" has "$(verdict $W/verdicts 5)" "authority qa"
check "verdicts: five responses" test "$(wc -l <"$OUT/$W/verdicts.out")" -eq 5

if [ -f "$WORK/$W/deploy-attested-kubectl.yaml" ]; then
  check "kubectl patch --local gives the same Deployment" same_manifest deploy-attested.yaml deploy-attested-kubectl.yaml
fi
if [ -f "$WORK/$W/deploy-attested-yq.yaml" ]; then
  check "yq gives the same Deployment" same_manifest deploy-attested.yaml deploy-attested-yq.yaml
fi
for key in "${!RAN[@]}"; do
  case "$key" in
    $W/needs-kwctl-*) grep -q '"allowed"' "$OUT/$key.out" \
                        && check "kwctl run (${key#*/}): allowed" grep -q '"allowed": *true' "$OUT/$key.out" ;;
  esac
done

# docs/moving-from-ack.md.
check "kritis-import: settings admit the attested Pod" has "$(verdict $W/kritis-import 1)" "allowed"
check "kritis-import: says which namespaces are enforced" has "$(err $W/kritis-import)" \
  "policy-harness: enforced in: default (the namespaces of the imported policies); every other namespace is admitted WITHOUT checks"
check "kritis-import: warns about * in the registry host" has "$(err $W/kritis-import)" \
  "\"registry-evil.oss-cn-hangzhou.aliyuncs.com\", an OSS bucket domain"
check "kritis-import: the manifest" python3 - "$WORK/$W/policy.yaml" "$WORK/$W/settings-imported.yaml" <<'PY'
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
