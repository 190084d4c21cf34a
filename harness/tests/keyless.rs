//! Keyless (Sigstore) signatures: the live host's `oci`/`v2/verify` for
//! `SigstoreKeylessVerify`, `SigstoreKeylessPrefixVerify`,
//! `SigstoreGithubActionsVerify` and `SigstoreCertificateVerify`, and
//! `oci`/`v1/oci_manifest`, answered as policy-server 1.31 answers them —
//! including the hole it has (forged signature, replayed layer, bundle body
//! naming another hash: all "trusted"), which the policy closes itself.
//!
//! The TEST-ONLY Sigstore instance (CAs, leaves, Rekor keys, trust config)
//! is generated per test run by `e2e-tests/keyless-instance.sh` (openssl);
//! signatures are made by the harness's own test tool
//! (`oci::keyless::sign`). Without a registry: an in-memory
//! [`SignatureStore`] and the very `verify_with` the live host calls. With a
//! real registry: `registry_cases_from_keyless_e2e` runs the cases
//! `e2e-tests/keyless-e2e.sh` writes (KEYLESS_E2E_CASES=FILE) through
//! `KeylessLive`, the path `run --allow-network --sigstore-trust-config`
//! takes; skipped, saying so, when the script did not start it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use policy_harness::host::capabilities::LiveCapabilities;
use policy_harness::oci::cosign::{
    add_annotated_layer, resolve_image, signature_reference, Fetched, SignatureStore,
    SIGNATURE_ANNOTATION,
};
use policy_harness::oci::keyless::bundle::Bundle;
use policy_harness::oci::keyless::oci_manifest::manifest_with;
use policy_harness::oci::keyless::sign::{keyless_annotations, KeylessSignArgs};
use policy_harness::oci::keyless::verify::{
    verify_with, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION,
};
use policy_harness::oci::keyless::{KeylessLive, KeylessRequest, TrustRoot};
use policy_harness::oci::registry::{LiveRegistry, RegistryOptions};
use policy_harness::oci::sha256_digest;
use policy_harness::sign::{cosign_payload, SigningKey};
use serde_json::{json, Value};

const REPO: &str = "registry.test:5000/team/app";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const EMAIL_ISSUER: &str = "https://accounts.acme.test";
const EMAIL: &str = "release@acme.test";

fn workflow(repo: &str) -> String {
    format!("https://github.com/{repo}/.github/workflows/release.yml@refs/heads/main")
}

fn d(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The generated TEST-ONLY instance, once per test binary, under Cargo's
/// scratch folder for integration tests.
fn instance() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keyless-instance");
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e-tests/keyless-instance.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "keyless-instance.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn file(name: &str) -> PathBuf {
    instance().join(name)
}

fn trust() -> TrustRoot {
    TrustRoot::from_file(&file("trust-config.json")).expect("trust config")
}

fn leaf_key(leaf: &str) -> SigningKey {
    SigningKey::from_pem(&std::fs::read_to_string(file(&format!("{leaf}.key"))).unwrap())
        .expect("leaf key")
}

/// A registry in memory.
#[derive(Default)]
struct Fake {
    manifests: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<String, Vec<u8>>,
}

impl SignatureStore for Fake {
    fn resolve(&self, _: &oci_client::Reference) -> Result<String, String> {
        Err("tags are not used here".to_owned())
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

/// How to sign one layer.
#[derive(Default)]
struct How {
    leaf: &'static str,
    rekor: Option<&'static str>,
    integrated_time: Option<i64>,
    forge_signature: bool,
    replay_from: Option<String>,
    bundle_body_hash: Option<String>,
    annotations: Vec<(&'static str, &'static str)>,
}

fn signed(leaf: &'static str) -> How {
    How {
        leaf,
        rekor: Some("rekor.key"),
        ..How::default()
    }
}

impl Fake {
    fn sig_ref(image: &str) -> String {
        let r = resolve_image(image, None).expect("digest reference");
        signature_reference(&r.reference, &r.digest)
            .expect("sig ref")
            .whole()
    }

    /// Adds a keyless-style layer for `image` (REPO@sha256:…).
    fn sign(&mut self, image: &str, how: How) -> BTreeMap<String, String> {
        let resolved = resolve_image(image, None).unwrap();
        let wanted: BTreeMap<String, String> = how
            .annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let payload = cosign_payload(REPO, &resolved.digest, &wanted).unwrap();
        let other = how
            .replay_from
            .as_ref()
            .map(|digest| cosign_payload(REPO, digest, &wanted).unwrap());
        let args = KeylessSignArgs {
            certificate: Some(file(&format!("{}.pem", how.leaf))),
            certificate_chain: Some(file("chain.pem")),
            rekor_key: how.rekor.map(file),
            integrated_time: how.integrated_time,
            forge_signature: how.forge_signature,
            replay_from: how.replay_from.clone(),
            bundle_body_hash: how.bundle_body_hash.clone(),
        };
        let annotations =
            keyless_annotations(&args, &leaf_key(how.leaf), &payload, other.as_deref()).unwrap();
        let sig_ref = Self::sig_ref(image);
        let built = add_annotated_layer(
            self.manifests.get(&sig_ref).map(Vec::as_slice),
            &payload,
            annotations.clone(),
        )
        .unwrap();
        self.blobs.insert(sha256_digest(&payload), payload);
        self.blobs
            .insert(sha256_digest(&built.config), built.config);
        self.manifests.insert(sig_ref, built.manifest);
        annotations
    }
}

fn image(c: char) -> String {
    format!("{REPO}@{}", d(c))
}

fn keyless(img: &str, issuer: &str, subject: &str) -> KeylessRequest {
    serde_json::from_value(json!({"type": "SigstoreKeylessVerify", "image": img,
        "keyless": [{"issuer": issuer, "subject": subject}], "annotations": null}))
    .unwrap()
}

fn prefix(img: &str, issuer: &str, url_prefix: &str) -> KeylessRequest {
    serde_json::from_value(json!({"type": "SigstoreKeylessPrefixVerify", "image": img,
        "keyless_prefix": [{"issuer": issuer, "url_prefix": url_prefix}], "annotations": null}))
    .unwrap()
}

fn github(img: &str, owner: &str, repo: Option<&str>) -> KeylessRequest {
    serde_json::from_value(json!({"type": "SigstoreGithubActionsVerify", "image": img,
        "owner": owner, "repo": repo, "annotations": null}))
    .unwrap()
}

fn certificate(img: &str, leaf: &str, chain: Option<&str>, require_bundle: bool) -> KeylessRequest {
    let pem = std::fs::read(file(&format!("{leaf}.pem"))).unwrap();
    let chain: Option<Vec<Vec<u8>>> = chain.map(|c| {
        std::fs::read_to_string(file(c))
            .unwrap()
            .split_inclusive("-----END CERTIFICATE-----\n")
            .map(|p| p.as_bytes().to_vec())
            .collect()
    });
    serde_json::from_value(json!({"type": "SigstoreCertificateVerify", "image": img,
        "certificate": pem, "certificate_chain": chain,
        "require_rekor_bundle": require_bundle, "annotations": null}))
    .unwrap()
}

fn verified(store: &Fake, request: &KeylessRequest) -> String {
    match verify_with(store, request, Some(&trust()), now()) {
        Ok(r) => {
            assert!(r.is_trusted);
            r.digest
        }
        Err(e) => panic!("expected verified, got host error: {e:#}"),
    }
}

fn refused(store: &Fake, request: &KeylessRequest, needles: &[&str]) {
    match verify_with(store, request, Some(&trust()), now()) {
        Ok(r) => panic!("expected a host error, got {r:?}"),
        Err(e) => {
            let text = format!("{e:#}");
            for n in needles {
                assert!(text.contains(n), "host error {text:?} lacks {n:?}");
            }
        }
    }
}

#[test]
fn trust_config_as_kwctl_reads_it() {
    let t = trust();
    // The intermediate and the root are both anchors; one Rekor key.
    assert_eq!(t.counts(), (2, 1));
    let e = TrustRoot::from_file(&file("nope.json")).unwrap_err();
    assert!(format!("{e:#}").contains("cannot read"), "{e:#}");
}

#[test]
fn exact_identity() {
    let mut s = Fake::default();
    s.sign(&image('a'), signed("email"));
    s.sign(&image('b'), signed("app"));
    assert_eq!(
        verified(&s, &keyless(&image('a'), EMAIL_ISSUER, EMAIL)),
        d('a')
    );
    assert_eq!(
        verified(&s, &keyless(&image('b'), GITHUB, &workflow("acme/app"))),
        d('b')
    );
    // Wrong subject, wrong issuer: the trusted identities seen are named.
    refused(
        &s,
        &keyless(&image('a'), EMAIL_ISSUER, "other@acme.test"),
        &[
            "no signature layer by subject \"other@acme.test\"",
            "release@acme.test",
        ],
    );
    refused(
        &s,
        &keyless(&image('a'), GITHUB, EMAIL),
        &[
            "no signature layer by subject",
            "issuer \"https://accounts.acme.test\"",
        ],
    );
    // The subject of another image's signature does not help.
    refused(
        &s,
        &keyless(&image('a'), GITHUB, &workflow("acme/app")),
        &["no signature layer by"],
    );
    // No .sig manifest at all.
    refused(
        &s,
        &keyless(&image('c'), EMAIL_ISSUER, EMAIL),
        &["no signatures found"],
    );
}

#[test]
fn certificate_must_chain_to_the_trust_root() {
    let mut s = Fake::default();
    s.sign(&image('a'), signed("foreign"));
    refused(
        &s,
        &keyless(&image('a'), GITHUB, &workflow("acme/app")),
        &[
            "certificate ignored",
            "not issued by a certificate authority of the trust root",
        ],
    );
}

#[test]
fn bundle_must_be_signed_by_the_trust_roots_rekor() {
    let mut s = Fake::default();
    s.sign(
        &image('a'),
        How {
            rekor: Some("rekor-other.key"),
            ..signed("email")
        },
    );
    refused(
        &s,
        &keyless(&image('a'), EMAIL_ISSUER, EMAIL),
        &[
            "no signature layer can be verified",
            "no Rekor key of the trust root has the bundle's logID",
        ],
    );
    // A bundle whose SignedEntryTimestamp no longer matches its payload.
    let mut s = Fake::default();
    let a = s.sign(&image('b'), signed("email"));
    let mut bundle: Bundle = serde_json::from_str(&a[BUNDLE_ANNOTATION]).unwrap();
    bundle.payload.integrated_time += 1;
    let mut annotations = a.clone();
    annotations.insert(
        BUNDLE_ANNOTATION.to_owned(),
        serde_json::to_string(&bundle).unwrap(),
    );
    let mut t = Fake::default();
    let payload = cosign_payload(REPO, &d('b'), &BTreeMap::new()).unwrap();
    let sig_ref = Fake::sig_ref(&image('b'));
    let built = add_annotated_layer(None, &payload, annotations).unwrap();
    t.blobs.insert(sha256_digest(&payload), payload);
    t.manifests.insert(sig_ref, built.manifest);
    refused(
        &t,
        &keyless(&image('b'), EMAIL_ISSUER, EMAIL),
        &["SignedEntryTimestamp does not verify"],
    );
}

#[test]
fn certificate_must_be_valid_at_the_integrated_time() {
    for (c, at, needle) in [
        (
            'a',
            now() + 3 * 86_400,
            "issued after the signature was submitted",
        ),
        (
            'b',
            now() - 3 * 86_400,
            "expired before the signature was submitted",
        ),
    ] {
        let mut s = Fake::default();
        s.sign(
            &image(c),
            How {
                integrated_time: Some(at),
                ..signed("email")
            },
        );
        refused(
            &s,
            &keyless(&image(c), EMAIL_ISSUER, EMAIL),
            &["certificate ignored", needle],
        );
    }
}

/// A trust root listing only the root CA (not the intermediate that issued
/// the leaves), with the trusted Rekor key.
fn root_only_trust() -> TrustRoot {
    let b64 = base64::engine::general_purpose::STANDARD;
    let full: Value =
        serde_json::from_slice(&std::fs::read(file("trust-config.json")).unwrap()).unwrap();
    let root = b64.encode(std::fs::read(file("root.der")).unwrap());
    let config = json!({"trustedRoot": {
        "tlogs": full["trustedRoot"]["tlogs"],
        "certificateAuthorities": [{"certChain": {"certificates": [{"rawBytes": root}]}}]
    }});
    TrustRoot::from_json(config.to_string().as_bytes(), now()).unwrap()
}

#[test]
fn leaf_must_be_issued_directly_by_a_trust_root_certificate() {
    let mut s = Fake::default();
    s.sign(&image('a'), signed("email"));
    // The layer's chain annotation names the intermediate, and openssl
    // would build the path through it; the host does not read the chain.
    let e = verify_with(
        &s,
        &keyless(&image('a'), EMAIL_ISSUER, EMAIL),
        Some(&root_only_trust()),
        now(),
    )
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("not issued by a certificate authority of the trust root"),
        "{e:#}"
    );
}

#[test]
fn chain_annotation_is_not_read() {
    let mut s = Fake::default();
    let a = s.sign(&image('a'), signed("email"));
    let mut annotations = a.clone();
    annotations.insert(
        "dev.sigstore.cosign/chain".to_owned(),
        "not a certificate at all".to_owned(),
    );
    let mut t = Fake::default();
    let payload = cosign_payload(REPO, &d('a'), &BTreeMap::new()).unwrap();
    let built = add_annotated_layer(None, &payload, annotations).unwrap();
    t.blobs.insert(sha256_digest(&payload), payload);
    t.manifests
        .insert(Fake::sig_ref(&image('a')), built.manifest);
    assert_eq!(
        verified(&t, &keyless(&image('a'), EMAIL_ISSUER, EMAIL)),
        d('a')
    );
}

#[test]
fn no_bundle_no_identity() {
    let mut s = Fake::default();
    s.sign(
        &image('a'),
        How {
            rekor: None,
            ..signed("email")
        },
    );
    refused(
        &s,
        &keyless(&image('a'), EMAIL_ISSUER, EMAIL),
        &["certificate ignored: no verified Rekor bundle"],
    );
}

#[test]
fn url_prefix_gets_a_trailing_slash() {
    let mut s = Fake::default();
    s.sign(&image('a'), signed("app"));
    s.sign(&image('b'), signed("evil"));
    for p in ["https://github.com/acme/", "https://github.com/acme"] {
        assert_eq!(verified(&s, &prefix(&image('a'), GITHUB, p)), d('a'));
        refused(
            &s,
            &prefix(&image('b'), GITHUB, p),
            &["subject prefix \"https://github.com/acme/\""],
        );
    }
    refused(
        &s,
        &prefix(&image('a'), EMAIL_ISSUER, "https://github.com/acme/"),
        &["no signature layer"],
    );
    refused(
        &s,
        &prefix(&image('a'), GITHUB, "github.com/acme"),
        &["not an absolute URL"],
    );
}

#[test]
fn github_actions_owner_and_repo() {
    let mut s = Fake::default();
    s.sign(&image('a'), signed("app"));
    s.sign(&image('b'), signed("app-other"));
    s.sign(&image('c'), signed("evil"));
    s.sign(&image('e'), signed("email"));
    assert_eq!(verified(&s, &github(&image('a'), "acme", None)), d('a'));
    assert_eq!(
        verified(&s, &github(&image('a'), "acme", Some("app"))),
        d('a')
    );
    assert_eq!(verified(&s, &github(&image('b'), "acme", None)), d('b'));
    refused(
        &s,
        &github(&image('b'), "acme", Some("app")),
        &["GitHub Actions of owner \"acme\" repository \"app\""],
    );
    refused(
        &s,
        &github(&image('c'), "acme", None),
        &["GitHub Actions of owner \"acme\""],
    );
    assert_eq!(
        verified(&s, &github(&image('c'), "acme-evil", Some("app"))),
        d('c')
    );
    // An e-mail identity is never a GitHub workflow.
    refused(&s, &github(&image('e'), "acme", None), &["GitHub Actions"]);
}

#[test]
fn annotations_in_the_same_layer() {
    let mut s = Fake::default();
    s.sign(
        &image('a'),
        How {
            annotations: vec![("env", "prod")],
            ..signed("email")
        },
    );
    let mut r = json!({"type": "SigstoreKeylessVerify", "image": image('a'),
                       "keyless": [{"issuer": EMAIL_ISSUER, "subject": EMAIL}]});
    r["annotations"] = json!({"env": "prod"});
    let ok: KeylessRequest = serde_json::from_value(r.clone()).unwrap();
    assert_eq!(verified(&s, &ok), d('a'));
    r["annotations"] = json!({"env": "dev"});
    let bad: KeylessRequest = serde_json::from_value(r).unwrap();
    refused(&s, &bad, &["with the annotations"]);
}

/// THE HOLE, reproduced on purpose: policy-server 1.31 never verifies a
/// keyless layer's signature with its certificate's key and never reads
/// the bundle's body, so each of these attack layers is "trusted" by the
/// host. The policy's own check (signature over the layer digest with the
/// certificate's key; bundle body naming the same digest, signature and
/// certificate) is what rejects them: see e2e-tests/keyless-e2e.sh.
#[test]
fn host_hole_as_policy_server() {
    let b64 = base64::engine::general_purpose::STANDARD;
    // 1. A forged signature under a genuine certificate and bundle.
    let mut s = Fake::default();
    let a = s.sign(
        &image('a'),
        How {
            forge_signature: true,
            ..signed("app")
        },
    );
    let payload = cosign_payload(REPO, &d('a'), &BTreeMap::new()).unwrap();
    let cert_key = leaf_key("app");
    let forged = b64.decode(&a[SIGNATURE_ANNOTATION]).unwrap();
    let genuine = cert_key.sign(&payload, None).unwrap();
    assert_ne!(forged, genuine);
    let cert_pub = policy_harness::oci::keyless::certificate::Leaf::from_pem(
        a[CERTIFICATE_ANNOTATION].as_bytes(),
    )
    .unwrap()
    .key;
    assert!(
        !cert_pub.verifies(&payload, &forged),
        "the forged signature must not verify"
    );
    assert_eq!(
        verified(&s, &keyless(&image('a'), GITHUB, &workflow("acme/app"))),
        d('a')
    );
    assert_eq!(
        verified(&s, &github(&image('a'), "acme", Some("app"))),
        d('a')
    );

    // 2. A layer replayed from another image: signature, certificate and
    //    bundle are those of image b's signature; the payload names image a.
    let mut s = Fake::default();
    let a = s.sign(
        &image('a'),
        How {
            replay_from: Some(d('b')),
            ..signed("app")
        },
    );
    assert!(!cert_pub_of(&a).verifies(&payload, &b64.decode(&a[SIGNATURE_ANNOTATION]).unwrap()));
    assert_eq!(
        verified(&s, &keyless(&image('a'), GITHUB, &workflow("acme/app"))),
        d('a')
    );

    // 3. A bundle whose body names another hash.
    let mut s = Fake::default();
    let a = s.sign(
        &image('a'),
        How {
            bundle_body_hash: Some("f".repeat(64)),
            ..signed("app")
        },
    );
    let bundle: Bundle = serde_json::from_str(&a[BUNDLE_ANNOTATION]).unwrap();
    let body: Value = serde_json::from_slice(&b64.decode(&bundle.payload.body).unwrap()).unwrap();
    assert_eq!(body["spec"]["data"]["hash"]["value"], "f".repeat(64));
    assert_eq!(
        verified(&s, &prefix(&image('a'), GITHUB, "https://github.com/acme/")),
        d('a')
    );

    // Certificate mode is not affected: there the host checks the signature.
    let mut s = Fake::default();
    s.sign(
        &image('a'),
        How {
            forge_signature: true,
            ..signed("email")
        },
    );
    refused(
        &s,
        &certificate(&image('a'), "email", Some("chain.pem"), true),
        &["no signature layer signed by the certificate's key"],
    );
}

fn cert_pub_of(a: &BTreeMap<String, String>) -> policy_harness::oci::cosign::CosignKey {
    policy_harness::oci::keyless::certificate::Leaf::from_pem(a[CERTIFICATE_ANNOTATION].as_bytes())
        .unwrap()
        .key
}

#[test]
fn certificate_mode() {
    let mut s = Fake::default();
    s.sign(&image('a'), signed("email"));
    s.sign(
        &image('b'),
        How {
            rekor: None,
            ..signed("email")
        },
    );
    assert_eq!(
        verified(
            &s,
            &certificate(&image('a'), "email", Some("chain.pem"), true)
        ),
        d('a')
    );
    assert_eq!(
        verified(&s, &certificate(&image('a'), "email", None, false)),
        d('a')
    );
    // Another leaf's key did not sign it.
    refused(
        &s,
        &certificate(&image('a'), "app", None, false),
        &["signed by the certificate's key"],
    );
    // A chain the certificate does not chain to.
    refused(
        &s,
        &certificate(&image('a'), "email", Some("other-root.pem"), false),
        &["does not chain to the given CAs"],
    );
    // No bundle: refused only when one is required.
    assert_eq!(
        verified(&s, &certificate(&image('b'), "email", None, false)),
        d('b')
    );
    refused(
        &s,
        &certificate(&image('b'), "email", None, true),
        &["with a verified Rekor bundle"],
    );
    // Works without a trust config too (bundles are then ignored).
    let r = verify_with(
        &s,
        &certificate(&image('a'), "email", None, false),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(r.digest, d('a'));
}

#[test]
fn keyless_needs_a_trust_config() {
    let mut s = Fake::default();
    s.sign(&image('a'), signed("email"));
    let e = verify_with(&s, &keyless(&image('a'), EMAIL_ISSUER, EMAIL), None, now()).unwrap_err();
    assert!(
        format!("{e:#}").contains("pass --sigstore-trust-config FILE"),
        "{e:#}"
    );
}

#[test]
fn oci_manifest_serves_the_sig_manifest_with_annotations() {
    let mut s = Fake::default();
    let a = s.sign(&image('a'), signed("app"));
    let bytes = manifest_with(&s, &Fake::sig_ref(&image('a'))).unwrap();
    let m: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let layer = &m["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    assert_eq!(
        layer["annotations"][CERTIFICATE_ANNOTATION],
        a[CERTIFICATE_ANNOTATION]
    );
    assert_eq!(
        layer["annotations"][BUNDLE_ANNOTATION],
        a[BUNDLE_ANNOTATION]
    );
    let e = manifest_with(&s, &Fake::sig_ref(&image('b'))).unwrap_err();
    assert!(format!("{e:#}").contains("no manifest"), "{e:#}");
}

#[test]
fn live_dispatch() {
    let options = RegistryOptions::default();
    let live = KeylessLive::new(Arc::new(LiveRegistry::new(options.clone())), options, None);
    // Not JSON: a host error in policy-server's words.
    let e = live
        .call("kubewarden", "oci", "v1/oci_manifest", b"nope")
        .expect("served")
        .unwrap_err();
    assert!(e.starts_with("Callback evaluation failure: "), "{e}");
    // Keyless requests are served here, before any registry is reached.
    let e = live
        .call(
            "kubewarden",
            "oci",
            "v2/verify",
            br#"{"type":"SigstoreKeylessVerify","image":"x"}"#,
        )
        .expect("served")
        .unwrap_err();
    assert!(
        e.contains("invalid request") && e.contains("keyless"),
        "{e}"
    );
    // Pub-key requests go to the registry's host; other calls are not served.
    let e = live
        .call(
            "kubewarden",
            "oci",
            "v2/verify",
            br#"{"type":"SigstorePubKeyVerify"}"#,
        )
        .expect("served")
        .unwrap_err();
    assert!(e.contains("image"), "{e}");
    assert!(live
        .call("kubewarden", "net", "v1/dns_lookup_host", b"\"x\"")
        .is_none());
}

/// The cases `e2e-tests/keyless-e2e.sh` writes, against its real registry,
/// through `KeylessLive` as under `run --allow-network --sigstore-trust-config`.
#[test]
fn registry_cases_from_keyless_e2e() {
    let Some(path) = std::env::var_os("KEYLESS_E2E_CASES") else {
        eprintln!(
            "skipped: no KEYLESS_E2E_CASES; e2e-tests/keyless-e2e.sh starts a real registry \
             (Debian's docker-registry) and runs this test with its cases"
        );
        return;
    };
    let file: Value = serde_json::from_slice(&std::fs::read(&path).expect("cases file")).unwrap();
    let trust = TrustRoot::from_file(Path::new(file["trustConfig"].as_str().unwrap())).unwrap();
    let options = RegistryOptions::default();
    let live = KeylessLive::new(
        Arc::new(LiveRegistry::new(options.clone())),
        options,
        Some(Arc::new(trust)),
    );
    let cases = file["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (operation, payload) = match case.get("manifest") {
            Some(image) => ("v1/oci_manifest", serde_json::to_vec(image).unwrap()),
            None => ("v2/verify", serde_json::to_vec(&case["request"]).unwrap()),
        };
        let answer = live
            .call("kubewarden", "oci", operation, &payload)
            .expect("served");
        let problem = match (
            answer,
            case.get("digest"),
            case.get("error"),
            case.get("layers"),
        ) {
            (Ok(bytes), Some(digest), None, _) => {
                let expected = json!({"is_trusted": true, "digest": digest});
                let got: Value = serde_json::from_slice(&bytes).unwrap();
                (got != expected).then(|| format!("answered {got}, expected {expected}"))
            }
            (Ok(bytes), None, None, Some(layers)) => {
                let got: Value = serde_json::from_slice(&bytes).unwrap();
                (got["layers"].as_array().map(Vec::len) != layers.as_u64().map(|n| n as usize))
                    .then(|| format!("manifest {got}"))
            }
            (Err(e), None, Some(needles), _) => needles
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .find(|n| !e.contains(n))
                .map(|n| format!("host error {e:?} lacks {n:?}")),
            (Ok(bytes), _, Some(_), _) => {
                Some(format!("answered {}", String::from_utf8_lossy(&bytes)))
            }
            (Err(e), _, _, _) => Some(format!("host error: {e}")),
            (Ok(_), None, None, None) => Some("case expects nothing".to_owned()),
        };
        match problem {
            None => eprintln!("ok - {name}"),
            Some(p) => failures.push(format!("{name}: {p}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sign_cli_keyless_flags_are_checked() {
    let bin = env!("CARGO_BIN_EXE_policy-harness");
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().expect("runs");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let key = file("email.key");
    let cert = file("email.pem");
    let (key, cert) = (key.to_str().unwrap(), cert.to_str().unwrap());
    let img = image('a');
    let e = run(&["sign", "--key", key, "--image", &img, "--certificate", cert]);
    assert!(e.contains("apply to --format cosign only"), "{e}");
    let e = run(&[
        "sign",
        "--format",
        "cosign",
        "--key",
        key,
        "--payload",
        cert,
        "--certificate",
        cert,
    ]);
    assert!(e.contains("--certificate"), "{e}");
    // The attack options need a Rekor key (they craft bundles).
    let e = run(&[
        "sign",
        "--format",
        "cosign",
        "--key",
        key,
        "--image",
        &img,
        "--certificate",
        cert,
        "--forge-signature",
    ]);
    assert!(e.contains("--rekor-key"), "{e}");
    let e = run(&[
        "sign",
        "--format",
        "cosign",
        "--key",
        key,
        "--image",
        &img,
        "--certificate",
        key,
    ]);
    assert!(e.contains("is not a PEM certificate"), "{e}");
}
