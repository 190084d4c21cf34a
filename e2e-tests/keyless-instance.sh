#!/usr/bin/env bash
# TEST-ONLY private Sigstore instance, generated with the openssl CLI into
# OUTDIR (never network, nothing committed): a root and an intermediate CA
# standing in for Fulcio, Fulcio-like leaf certificates, Rekor signing keys,
# and the matching kwctl trust config (ClientTrustConfig JSON).
#
#   bash e2e-tests/keyless-instance.sh OUTDIR
#
# OUTDIR afterwards:
#   trust-config.json   trustedRoot: CA chain [intermediate, root] + Rekor key
#   chain.pem           intermediate + root (PEM), for --certificate-chain
#   rekor.key           the trusted Rekor key (EC P-256, PKCS#8)
#   rekor-other.key     a Rekor key the trust root does not list
#   <leaf>.pem/.key     leaf certificates and their keys (EC P-256):
#     email        SAN email release@acme.test, issuer https://accounts.acme.test
#     app          SAN URI https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main,
#                  GitHub issuer, workflow extensions (repository acme/app)
#     app-other    same as app for repository acme/other
#     evil         same for repository acme-evil/app
#     foreign      like app, issued by a CA the trust root does not list
# Leaves are valid from now for one day (Fulcio issues 10 minutes; a bundle
# with --integrated-time outside that day stands for "expired").
set -euo pipefail

out=${1:?usage: keyless-instance.sh OUTDIR}
mkdir -p "$out"
cd "$out"

GITHUB_ISSUER=https://token.actions.githubusercontent.com
EMAIL_ISSUER=https://accounts.acme.test

hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
b64der() { base64 -w0 "$1"; }

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

cat >ext.cnf <<'EOF'
[ca_ext]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[int_ext]
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF

# CA: name key [issuer-name]
ca() {
  local name=$1 subj=$2 issuer=${3:-}
  newkey "$name.key"
  if [ -z "$issuer" ]; then
    openssl req -new -x509 -key "$name.key" -subj "$subj" -days 3650 -sha256 \
      -config /dev/null -extensions ca_ext -extfile ext.cnf -out "$name.pem" 2>/dev/null \
    || openssl req -new -x509 -key "$name.key" -subj "$subj" -days 3650 -sha256 \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out "$name.pem"
  else
    openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -set_serial 0x$RANDOM$RANDOM \
      -days 3650 -sha256 -extfile ext.cnf -extensions int_ext -out "$name.pem" 2>/dev/null
  fi
}

ca root "/O=policy-harness TEST ONLY/CN=test-fulcio-root"
ca intermediate "/O=policy-harness TEST ONLY/CN=test-fulcio-intermediate" root
ca other-root "/O=policy-harness TEST ONLY/CN=other-ca-root"

# leaf: name issuer-ca san oidc-issuer [repository]
leaf() {
  local name=$1 ca=$2 san=$3 issuer=$4 repo=${5:-}
  newkey "$name.key"
  {
    echo "[leaf_ext]"
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=codeSigning"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    echo "subjectAltName=critical,$san"
    # Fulcio's legacy extensions hold the raw string bytes (no DER wrapping).
    echo "1.3.6.1.4.1.57264.1.1=DER:$(hexof "$issuer")"
    if [ -n "$repo" ]; then
      echo "1.3.6.1.4.1.57264.1.2=DER:$(hexof push)"
      echo "1.3.6.1.4.1.57264.1.3=DER:$(hexof 0123456789abcdef0123456789abcdef01234567)"
      echo "1.3.6.1.4.1.57264.1.4=DER:$(hexof release)"
      echo "1.3.6.1.4.1.57264.1.5=DER:$(hexof "$repo")"
      echo "1.3.6.1.4.1.57264.1.6=DER:$(hexof refs/heads/main)"
    fi
  } >"$name.cnf"
  openssl req -new -key "$name.key" -subj "/O=policy-harness TEST ONLY" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -set_serial 0x$RANDOM$RANDOM \
    -days 1 -sha256 -extfile "$name.cnf" -extensions leaf_ext -out "$name.pem" 2>/dev/null
}

wf() { echo "URI:https://github.com/$1/.github/workflows/release.yml@refs/heads/main"; }
leaf email intermediate "email:release@acme.test" "$EMAIL_ISSUER"
leaf app intermediate "$(wf acme/app)" "$GITHUB_ISSUER" acme/app
leaf app-other intermediate "$(wf acme/other)" "$GITHUB_ISSUER" acme/other
leaf evil intermediate "$(wf acme-evil/app)" "$GITHUB_ISSUER" acme-evil/app
leaf foreign other-root "$(wf acme/app)" "$GITHUB_ISSUER" acme/app

cat intermediate.pem root.pem >chain.pem

newkey rekor.key
newkey rekor-other.key
openssl pkey -in rekor.key -pubout -outform DER -out rekor.pub.der
openssl x509 -in intermediate.pem -outform DER -out intermediate.der
openssl x509 -in root.pem -outform DER -out root.der
key_id=$(openssl dgst -sha256 -binary rekor.pub.der | base64 -w0)

cat >trust-config.json <<EOF
{
  "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
  "trustedRoot": {
    "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "tlogs": [{
      "baseUrl": "https://rekor.test.invalid",
      "hashAlgorithm": "SHA2_256",
      "publicKey": {
        "rawBytes": "$(b64der rekor.pub.der)",
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
        "validFor": {"start": "2020-01-01T00:00:00Z"}
      },
      "logId": {"keyId": "$key_id"}
    }],
    "certificateAuthorities": [{
      "subject": {"organization": "policy-harness TEST ONLY", "commonName": "test-fulcio"},
      "uri": "https://fulcio.test.invalid",
      "certChain": {"certificates": [
        {"rawBytes": "$(b64der intermediate.der)"},
        {"rawBytes": "$(b64der root.der)"}
      ]},
      "validFor": {"start": "2020-01-01T00:00:00Z"}
    }],
    "ctlogs": [],
    "timestampAuthorities": []
  }
}
EOF
rm -f ./*.csr
