#!/usr/bin/env bash
# End-to-end test of cosign signatures against a REAL OCI registry on
# loopback: Debian's `docker-registry` (the CNCF distribution server), started
# on 127.0.0.1 on a free port with its storage in a temporary folder, and
# always stopped (trap).
#
#   1. signing:  push tiny OCI images and the annotated policy module, sign
#                them with `policy-harness sign --format cosign --push` and the
#                TEST-ONLY RSA-2048, P-256 and P-384 keys of testdata/keys;
#                check the `.sig` manifests as cosign writes them, and every
#                signature with openssl (an independent verifier).
#   2. host:     the `oci`/`v2/verify` host capability (SigstorePubKeyVerify),
#                answered live as under `run --allow-network`: the cases are
#                written here and run by harness/tests/cosign.rs
#                (`registry_cases_from_cosign_e2e`) through `LiveRegistry`.
#   3. policy:   admissions through `policy-harness run --allow-network` with
#                `"attestationSources": ["registry"]` (see the marked section).
#
# Needs: python3, openssl, docker-registry (`make setup-registry` installs
# it), cargo, the harness (harness/target/debug/policy-harness),
# annotated-policy.wasm (and policy.wasm for part 3).
# Overrides: HARNESS, ANNOTATED_WASM, POLICY_WASM, REGISTRY_BIN, CARGO.
# KWCTL=/path/to/kwctl: part 3's admissions through the real `kwctl run`
# instead of the harness (the module's verdicts on Kubewarden's own host).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="${HARNESS:-$ROOT/harness/target/debug/policy-harness}"
MODULE="${ANNOTATED_WASM:-$ROOT/annotated-policy.wasm}"
POLICY="${POLICY_WASM:-$ROOT/policy.wasm}"
REGISTRY_BIN="${REGISTRY_BIN:-$(command -v docker-registry || echo /usr/bin/docker-registry)}"
CARGO="${CARGO:-cargo}"
KEYS="$ROOT/testdata/keys" # TEST-ONLY keys, published on purpose

for f in "$HARNESS" "$MODULE" "$REGISTRY_BIN"; do
  [ -e "$f" ] || { echo "cosign-e2e: missing $f" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "cosign-e2e: missing openssl" >&2; exit 1; }

# Work dir, cleanup trap, ok/fail (TAP-like lines) and the registry starter.
# shellcheck source=loopback-registry.sh
. "$ROOT/e2e-tests/loopback-registry.sh"

# --- helpers (Python: stdlib only) -------------------------------------------
# The registry client and the shared commands (free-port, wait, push-image,
# field, pod) are e2e-tests/oci.py; this script's own commands follow.
cat >"$WORK/oci-cmds.py" <<'PY'
import base64, json, subprocess, sys, tempfile
from oci import MANIFEST, blob, get_manifest, load, main, put_manifest, sha, sig_tag

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE = "dev.cosignproject.cosign/signature"

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "check-sig":       # check-sig BASE REPO DIGEST MANIFEST_DIGEST [PUB.pem:ANNOTATIONS_JSON]...
    # The .sig manifest as cosign writes it; each layer's signature verified
    # by openssl with the key expected for it, in order.
    base, repo, digest, manifest_digest, expected = args[0], args[1], args[2], args[3], args[4:]
    h, body = get_manifest(base, repo, sig_tag(digest))
    problems = []
    m = json.loads(body)
    if sha(body) != manifest_digest or h.get("Docker-Content-Digest") != manifest_digest:
        problems.append(f"manifest digest {sha(body)} != printed {manifest_digest}")
    if h.get("Content-Type") != MANIFEST or m.get("mediaType") != MANIFEST:
        problems.append("manifest media type")
    if m["config"]["mediaType"] != "application/vnd.oci.image.config.v1+json":
        problems.append("config media type")
    config = blob(base, repo, m["config"]["digest"])
    want = json.dumps({"architecture": "", "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}] * len(m["layers"]), "os": "",
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in m["layers"]]},
        "config": {}}, separators=(",", ":")).encode()
    if config != want or sha(config) != m["config"]["digest"] or len(config) != m["config"]["size"]:
        problems.append(f"config {config!r}")
    if len(m["layers"]) != len(expected):
        problems.append(f"{len(m['layers'])} layers, expected {len(expected)}")
    for i, (layer, exp) in enumerate(zip(m["layers"], expected)):
        pub, annotations = exp.split(":", 1)
        payload = blob(base, repo, layer["digest"])
        if layer["mediaType"] != SIMPLE_SIGNING or sha(payload) != layer["digest"] \
                or len(payload) != layer["size"] or list(layer.get("annotations", {})) != [SIGNATURE]:
            problems.append(f"layer {i} descriptor {layer}")
        want = json.dumps({"critical": {"identity": {"docker-reference": f"{base[7:]}/{repo}"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature"},
            "optional": json.loads(annotations)}, separators=(",", ":")).encode()
        if payload != want:
            problems.append(f"layer {i} payload {payload!r}, expected {want!r}")
        with tempfile.TemporaryDirectory() as tmp:
            open(f"{tmp}/p", "wb").write(payload)
            open(f"{tmp}/s", "wb").write(base64.b64decode(layer["annotations"][SIGNATURE]))
            hash_ = "-sha384" if "p384" in pub else "-sha256"
            r = subprocess.run(["openssl", "dgst", hash_, "-verify", pub, "-signature",
                                f"{tmp}/s", f"{tmp}/p"], capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"layer {i}: openssl does not verify it with {pub}: {r.stdout}{r.stderr}")
    print("; ".join(problems))
elif cmd == "copy-sig":      # copy-sig BASE REPO FROM_DIGEST TO_DIGEST [MEDIA_TYPE_OF_LAYER_0]
    base, repo, src, dst = args[:4]
    _, body = get_manifest(base, repo, sig_tag(src))
    if len(args) > 4:
        m = json.loads(body); m["layers"][0]["mediaType"] = args[4]
        body = json.dumps(m).encode()
    put_manifest(base, repo, sig_tag(dst), body)
elif cmd == "case":          # case FILE NAME IMAGE KEYS ANNOTATIONS_JSON EXPECT: append a v2/verify case
    # KEYS: comma-separated PEM files; EXPECT: sha256:… (verified) or
    # "error:substring|substring…".
    path, name, image, keys, annotations, expect = args
    cases = load(path, [])
    case = {"name": name, "request": {"type": "SigstorePubKeyVerify", "image": image,
            "pub_keys": [open(k).read() for k in keys.split(",")],
            "annotations": json.loads(annotations)}}
    if expect.startswith("error:"): case["error"] = expect[len("error:"):].split("|")
    else: case["digest"] = expect
    cases.append(case)
    json.dump(cases, open(path, "w"), indent=1)
elif cmd == "settings":      # settings PUB.pem...: policy settings trusting these keys, registry only
    print(json.dumps({
        "attestationAuthorities": [
            {"name": f"authority-{i}",
             "publicKeyData": base64.b64encode(open(k, "rb").read()).decode()}
            for i, k in enumerate(args)],
        "attestationSources": ["registry"]}))
else:
    main(sys.argv[1:])
PY
# e2e-tests/ on the module path for `from oci import`; no __pycache__ left there.
oci() {
  PYTHONPATH="$ROOT/e2e-tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
    python3 "$WORK/oci-cmds.py" "$@"
}

# --- the registry -------------------------------------------------------------
start_loopback_registry cosign-e2e-not-a-secret
ok "docker-registry serves on $REG"

field() { printf '%s\n' "$OUT" | oci field "$1"; }

# sign_cosign KEY IMAGE [flags...]: `policy-harness sign --format cosign --push`; sets OUT.
sign_cosign() {
  local key="$1" image="$2"; shift 2
  set +e
  OUT="$("$HARNESS" sign --format cosign --push --key "$KEYS/$key.key.pem" --image "$image" "$@" 2>"$WORK/sign.err")"
  local rc=$?
  set -e
  [ $rc -eq 0 ] || fail "sign $image with $key" "$(cat "$WORK/sign.err")"
}

# --- 1. signing -----------------------------------------------------------------
APP="$REG/team/app"
OTHER="$REG/team/other"
D_APP="$(oci push-image "$BASE" team/app v1 "the app")"
D_OTHER="$(oci push-image "$BASE" team/other v1 "another image")"
D_COPIED="$(oci push-image "$BASE" team/other v2 "an image given another's signatures")"
D_ODD="$(oci push-image "$BASE" team/other v3 "an image whose signatures have a foreign layer")"
D_UNSIGNED="$(oci push-image "$BASE" team/unsigned v1 "never signed")"
ok "push five tiny OCI images (team/app:v1 -> $D_APP, team/other:v1..v3, team/unsigned:v1)"

sign_cosign rsa2048 "$APP@$D_APP"
[ "$(field 'r["image"]')" = "$APP@$D_APP" ] \
  && [ "$(field 'r["signatureTag"]')" = "$APP:${D_APP/:/-}.sig" ] \
  || fail "sign by digest prints the image and the signature tag" "$OUT"
sign_cosign p256 "$APP:v1" --annotation env=prod
[ "$(field 'r["image"]')" = "$APP@$D_APP" ] || fail "sign by tag resolves it" "$OUT"
sign_cosign p384 "$APP@$D_APP"
M_APP="$(field 'r["signatureManifestDigest"]')"
ok "sign $APP with RSA-2048 (by digest), P-256 (by tag v1, env=prod) and P-384"

check="$(oci check-sig "$BASE" team/app "$D_APP" "$M_APP" \
  "$KEYS/rsa2048.pub.pem:null" "$KEYS/p256.pub.pem:{\"env\":\"prod\"}" "$KEYS/p384.pub.pem:null")"
[ -z "$check" ] || fail "the .sig manifest is cosign's" "$check"
ok "$APP:${D_APP/:/-}.sig: OCI manifest, cosign's config, 3 simple-signing layers, signatures verified by openssl"

sign_cosign p384 "$APP@$D_APP"
[ "$(field 'r["signatureManifestDigest"]')" = "$M_APP" ] && grep -q "already in" "$WORK/sign.err" \
  || fail "signing again changes nothing" "$OUT $(cat "$WORK/sign.err")"
ok "signing the same digest with the same key again leaves the .sig manifest as it is"

sign_cosign rsa2048 "$OTHER@$D_OTHER"
ok "sign $OTHER@$D_OTHER with RSA-2048"

set +e
P_DIGEST="$("$HARNESS" push "$MODULE" "registry://$REG/policies/kritis:v1" 2>"$WORK/push.err")"
rc=$?
set -e
[ $rc -eq 0 ] || fail "push the annotated module" "$(cat "$WORK/push.err")"
sign_cosign p256 "$REG/policies/kritis:v1"
[ "$(field 'r["image"]')" = "$REG/policies/kritis@$P_DIGEST" ] || fail "sign the policy by tag" "$OUT"
check="$(oci check-sig "$BASE" policies/kritis "$P_DIGEST" "$(field 'r["signatureManifestDigest"]')" \
  "$KEYS/p256.pub.pem:null")"
[ -z "$check" ] || fail "the policy's .sig manifest is cosign's" "$check"
ok "push the policy module ($P_DIGEST) and sign it with P-256 by tag"

set +e
OUT="$("$HARNESS" run --settings-path "$ROOT/e2e-tests/golden/pod-attested-digest/settings.json" \
  --request-path "$ROOT/e2e-tests/golden/pod-attested-digest/request.json" "registry://$REG/policies/kritis:v1" 2>&1)"
rc=$?
set -e
[ $rc -eq 0 ] && [ "$(field 'r["allowed"]')" = "True" ] || fail "the signed policy still runs from the registry" "$OUT"
ok "the signed policy still runs from registry://$REG/policies/kritis:v1"

oci copy-sig "$BASE" team/other "$D_OTHER" "$D_COPIED"
oci copy-sig "$BASE" team/other "$D_OTHER" "$D_ODD" application/vnd.oci.image.layer.v1.tar
ok "copy $OTHER's .sig to $OTHER:v2's signature tag; a variant with a foreign layer to v3's"

# --- 2. the host capability: oci/v2/verify, live ------------------------------------
CASES="$WORK/cases.json"
case_() { oci case "$CASES" "$@"; }
K="$KEYS"
case_ "signed digest, RSA-2048" "$APP@$D_APP" "$K/rsa2048.pub.pem" null "$D_APP"
case_ "signed digest, P-256" "$APP@$D_APP" "$K/p256.pub.pem" null "$D_APP"
case_ "signed digest, P-384" "$APP@$D_APP" "$K/p384.pub.pem" null "$D_APP"
case_ "signed digest, all three keys at once" "$APP@$D_APP" \
  "$K/rsa2048.pub.pem,$K/p256.pub.pem,$K/p384.pub.pem" null "$D_APP"
case_ "signed tag: the answer is its digest" "$APP:v1" "$K/p384.pub.pem" null "$D_APP"
case_ "annotation signed" "$APP:v1" "$K/p256.pub.pem" '{"env":"prod"}' "$D_APP"
case_ "signed policy module, by tag" "$REG/policies/kritis:v1" "$K/p256.pub.pem" null "$P_DIGEST"
case_ "signed policy module, by digest" "$REG/policies/kritis@$P_DIGEST" "$K/p256.pub.pem" null "$P_DIGEST"
case_ "unsigned: no .sig manifest" "$REG/team/unsigned@$D_UNSIGNED" "$K/rsa2048.pub.pem" null \
  "error:no signatures found for image|no cosign signature manifest $REG/team/unsigned:${D_UNSIGNED/:/-}.sig"
case_ "unsigned, by tag" "$REG/team/unsigned:v1" "$K/rsa2048.pub.pem" null \
  "error:no cosign signature manifest $REG/team/unsigned:${D_UNSIGNED/:/-}.sig"
case_ "signed by another key" "$APP@$D_APP" "$K/rsa2048b.pub.pem" null \
  "error:image verification failed for|pub_keys[0] (RSA): no layer verifies with this key (3 layer(s))"
case_ "one of two keys did not sign" "$APP@$D_APP" "$K/p256.pub.pem,$K/rsa2048b.pub.pem" null \
  "error:pub_keys[1] (RSA): no layer verifies with this key"
case_ "another image's .sig copied to this one's signature tag" "$OTHER:v2" "$K/rsa2048.pub.pem" null \
  "error:, $D_COPIED, |pub_keys[0] (RSA): digest mismatch: the layer(s) signed with it name \"$D_OTHER\""
case_ "wrong annotation" "$APP@$D_APP" "$K/p256.pub.pem" '{"env":"dev"}' \
  "error:pub_keys[0] (EC P-256): annotation(s) missing from the payload it signed: env=dev"
case_ "annotation asked of a key that signed none" "$APP@$D_APP" "$K/rsa2048.pub.pem" '{"env":"prod"}' \
  "error:pub_keys[0] (RSA): annotation(s) missing from the payload it signed: env=prod"
case_ "a foreign layer fails the whole lookup" "$OTHER:v3" "$K/rsa2048.pub.pem" null \
  "error:signature manifest $REG/team/other:${D_ODD/:/-}.sig: layer 0 has media type \"application/vnd.oci.image.layer.v1.tar\""
case_ "policy module, key that did not sign it" "$REG/policies/kritis:v1" "$K/rsa2048.pub.pem" null \
  "error:pub_keys[0] (RSA): no layer verifies with this key (1 layer(s))"

set +e
OUT="$(cd "$ROOT/harness" && COSIGN_E2E_CASES="$CASES" "$CARGO" test --locked --quiet --test cosign \
  -- --exact registry_cases_from_cosign_e2e --nocapture 2>&1)"
rc=$?
set -e
printf '%s\n' "$OUT" | grep -E '^(not )?ok - v2/verify' | sed 's/^/# /' || true
[ $rc -eq 0 ] || fail "the v2/verify cases (harness/tests/cosign.rs)" "$OUT"
n="$(printf '%s\n' "$OUT" | grep -c '^ok - v2/verify' || true)"
[ "$n" = "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$CASES")" ] \
  || fail "every v2/verify case ran" "$OUT"
ok "oci/v2/verify answered live for $n cases (signed/unsigned, keys, tags, copies, annotations, the policy)"

# --- 3. the policy: admissions through `run --allow-network` -------------------------
# POLICY-LEVEL CHECKS: added once the policy's `attestationSources` setting
# lands. Helpers:
#   registry_settings PUB.pem...   -> $WORK/settings.json trusting these keys,
#                                     "attestationSources": ["registry"]
#   pod_request IMAGE              -> $WORK/request.json, a Pod running IMAGE
#   admit SETTINGS REQUEST [flags] -> runs the policy (policy.wasm) with
#                                     --allow-network; sets OUT, RC
#   field EXPR                     -> EXPR on the response `r`, e.g. 'r["allowed"]'
# Fixtures available: $APP@$D_APP and $APP:v1 (signed: rsa2048, p256 with
# env=prod, p384), $REG/team/unsigned:v1 (@$D_UNSIGNED, unsigned), $OTHER:v2
# (another image's .sig), $OTHER:v3 (a foreign layer), $REG/policies/kritis:v1
# (@$P_DIGEST, p256).
registry_settings() { oci settings "$@" >"$WORK/settings.json"; }
pod_request() {
  oci pod "$ROOT/e2e-tests/golden/pod-attested-digest/request.json" "$1" >"$WORK/request.json"
}
admit() {
  local settings="$1" request="$2"; shift 2
  [ -e "$POLICY" ] || fail "policy-level checks need $POLICY"
  if [ -n "${KWCTL:-}" ]; then
    kwctl_admit "$POLICY" "$settings" "$request"
    return
  fi
  set +e
  OUT="$("$HARNESS" run --settings-path "$settings" --request-path "$request" --allow-network "$@" "$POLICY" 2>&1)"
  RC=$?
  set -e
}
# policy_settings AUTHORITIES_JSON POLICY_NAMES_JSON [SOURCES_JSON]: settings
# with one cluster-wide policy "prod" requiring every named authority.
policy_settings() {
  python3 - "$1" "$2" "${3:-[\"registry\"]}" >"$WORK/settings.json" <<'PY'
import json, sys
authorities, names, sources = (json.loads(a) for a in sys.argv[1:])
print(json.dumps({"attestationSources": sources, "attestationAuthorities": authorities,
                  "attestationPolicies": [{"name": "prod", "attestationAuthorityNames": names}]}))
PY
}
# authority NAME KEY [ANNOTATIONS_JSON]: an authority trusting testdata/keys/KEY.pub.pem.
authority() {
  python3 - "$1" "$KEYS/$2.pub.pem" "${3:-null}" <<'PY'
import base64, json, sys
name, pub, annotations = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
a = {"name": name, "publicKeyId": name + "-key",
     "publicKeyData": base64.b64encode(open(pub, "rb").read()).decode()}
if annotations is not None:
    a["registryAnnotations"] = annotations
print(json.dumps(a))
PY
}
allowed() { [ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "True" ]; }
denied_with() {
  [ $RC -eq 0 ] && [ "$(field 'r["allowed"]')" = "False" ] \
    && field 'r["status"]["message"]' | grep -qF -- "$1"
}

P384="$(authority ci p384)"
policy_settings "[$P384]" '["ci"]'
pod_request "$APP@$D_APP"; admit "$WORK/settings.json" "$WORK/request.json"
allowed || fail "registry source: signed digest admitted" "$OUT"
ok "policy, registry source: $APP@$D_APP signed with P-384: allowed"

pod_request "$APP:v1"; admit "$WORK/settings.json" "$WORK/request.json"
allowed && [ "$(field 'json.loads(base64.b64decode(r["patch"]))[0]["value"]')" = "$APP:v1@$D_APP" ] \
  || fail "registry source: signed tag admitted and pinned to the verified digest" "$OUT"
ok "policy, registry source: $APP:v1 admitted and pinned to $APP:v1@$D_APP"

pod_request "$REG/team/unsigned:v1"; admit "$WORK/settings.json" "$WORK/request.json"
denied_with "policy prod requires authority ci: no cosign signature in the registry verifies with key ci-key (host: " \
  || fail "registry source: unsigned image rejected with the host's reason" "$OUT"
ok "policy, registry source: unsigned image rejected: $(field 'r["status"]["message"]' | cut -c1-160)…"

policy_settings "[$(authority ci rsa2048b)]" '["ci"]'
pod_request "$APP@$D_APP"; admit "$WORK/settings.json" "$WORK/request.json"
denied_with "no cosign signature in the registry verifies with key ci-key" \
  || fail "registry source: signed by another key rejected" "$OUT"
ok "policy, registry source: signed by another key: rejected"

policy_settings "[$(authority ci rsa2048)]" '["ci"]'
pod_request "$OTHER:v2"; admit "$WORK/settings.json" "$WORK/request.json"
# The host's reason differs: the harness names the digest mismatch, kwctl
# says that no layer passed verification; the policy's words are common.
{ denied_with "no cosign signature in the registry verifies with key ci-key" \
  && { [ -n "${KWCTL:-}" ] || denied_with "digest mismatch"; }; } \
  || fail "registry source: another image's .sig copied here rejected" "$OUT"
ok "policy, registry source: another image's .sig copied to this image's signature tag: rejected"

policy_settings "[$(authority ci p256 '{"env":"dev"}')]" '["ci"]'
pod_request "$APP@$D_APP"; admit "$WORK/settings.json" "$WORK/request.json"
# kwctl's own text names the annotations after the key, past where the
# policy cuts a host's reason: the policy names them itself, under both hosts.
{ denied_with "no cosign signature in the registry verifies with key ci-key" \
  && denied_with "its signatures must carry the registryAnnotations env=dev"; } \
  || fail "registry source: wrong annotation rejected" "$OUT"
policy_settings "[$(authority ci p256 '{"env":"prod"}')]" '["ci"]'
admit "$WORK/settings.json" "$WORK/request.json"
allowed || fail "registry source: right annotation admitted" "$OUT"
ok "policy, registry source: registryAnnotations env=dev rejected, env=prod admitted"

# qa signs in the annotation (kritis format), ci in the registry: both required.
"$HARNESS" sign --key "$KEYS/rsa2048b.key.pem" --key-id qa-key --image "$APP@$D_APP" >"$WORK/qa.json" \
  || fail "sign the qa attestation"
policy_settings "[$P384, $(authority qa rsa2048b)]" '["ci", "qa"]' '["annotation", "registry"]'
pod_request "$APP@$D_APP"
python3 - "$WORK/request.json" "$WORK/qa.json" <<'PY'
import json, sys
path, att = sys.argv[1], json.load(open(sys.argv[2]))
review = json.load(open(path))
review["request"]["object"]["metadata"]["annotations"] = {"kritis.grafeas.io/attestations": json.dumps([att])}
json.dump(review, open(path, "w"))
PY
admit "$WORK/settings.json" "$WORK/request.json"
allowed || fail "annotation (qa) + registry (ci) under require all admitted" "$OUT"
policy_settings "[$(authority ci rsa2048b), $(authority qa rsa2048b)]" '["ci", "qa"]' '["annotation", "registry"]'
admit "$WORK/settings.json" "$WORK/request.json"
denied_with "policy prod requires authority ci" || fail "annotation alone is not enough when ci must sign" "$OUT"
ok "policy, both sources: qa in the annotation + ci in the registry admitted; without ci's signature rejected"

policy_settings "[$(authority ci p256)]" '["ci"]'
pod_request "$REG/policies/kritis:v1"; admit "$WORK/settings.json" "$WORK/request.json"
allowed || fail "the signed policy module verifies" "$OUT"
ok "policy, registry source: the signed policy module $REG/policies/kritis:v1 verifies"
# END OF POLICY-LEVEL CHECKS

echo "$PASSED passed, $FAILED failed"
