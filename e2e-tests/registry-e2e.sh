#!/usr/bin/env bash
# End-to-end test against a REAL OCI registry on loopback: Debian's
# `docker-registry` (the CNCF distribution server), started on 127.0.0.1 on a
# free port with its storage in a temporary folder, and always stopped (trap).
#
#   policy side: push the annotated module, pull it back by tag and by digest
#                and run a golden case from each; a wrong pinned digest fails.
#   tag side:    push a tiny OCI image as team/app:v1, attest its digest,
#                resolve the tag live (`run --allow-network`): allowed and
#                pinned; re-tag v1 to another image: the old attestation no
#                longer admits it; a fixture still wins over the registry.
#
# Needs: python3, docker-registry (`make e2e-registry` installs it), the
# harness (harness/target/debug/policy-harness) and annotated-policy.wasm.
# KWCTL=/path/to/kwctl: also pull and run the pushed module, and resolve
# the tag live, through the real kwctl.
# Overrides: HARNESS, ANNOTATED_WASM, REGISTRY_BIN.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="${HARNESS:-$ROOT/harness/target/debug/policy-harness}"
MODULE="${ANNOTATED_WASM:-$ROOT/annotated-policy.wasm}"
REGISTRY_BIN="${REGISTRY_BIN:-$(command -v docker-registry || echo /usr/bin/docker-registry)}"
GOLDEN="$ROOT/e2e-tests/golden"
KEY="$ROOT/testdata/keys/rsa2048.key.pem" # TEST-ONLY key, published on purpose
PUB="$ROOT/testdata/keys/rsa2048.pub.pem"

for f in "$HARNESS" "$MODULE" "$REGISTRY_BIN"; do
  [ -e "$f" ] || { echo "registry-e2e: missing $f" >&2; exit 1; }
done

# Work dir, cleanup trap, ok/fail (TAP-like lines) and the registry starter.
# shellcheck source=loopback-registry.sh
. "$ROOT/e2e-tests/loopback-registry.sh"

# --- helpers (Python: stdlib only) -------------------------------------------
# The registry client and the shared commands (free-port, wait, push-image,
# field) are e2e-tests/oci.py; this script's own commands follow.
cat >"$WORK/oci-cmds.py" <<'PY'
import json, sys
from oci import get_manifest, main, sha

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "manifest":        # manifest BASE REPO REF: {"digest", "contentType", "manifest"}
    base, repo, ref = args
    h, body = get_manifest(base, repo, ref)
    print(json.dumps({"digest": sha(body), "header": h.get("Docker-Content-Digest"),
                      "contentType": h.get("Content-Type"), "manifest": json.loads(body)}))
elif cmd == "request":       # request IMAGE ATTESTATION_JSON_FILE TEMPLATE: AdmissionReview
    image, att_file, template = args
    review = json.load(open(template))
    obj = review["request"]["object"]
    obj["spec"]["containers"][0]["image"] = image
    att = json.load(open(att_file))
    obj["metadata"]["annotations"] = {"kritis.grafeas.io/attestations": json.dumps([att])}
    review["request"]["oldObject"] = None
    print(json.dumps(review))
else:
    main(sys.argv[1:])
PY
# e2e-tests/ on the module path for `from oci import`; no __pycache__ left there.
oci() {
  PYTHONPATH="$ROOT/e2e-tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
    python3 "$WORK/oci-cmds.py" "$@"
}

# --- the registry -------------------------------------------------------------
start_loopback_registry registry-e2e-not-a-secret
ok "docker-registry serves on $REG ($("$REGISTRY_BIN" --version 2>/dev/null | awk '{print $NF}'))"

# run_policy MODULE SETTINGS REQUEST [flags...]: sets OUT and RC.
run_policy() {
  local module="$1" settings="$2" request="$3"; shift 3
  set +e
  OUT="$("$HARNESS" run --settings-path "$settings" --request-path "$request" "$@" "$module" 2>&1)"
  RC=$?
  set -e
}
field() { printf '%s\n' "$OUT" | oci field "$1"; }

# --- the policy as an OCI artifact ---------------------------------------------
set +e
DIGEST="$("$HARNESS" push "$MODULE" "registry://$REG/policies/kritis:v1" 2>"$WORK/push.err")"
rc=$?
set -e
[ $rc -eq 0 ] || fail "push the annotated module" "$(cat "$WORK/push.err")"
[[ "$DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "push prints the digest" "$DIGEST"
ok "push annotated-policy.wasm to $REG/policies/kritis:v1 -> $DIGEST"

M="$(oci manifest "$BASE" policies/kritis v1)"
check="$(printf '%s' "$M" | python3 -c '
import json, sys, hashlib
m = json.load(sys.stdin); mod = open(sys.argv[2], "rb").read(); man = m["manifest"]
problems = []
if m["digest"] != sys.argv[1] or m["header"] != sys.argv[1]: problems.append("manifest digest")
if m["contentType"] != "application/vnd.oci.image.manifest.v1+json": problems.append("content type")
if man["config"]["mediaType"] != "application/vnd.wasm.config.v1+json": problems.append("config media type")
if len(man["layers"]) != 1: problems.append("layer count")
l = man["layers"][0]
if l["mediaType"] != "application/vnd.wasm.content.layer.v1+wasm": problems.append("layer media type")
if l["digest"] != "sha256:" + hashlib.sha256(mod).hexdigest() or l["size"] != len(mod): problems.append("layer digest/size")
a = man.get("annotations", {})
if a.get("io.kubewarden.policy.title") != "kritis-attestation-policy": problems.append("title annotation")
if "io.kubewarden.policy.usage" in a: problems.append("multi-line usage annotation")
if a.get("org.opencontainers.image.source") != a.get("io.kubewarden.policy.source"): problems.append("source")
print("; ".join(problems))' "$DIGEST" "$MODULE")"
[ -z "$check" ] || fail "the manifest is a Kubewarden policy artifact" "$check
$M"
ok "manifest: wasm config + one wasm layer (= the module), kwctl's annotations"

C="$GOLDEN/pod-attested-digest"
for ref in "policies/kritis:v1" "policies/kritis@$DIGEST"; do
  run_policy "registry://$REG/$ref" "$C/settings.json" "$C/request.json"
  [ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "True" ] \
    || fail "run pod-attested-digest from registry://$REG/$ref" "$OUT"
  ok "run pod-attested-digest from registry://$REG/$ref: allowed"
done

# KWCTL=/path/to/kwctl: the real kwctl pulls the pushed module (by tag and by
# digest) and runs it.
if [ -n "${KWCTL:-}" ]; then
  for ref in "policies/kritis:v1" "policies/kritis@$DIGEST"; do
    kwctl_run "registry://$REG/$ref" "$C/settings.json" "$C/request.json"
    [ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "True" ] \
      || fail "kwctl runs pod-attested-digest from registry://$REG/$ref" "$OUT"
    ok "kwctl pulls and runs registry://$REG/$ref: allowed"
  done
fi

WRONG="sha256:$(printf '0%.0s' $(seq 64))"
run_policy "registry://$REG/policies/kritis@$WRONG" "$C/settings.json" "$C/request.json"
[ $RC -ne 0 ] || fail "a wrong pinned digest is refused" "$OUT"
ok "a module pinned to a digest the registry does not have is refused"

INSPECT="$("$HARNESS" inspect --json "registry://$REG/policies/kritis@$DIGEST")"
[ "$(printf '%s' "$INSPECT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["protocolVersion"])')" = v1 ] \
  || fail "inspect the pulled module" "$INSPECT"
ok "inspect --json of the pulled module shows its metadata (protocolVersion v1)"

# --- live tag resolution --------------------------------------------------------
APP="$REG/team/app"
D1="$(oci push-image "$BASE" team/app v1 "first image")"
ok "push a tiny OCI image to $APP:v1 -> $D1"

"$HARNESS" sign --key "$KEY" --key-id k1 --image "$APP@$D1" >"$WORK/attestation.json"
oci request "$APP:v1" "$WORK/attestation.json" "$C/request.json" >"$WORK/request.json"
python3 -c '
import base64, json, sys
print(json.dumps({"attestationAuthorities": [{"name": "a", "publicKeyId": "k1",
    "publicKeyData": base64.b64encode(open(sys.argv[1], "rb").read()).decode()}],
    "resolveTags": True}))' "$PUB" >"$WORK/settings.json"
ok "attest $APP@$D1 with the TEST-ONLY key k1"

run_policy "$MODULE" "$WORK/settings.json" "$WORK/request.json"
[ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "False" ] \
  && [[ "$(field 'r["status"]["message"]')" == *"could not be resolved"* ]] \
  || fail "without --allow-network the tag is not resolved" "$OUT"
ok "without --allow-network: rejected, the tag could not be resolved (no fixture)"

run_policy "$MODULE" "$WORK/settings.json" "$WORK/request.json" --allow-network --trace-host-calls
PATCH="$(field 'json.loads(__import__("base64").b64decode(r["patch"])) if r.get("patch") else None')"
[ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "True" ] \
  && [ "$PATCH" = "[{'op': 'replace', 'path': '/spec/containers/0/image', 'value': '$APP:v1@$D1'}]" ] \
  || fail "--allow-network resolves v1 live and pins it" "$OUT"
[[ "$OUT" == *"live response"* ]] || fail "the trace shows a live answer" "$OUT"
ok "--allow-network: $APP:v1 resolved live to $D1: allowed, patched to $APP:v1@$D1"

if [ -n "${KWCTL:-}" ]; then
  kwctl_run "$MODULE" "$WORK/settings.json" "$WORK/request.json"
  [ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "True" ] \
    && [ "$(field 'json.loads(__import__("base64").b64decode(r["patch"])) if r.get("patch") else None')" = "$PATCH" ] \
    || fail "kwctl resolves v1 live and pins it as the harness does" "$OUT"
  ok "kwctl: $APP:v1 resolved live by its host to $D1: allowed, the same patch"
fi

D2="$(oci push-image "$BASE" team/app v1 "second image")"
[ "$D2" != "$D1" ] || fail "the re-tagged image has another digest" "$D1 $D2"
ok "re-tag $APP:v1 to another image -> $D2"

run_policy "$MODULE" "$WORK/settings.json" "$WORK/request.json" --allow-network
[ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "False" ] \
  && [[ "$(field 'r["status"]["message"]')" == *"no attestation for digest $D2"* ]] \
  || fail "the old attestation no longer admits v1" "$OUT"
ok "after the re-tag: rejected, no attestation for digest $D2"

printf '[{"namespace":"oci","operation":"v1/manifest_digest","request":"%s","response":{"digest":"%s"}}]\n' \
  "$APP:v1" "$D1" >"$WORK/fixtures.json"
run_policy "$MODULE" "$WORK/settings.json" "$WORK/request.json" --allow-network \
  --host-capabilities "$WORK/fixtures.json"
[ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "True" ] \
  || fail "a fixture wins over the live registry" "$OUT"
ok "a host-capabilities fixture still wins over the live registry"

run_policy "registry://$REG/policies/kritis@$DIGEST" "$WORK/settings.json" "$WORK/request.json" --allow-network
[ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "False" ] || fail "pulled module, live resolution" "$OUT"
ok "the same from the module pulled by digest"

echo "$PASSED passed, $FAILED failed"
