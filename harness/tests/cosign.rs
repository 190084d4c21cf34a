//! Cosign signatures (`oci::cosign`, `sign --format cosign`, the live
//! `oci`/`v2/verify` host capability).
//!
//! Without a registry: verification against an in-memory [`SignatureStore`]
//! holding `.sig` manifests built by the harness's own signing code, every
//! failure with its exact reason; the CLI; the live dispatch.
//!
//! With a real registry: `registry_cases_from_cosign_e2e` runs the cases
//! that `e2e-tests/cosign-e2e.sh` writes (COSIGN_E2E_CASES=FILE) through
//! `LiveRegistry`, the very path `run --allow-network` takes. It is skipped,
//! saying so, when the script did not start it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::{pod_review, Behavior, Guest, TempDir};
use policy_harness::host::capabilities::LiveCapabilities;
use policy_harness::oci::cosign::{
    add_signature_layer, docker_reference, parse_signature_manifest, resolve_image,
    signature_reference, unmet_keys, verify_with, CosignKey, Fetched, PubKeyVerify, SignatureLayer,
    SignatureStore, VerificationResponse, MAX_LAYERS, SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
};
use policy_harness::oci::registry::{LiveRegistry, RegistryOptions};
use policy_harness::oci::sha256_digest;
use policy_harness::sign::{cosign_payload, RsaScheme, SigningKey};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");
const REG: &str = "registry.test:5000";

fn d(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/keys")
}

fn read_key(name: &str) -> String {
    std::fs::read_to_string(keys_dir().join(name)).expect("test key")
}

fn private(name: &str) -> SigningKey {
    SigningKey::from_pem(&read_key(&format!("{name}.key.pem"))).expect("private key")
}

fn public(name: &str) -> String {
    read_key(&format!("{name}.pub.pem"))
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A registry in memory: tags, `.sig` manifests and blobs.
#[derive(Default)]
struct Fake {
    tags: BTreeMap<String, String>,
    manifests: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<String, Vec<u8>>,
}

impl SignatureStore for Fake {
    fn resolve(&self, image: &oci_client::Reference) -> Result<String, String> {
        self.tags
            .get(&image.whole())
            .cloned()
            .ok_or_else(|| "MANIFEST_UNKNOWN".to_owned())
    }

    fn manifest(&self, reference: &oci_client::Reference, _: usize) -> Result<Fetched, String> {
        Ok(match self.manifests.get(&reference.whole()) {
            Some(bytes) => Fetched::Found(bytes.clone()),
            None => Fetched::Absent("manifest unknown".to_owned()),
        })
    }

    fn blob(
        &self,
        _: &oci_client::Reference,
        digest: &str,
        limit: usize,
    ) -> Result<Vec<u8>, String> {
        let blob = self.blobs.get(digest).ok_or("BLOB_UNKNOWN")?;
        if blob.len() > limit {
            return Err("too large".to_owned());
        }
        Ok(blob.clone())
    }
}

impl Fake {
    fn sig_ref(image: &str) -> String {
        let r = resolve_image(image, None).expect("digest reference");
        signature_reference(&r.reference, &r.digest)
            .expect("sig ref")
            .whole()
    }

    /// Adds a layer with these exact bytes, signed by `key`, to `image`'s `.sig`.
    fn sign_bytes(&mut self, image: &str, payload: &[u8], key: &SigningKey) {
        let signature = b64().encode(key.sign(payload, Some(RsaScheme::Pkcs1)).expect("sign"));
        let sig_ref = Self::sig_ref(image);
        let built = add_signature_layer(
            self.manifests.get(&sig_ref).map(Vec::as_slice),
            payload,
            &signature,
        )
        .expect("layer");
        self.blobs.insert(sha256_digest(payload), payload.to_vec());
        self.blobs
            .insert(sha256_digest(&built.config), built.config);
        self.manifests.insert(sig_ref, built.manifest);
    }

    /// Signs `image` (`HOST/REPO@sha256:…`) as `sign --format cosign --push` does.
    fn sign(&mut self, image: &str, key: &SigningKey, annotations: &[(&str, &str)]) {
        let r = resolve_image(image, None).expect("digest reference");
        let annotations: BTreeMap<String, String> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let payload = cosign_payload(&docker_reference(&r.reference), &r.digest, &annotations)
            .expect("payload");
        self.sign_bytes(image, &payload, key);
    }

    fn manifest_json(&self, image: &str) -> Value {
        serde_json::from_slice(&self.manifests[&Self::sig_ref(image)]).expect("json")
    }

    fn set_manifest(&mut self, image: &str, manifest: &Value) {
        self.manifests
            .insert(Self::sig_ref(image), serde_json::to_vec(manifest).unwrap());
    }
}

fn request(image: &str, keys: &[&str], annotations: &[(&str, &str)]) -> PubKeyVerify {
    PubKeyVerify {
        image: image.to_owned(),
        pub_keys: keys.iter().map(|k| public(k)).collect(),
        annotations: (!annotations.is_empty()).then(|| {
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        }),
    }
}

fn verified(fake: &Fake, req: &PubKeyVerify) -> String {
    match verify_with(fake, req) {
        Ok(VerificationResponse { is_trusted, digest }) => {
            assert!(is_trusted);
            digest
        }
        Err(e) => panic!("{req:?}: {e}"),
    }
}

fn error(fake: &Fake, req: &PubKeyVerify) -> String {
    match verify_with(fake, req) {
        Ok(r) => panic!("{req:?} verified: {r:?}"),
        Err(e) => e.to_string(),
    }
}

/// `team/app` (digest a…, tag v1) signed by the RSA-2048, P-256 (with
/// env=prod) and P-384 keys; `team/other` (digest b…) signed by RSA-2048.
fn signed_registry() -> (Fake, String, String) {
    let app = format!("{REG}/team/app@{}", d('a'));
    let other = format!("{REG}/team/other@{}", d('b'));
    let mut fake = Fake::default();
    fake.tags.insert(format!("{REG}/team/app:v1"), d('a'));
    fake.sign(&app, &private("rsa2048"), &[]);
    fake.sign(&app, &private("p256"), &[("env", "prod"), ("team", "a")]);
    fake.sign(&app, &private("p384"), &[]);
    fake.sign(&other, &private("rsa2048"), &[]);
    (fake, app, other)
}

#[test]
fn every_key_type_verifies_by_digest_and_by_tag() {
    let (fake, app, _) = signed_registry();
    for key in ["rsa2048", "p256", "p384"] {
        assert_eq!(
            verified(&fake, &request(&app, &[key], &[])),
            d('a'),
            "{key}"
        );
    }
    // Every key of one request must have signed.
    assert_eq!(
        verified(&fake, &request(&app, &["rsa2048", "p256", "p384"], &[])),
        d('a')
    );
    // A tag is resolved; the answer is the digest.
    let tag = format!("{REG}/team/app:v1");
    assert_eq!(verified(&fake, &request(&tag, &["p384"], &[])), d('a'));
    // Requested annotations are in the payload the key signed.
    assert_eq!(
        verified(&fake, &request(&app, &["p256"], &[("env", "prod")])),
        d('a')
    );
    assert_eq!(
        verified(
            &fake,
            &request(&app, &["p256"], &[("env", "prod"), ("team", "a")])
        ),
        d('a')
    );
}

#[test]
fn failures_name_what_is_missing() {
    let (mut fake, app, other) = signed_registry();
    let sig_ref = |image: &str| Fake::sig_ref(image);

    let unsigned = format!("{REG}/team/none@{}", d('c'));
    let e = error(&fake, &request(&unsigned, &["rsa2048"], &[]));
    assert_eq!(
        e,
        format!(
            "no signatures found for image: {unsigned} (no cosign signature manifest {}: \
             manifest unknown)",
            sig_ref(&unsigned)
        )
    );

    let e = error(&fake, &request(&app, &["rsa2048b"], &[]));
    // The reason first (policies quote 200 characters of a host error).
    assert!(
        e.starts_with("pub_keys[0] (RSA): no layer verifies with this key (3 layer(s))"),
        "{e}"
    );
    assert!(e.contains(&format!(", {}, signatures in {}", d('a'), sig_ref(&app))));

    // One of two keys missing: only that one is named.
    let e = error(&fake, &request(&app, &["p256", "rsa2048b"], &[]));
    assert!(
        e.contains("pub_keys[1] (RSA)") && !e.contains("pub_keys[0]"),
        "{e}"
    );

    let e = error(&fake, &request(&app, &["p256"], &[("env", "dev")]));
    assert!(
        e.starts_with(
            "pub_keys[0] (EC P-256): annotation(s) missing from the payload it signed: env=dev"
        ),
        "{e}"
    );
    // The RSA signature has no annotation at all.
    let e = error(&fake, &request(&app, &["rsa2048"], &[("env", "prod")]));
    assert!(
        e.contains("missing from the payload it signed: env=prod ("),
        "{e}"
    );

    let tag = format!("{REG}/team/gone:v1");
    let e = error(&fake, &request(&tag, &["rsa2048"], &[]));
    assert_eq!(
        e,
        format!("image \"{tag}\": cannot resolve its digest: MANIFEST_UNKNOWN")
    );

    // The other image's .sig copied to this image's signature tag.
    let copied = fake.manifests[&sig_ref(&other)].clone();
    let victim = format!("{REG}/team/other@{}", d('e'));
    fake.manifests.insert(sig_ref(&victim), copied);
    let e = error(&fake, &request(&victim, &["rsa2048"], &[]));
    assert!(
        e.starts_with(&format!(
            "pub_keys[0] (RSA): digest mismatch: the layer(s) signed with it name \"{}\"",
            d('b')
        )),
        "{e}"
    );

    // A signed payload that is not simple-signing JSON.
    let odd = format!("{REG}/team/odd@{}", d('f'));
    fake.sign_bytes(&odd, b"not json", &private("p384"));
    let e = error(&fake, &request(&odd, &["p384"], &[]));
    assert!(
        e.contains("pub_keys[0] (EC P-384): the layer signed with it is not a cosign simple-signing payload"),
        "{e}"
    );
}

#[test]
fn the_whole_lookup_fails_on_a_bad_manifest_or_blob() {
    let (mut fake, app, _) = signed_registry();
    let sig = Fake::sig_ref(&app);

    // One layer of another media type: even the good layers do not count.
    let mut m = fake.manifest_json(&app);
    m["layers"][1]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar");
    fake.set_manifest(&app, &m);
    let e = error(&fake, &request(&app, &["rsa2048"], &[]));
    assert_eq!(
        e,
        format!(
            "signature manifest {sig}: layer 1 has media type \"application/vnd.oci.image.layer.v1.tar\", \
             not {SIMPLE_SIGNING_MEDIA_TYPE}"
        )
    );

    // A blob that does not match its descriptor.
    let (mut fake, app, _) = signed_registry();
    let m = fake.manifest_json(&app);
    let digest = m["layers"][0]["digest"].as_str().unwrap().to_owned();
    fake.blobs.insert(digest.clone(), b"tampered".to_vec());
    let e = error(&fake, &request(&app, &["p384"], &[]));
    assert_eq!(
        e,
        format!(
            "signature manifest {sig}: layer 0: the blob's digest is {}, the manifest names {digest}",
            sha256_digest(b"tampered")
        )
    );

    // A missing blob (layer 1: layers 0 and 2 share a payload), an index,
    // no layer.
    let (mut fake, app, _) = signed_registry();
    let digest = fake.manifest_json(&app)["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.blobs.remove(&digest);
    let e = error(&fake, &request(&app, &["p384"], &[]));
    assert!(
        e.ends_with(&format!("layer 1 ({digest}): BLOB_UNKNOWN")),
        "{e}"
    );
    fake.set_manifest(&app, &json!({"schemaVersion": 2, "manifests": []}));
    let e = error(&fake, &request(&app, &["p384"], &[]));
    assert!(
        e.ends_with("found an image index instead of an image manifest"),
        "{e}"
    );
    let mut m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "x", "digest": d('0'), "size": 0}, "layers": []});
    fake.set_manifest(&app, &m);
    assert!(error(&fake, &request(&app, &["p384"], &[])).ends_with("the manifest has no layer"));
    m["layers"] = json!(vec![
        json!({"mediaType": SIMPLE_SIGNING_MEDIA_TYPE, "digest": d('1'), "size": 1});
        MAX_LAYERS + 1
    ]);
    fake.set_manifest(&app, &m);
    assert!(error(&fake, &request(&app, &["p384"], &[])).ends_with("65 layers, more than 64"));
}

#[test]
fn requests_and_keys_are_checked_first() {
    let (fake, app, _) = signed_registry();
    let mut r = request(&app, &[], &[]);
    assert!(error(&fake, &r).contains("pub_keys is empty"));
    r.pub_keys = vec!["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned()];
    assert!(error(&fake, &r).starts_with("pub_keys[0]: not an RSA, EC P-256 or EC P-384"));
    r.pub_keys = vec![public("ed25519")];
    assert!(error(&fake, &r).starts_with("pub_keys[0]: not an RSA"));
    r.pub_keys = vec![public("p256"); 65];
    assert!(error(&fake, &r).contains("65 public keys, more than 64"));
    let r = request("UPPER/case::x", &["p256"], &[]);
    assert!(error(&fake, &r).starts_with("image \"UPPER/case::x\": invalid image reference"));
}

#[test]
fn layers_are_checked_signature_first() {
    // A layer without the signature annotation, or with garbage in it, is
    // never signed by anyone.
    let key = CosignKey::from_pem(&public("p256")).unwrap();
    let payload = cosign_payload("r", &d('a'), &BTreeMap::new()).unwrap();
    let signature = b64().encode(
        private("p256")
            .sign(&payload, Some(RsaScheme::Pkcs1))
            .unwrap(),
    );
    let layer = |annotation: Option<&str>| SignatureLayer {
        digest: sha256_digest(&payload),
        annotations: annotation
            .map(|s| BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), s.to_owned())]))
            .unwrap_or_default(),
        blob: payload.clone(),
    };
    let none = BTreeMap::new();
    assert!(unmet_keys(
        &d('a'),
        &[layer(Some(&signature))],
        std::slice::from_ref(&key),
        &none
    )
    .is_empty());
    for bad in [None, Some("!!"), Some("AAAA")] {
        let unmet = unmet_keys(&d('a'), &[layer(bad)], std::slice::from_ref(&key), &none);
        assert_eq!(unmet.len(), 1, "{bad:?}");
        assert_eq!(
            unmet[0].to_string(),
            "pub_keys[0] (EC P-256): no layer verifies with this key (1 layer(s))"
        );
    }
    // The RSA key does not verify the ECDSA signature, and vice versa.
    let rsa = CosignKey::from_pem(&public("rsa2048")).unwrap();
    assert!(!rsa.verifies(&payload, &b64().decode(&signature).unwrap()));
}

#[test]
fn signature_manifests_are_written_as_cosign_does() {
    let payload = cosign_payload("r", &d('a'), &BTreeMap::new()).unwrap();
    let first = add_signature_layer(None, &payload, "c2ln").unwrap();
    assert!(first.changed);
    let m: Value = serde_json::from_slice(&first.manifest).unwrap();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(m["config"]["digest"], sha256_digest(&first.config));
    assert_eq!(m["config"]["size"], first.config.len());
    assert_eq!(
        m["layers"],
        json!([{"mediaType": SIMPLE_SIGNING_MEDIA_TYPE, "digest": sha256_digest(&payload),
                "size": payload.len(), "annotations": {SIGNATURE_ANNOTATION: "c2ln"}}])
    );
    assert!(parse_signature_manifest(&first.manifest).is_ok());

    // The same signature again: unchanged; another one: a second layer.
    let again = add_signature_layer(Some(&first.manifest), &payload, "c2ln").unwrap();
    assert!(!again.changed);
    assert_eq!(again.manifest, first.manifest);
    let second = add_signature_layer(Some(&first.manifest), &payload, "b3RoZXI=").unwrap();
    assert!(second.changed);
    let m: Value = serde_json::from_slice(&second.manifest).unwrap();
    assert_eq!(m["layers"].as_array().unwrap().len(), 2);
    let config: Value = serde_json::from_slice(&second.config).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(config["history"].as_array().unwrap().len(), 2);

    // Never more layers than are read back.
    let mut full = first.manifest.clone();
    for i in 1..MAX_LAYERS {
        full = add_signature_layer(Some(&full), &payload, &format!("s{i}"))
            .unwrap()
            .manifest;
    }
    let e = add_signature_layer(Some(&full), &payload, "one-too-many").unwrap_err();
    assert!(format!("{e:#}").contains("already has 64 layers"), "{e:#}");
}

// ---------------------------------------------------------------------------
// The command line

fn harness(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run policy-harness")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sign_cosign_prints_payload_and_signature() {
    let image = format!("{REG}/team/app:v1@{}", d('a'));
    for key in ["rsa2048", "p256", "p384"] {
        let key_file = keys_dir().join(format!("{key}.key.pem"));
        let o = harness(&[
            "sign",
            "--format",
            "cosign",
            "--key",
            key_file.to_str().unwrap(),
            "--image",
            &image,
            "--annotation",
            "env=prod",
            "-a",
            "a=<&>",
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out: Value = serde_json::from_slice(&o.stdout).expect("one JSON line");
        assert_eq!(out["image"], format!("{REG}/team/app@{}", d('a')));
        assert_eq!(
            out["signatureTag"],
            format!("{REG}/team/app:sha256-{}.sig", "a".repeat(64))
        );
        assert!(out.get("signatureManifestDigest").is_none());
        let payload = b64().decode(out["payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            text(&payload),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"{REG}/team/app"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":{{"a":"\u003c\u0026\u003e","env":"prod"}}}}"#,
                d('a')
            )
        );
        let signature = b64().decode(out["signature"].as_str().unwrap()).unwrap();
        let public_key = CosignKey::from_pem(&public(key)).unwrap();
        assert!(public_key.verifies(&payload, &signature), "{key}");
    }
}

#[test]
fn sign_refuses_what_cosign_cannot_carry() {
    let rsa = keys_dir().join("rsa2048.key.pem");
    let rsa = rsa.to_str().unwrap();
    let pinned = format!("{REG}/team/app@{}", d('a'));
    let tag = format!("{REG}/team/app:v1");
    for (args, needle) in [
        (
            vec!["--format", "cosign", "--scheme", "pss", "--image", &pinned],
            "PKCS#1 v1.5",
        ),
        (
            vec!["--format", "cosign", "--key-id", "k", "--image", &pinned],
            "--key-id applies to --format kritis only",
        ),
        (
            vec!["--format", "cosign", "--image", &tag],
            "has no digest: give REPO@sha256:HEX, or --push",
        ),
        (
            vec!["--format", "cosign", "--image", &pinned, "-a", "novalue"],
            "expected KEY=VALUE",
        ),
        (
            vec![
                "--format", "cosign", "--image", &pinned, "-a", "k=1", "-a", "k=2",
            ],
            "given twice",
        ),
        (
            vec!["--image", &pinned, "--into", "/nonexistent/deploy.yaml"],
            "cannot read /nonexistent/deploy.yaml",
        ),
        (
            vec!["--key-id", "k", "--image", &pinned, "-a", "k=v"],
            "apply to --format cosign only",
        ),
        (
            vec!["--format", "notary", "--image", &pinned],
            "unknown format",
        ),
        (
            vec!["--format", "cosign", "--push", "--payload", "x.json"],
            "--push needs --image",
        ),
        (
            vec![
                "--format",
                "cosign",
                "--image",
                &pinned,
                "--insecure-registry",
                "h:1",
            ],
            "--insecure-registry applies to --push only",
        ),
    ] {
        let mut all = vec!["sign", "--key", rsa];
        all.extend(args.iter().copied());
        let o = harness(&all);
        assert!(!o.status.success(), "{all:?}");
        assert!(
            text(&o.stderr).contains(needle),
            "{needle:?}: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn push_to_an_unreachable_registry_fails_cleanly() {
    // Port 1 on loopback: connection refused, nothing leaves the machine.
    let rsa = keys_dir().join("rsa2048.key.pem");
    for image in [
        "127.0.0.1:1/team/app:v1".to_owned(),
        format!("127.0.0.1:1/team/app@{}", d('a')),
    ] {
        let o = harness(&[
            "sign",
            "--format",
            "cosign",
            "--push",
            "--key",
            rsa.to_str().unwrap(),
            "--image",
            &image,
        ]);
        assert_eq!(o.status.code(), Some(1), "{image}");
        let err = text(&o.stderr);
        assert!(
            err.contains("cannot resolve 127.0.0.1:1/team/app:v1")
                || err.contains(&format!(
                    "refusing to sign 127.0.0.1:1/team/app@{}: cannot check that the registry \
                     holds this manifest",
                    d('a')
                )),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
}

// ---------------------------------------------------------------------------
// The live host capability

fn verify_payload(image: &str, keys: &[&str]) -> String {
    json!({"type": "SigstorePubKeyVerify", "image": image,
           "pub_keys": keys.iter().map(|k| public(k)).collect::<Vec<_>>(),
           "annotations": null})
    .to_string()
}

#[test]
fn live_v2_verify_is_dispatched_and_reports_registry_errors() {
    let live = LiveRegistry::new(RegistryOptions::default());
    let call = |payload: &str| {
        live.call("kubewarden", "oci", "v2/verify", payload.as_bytes())
            .expect("served live")
            .expect_err("no registry")
    };
    assert!(call("nope").contains("invalid SigstorePubKeyVerify request"));
    assert!(
        call(r#"{"type":"SigstoreKeylessVerify","image":"a","keyless":[]}"#)
            .contains("type \"SigstoreKeylessVerify\" is not served by policy-harness")
    );
    let e = call(&verify_payload("127.0.0.1:1/team/app:v1", &["p256"]));
    assert!(
        e.starts_with(
            "Callback evaluation failure: image \"127.0.0.1:1/team/app:v1\": cannot resolve \
             its digest:"
        ),
        "{e}"
    );
    let pinned = format!("127.0.0.1:1/team/app@{}", d('a'));
    let e = call(&verify_payload(&pinned, &["p256"]));
    assert!(
        e.starts_with(&format!(
            "Callback evaluation failure: no signatures found for image: {pinned} (no cosign \
             signature manifest 127.0.0.1:1/team/app:sha256-{}.sig: ",
            "a".repeat(64)
        )),
        "{e}"
    );
    // Other operations stay unserved.
    assert!(live.call("kubewarden", "oci", "v1/verify", b"{}").is_none());
}

#[test]
fn run_allow_network_serves_v2_verify() {
    let dir = TempDir::new("cosign-run");
    let pinned = format!("127.0.0.1:1/team/app@{}", d('a'));
    let guest = Guest {
        validate: Behavior::host_call("oci", "v2/verify", &verify_payload(&pinned, &["p384"])),
        ..Guest::default()
    };
    let module = dir.write("policy.wasm", guest.wasm());
    let request = dir.write("request.json", pod_review("uid-1", &pinned).to_string());
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--request-path", request.to_str().unwrap()];
        args.extend(extra);
        args.push(module.to_str().unwrap());
        Command::new(BIN)
            .args(&args)
            .env("POLICY_HARNESS_CACHE_DIR", dir.path().join("cache"))
            .output()
            .expect("run")
    };
    // The guest reports the host error as its own error: a 500 response.
    let o = run(&[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("no matching fixture for host call kubewarden/oci/v2/verify"));
    let o = run(&["--allow-network", "--trace-host-calls"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("no signatures found for image"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        text(&o.stderr).contains("live error"),
        "{}",
        text(&o.stderr)
    );
}

// ---------------------------------------------------------------------------
// Cases against a real registry, written by e2e-tests/cosign-e2e.sh

#[test]
fn registry_cases_from_cosign_e2e() {
    let Some(path) = std::env::var_os("COSIGN_E2E_CASES") else {
        eprintln!(
            "skipped: no COSIGN_E2E_CASES; e2e-tests/cosign-e2e.sh starts a real registry \
             (Debian's docker-registry) and runs this test with its cases"
        );
        return;
    };
    let cases: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&path).expect("cases file")).expect("cases JSON");
    assert!(!cases.is_empty(), "no case in {}", path.to_string_lossy());
    let live = LiveRegistry::new(RegistryOptions::default());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let payload = serde_json::to_vec(&case["request"]).expect("request");
        let answer = live
            .call("kubewarden", "oci", "v2/verify", &payload)
            .expect("v2/verify is served live");
        let problem = match (answer, case.get("digest"), case.get("error")) {
            (Ok(bytes), Some(digest), None) => {
                let expected = json!({"is_trusted": true, "digest": digest});
                let got: Value = serde_json::from_slice(&bytes).expect("JSON answer");
                (got != expected).then(|| format!("answered {got}, expected {expected}"))
            }
            (Err(e), None, Some(needles)) => needles
                .as_array()
                .expect("error: a list of substrings")
                .iter()
                .map(|n| n.as_str().expect("substring"))
                .find(|n| !e.contains(n))
                .map(|n| format!("host error {e:?} lacks {n:?}")),
            (Ok(bytes), _, Some(_)) => Some(format!("verified: {}", text(&bytes))),
            (Err(e), Some(_), _) => Some(format!("host error: {e}")),
            _ => panic!("case {name}: give `digest` or `error`"),
        };
        match problem {
            None => println!("ok - v2/verify: {name}"),
            Some(p) => {
                println!("not ok - v2/verify: {name}: {p}");
                failures.push(format!("{name}: {p}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
