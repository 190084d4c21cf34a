//! Issue 21: keyless and certificate authorities under the same policies.
//! A fake host answers `v2/verify` per (image, identity) and serves
//! signature manifests; it says "trusted" whenever told to, as Kubewarden
//! 1.31's host does for a forged layer, so these tests prove that the
//! policy's own layer check is what rejects an unbound signature.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::*;
use crate::evaluate::validate_counting;
use crate::host::{Identity, MAX_HOST_CALLS};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const RELEASE: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const EVIL: &str = "https://github.com/acme-evil/app/.github/workflows/release.yml@refs/heads/main";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cosign simple-signing payload naming `repo@digest`.
fn cosign_payload(repo: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// A Rekor hashedrekord body for (hash hex, signature, certificate PEM).
fn rekor_body(hash_hex: &str, signature: &[u8], cert_pem: &str) -> String {
    let body = json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hash_hex}},
        "signature": {"content": b64(signature), "publicKey": {"content": b64(cert_pem.as_bytes())}}}});
    b64(body.to_string().as_bytes())
}

fn bundle(body: &str) -> String {
    json!({"SignedEntryTimestamp": "MEUCIQ==", "Payload": {
        "body": body, "integratedTime": 1_764_000_000, "logIndex": 7,
        "logID": "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"}})
    .to_string()
}

/// One keyless signature layer as cosign writes it, over `payload`.
struct LayerParts {
    digest_hex: String,
    signature: Vec<u8>,
    cert: String,
    bundle: Option<String>,
}

impl LayerParts {
    fn honest(payload: &[u8]) -> Self {
        let (key, cert) = testkeys::sigstore_leaf();
        let digest_hex = hex(&Sha256::digest(payload));
        let signature = key.sign_p256(payload);
        let body = rekor_body(&digest_hex, &signature, cert);
        LayerParts {
            digest_hex,
            signature,
            cert: cert.to_owned(),
            bundle: Some(bundle(&body)),
        }
    }

    fn json(&self) -> Value {
        let mut annotations = json!({
            "dev.cosignproject.cosign/signature": b64(&self.signature),
            "dev.sigstore.cosign/certificate": self.cert,
            "dev.sigstore.cosign/chain": testkeys::SIGSTORE_CA,
        });
        if let Some(b) = &self.bundle {
            annotations["dev.sigstore.cosign/bundle"] = json!(b);
        }
        json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
               "digest": format!("sha256:{}", self.digest_hex), "size": 250,
               "annotations": annotations})
    }
}

fn manifest(layers: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", "0".repeat(64)), "size": 233},
        "layers": layers}))
    .unwrap()
}

/// The `.sig` reference the policy reads for `REPO@digest`.
fn sig_ref(digest: &str) -> String {
    format!("{REPO}:{}.sig", digest.replacen(':', "-", 1))
}

/// Answers identity verifications from a table keyed by (image, identity
/// as displayed) and signature manifests by reference; records every call.
#[derive(Default)]
struct Sigstore {
    verified: HashMap<(String, String), Result<Verified, String>>,
    manifests: HashMap<String, Vec<u8>>,
    keys: HashMap<String, Result<Verified, String>>,
    calls: RefCell<Vec<String>>,
}

impl Sigstore {
    fn trusts(mut self, image: &str, identity: &str, digest: &str) -> Self {
        self.verified.insert(
            (image.to_owned(), identity.to_owned()),
            Ok(Verified {
                is_trusted: true,
                digest: digest.to_owned(),
            }),
        );
        self
    }

    fn fails(mut self, image: &str, identity: &str, why: &str) -> Self {
        self.verified
            .insert((image.to_owned(), identity.to_owned()), Err(why.to_owned()));
        self
    }

    fn serves(mut self, reference: &str, body: Vec<u8>) -> Self {
        self.manifests.insert(reference.to_owned(), body);
        self
    }

    /// An honest keyless signature of `REPO@digest` in the registry.
    fn signed(self, digest: &str) -> Self {
        let layer = LayerParts::honest(&cosign_payload(REPO, digest)).json();
        self.serves(&sig_ref(digest), manifest(&[layer]))
    }

    fn key_trusts(mut self, image: &str, digest: &str) -> Self {
        self.keys.insert(
            image.to_owned(),
            Ok(Verified {
                is_trusted: true,
                digest: digest.to_owned(),
            }),
        );
        self
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

impl Host for Sigstore {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.calls.borrow_mut().push(format!("digest {image}"));
        Err(format!("unexpected manifest_digest call for {image}"))
    }

    fn verify_pub_key(
        &self,
        image: &str,
        _pub_key: String,
        _annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        self.calls.borrow_mut().push(format!("key {image}"));
        self.keys
            .get(image)
            .cloned()
            .unwrap_or_else(|| Err(format!("no signatures found for image: {image}")))
    }

    fn verify_identity(
        &self,
        image: &str,
        identity: &Identity<'_>,
        _annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        let id = identity.to_string();
        self.calls
            .borrow_mut()
            .push(format!("identity {image} {id}"));
        self.verified
            .get(&(image.to_owned(), id))
            .cloned()
            .unwrap_or_else(|| Err(format!("no signatures found for image: {image}")))
    }

    fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, String> {
        self.calls.borrow_mut().push(format!("manifest {image}"));
        self.manifests
            .get(image)
            .cloned()
            .ok_or_else(|| format!("manifest unknown: {image}"))
    }
}

fn release_shown() -> String {
    format!("subject {RELEASE} (issuer {ISSUER})")
}

fn keyless_authority(name: &str, subject: &str) -> Value {
    json!({"name": name, "keyless": [{"issuer": ISSUER, "subject": subject}]})
}

fn identity_settings(authorities: Vec<Value>, names: &[&str], require: &str) -> Value {
    json!({
        "attestationSources": ["registry"],
        "attestationAuthorities": authorities,
        "attestationPolicies": [{"name": "prod", "attestationAuthorityNames": names, "require": require}]
    })
}

fn decide(req: Value, settings: Value, host: &Sigstore) -> Verdict {
    let payload = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
    validate(&payload, host)
}

fn pod_of(images: &[&str]) -> Value {
    request("", "Pod", pod(images, &[]))
}

fn release_settings() -> Value {
    identity_settings(
        vec![keyless_authority("release", RELEASE)],
        &["release"],
        "all",
    )
}

#[test]
fn a_keyless_signature_by_the_subject_admits_and_its_layers_are_checked() {
    let image = img(DIGEST);
    let host = Sigstore::default()
        .trusts(&image, &release_shown(), DIGEST)
        .signed(DIGEST);
    let payload =
        serde_json::to_vec(&json!({"request": pod_of(&[&image]), "settings": release_settings()}))
            .unwrap();
    let (verdict, work) = validate_counting(&payload, &host);
    admitted(verdict);
    assert_eq!(
        host.calls(),
        [
            format!("identity {image} {}", release_shown()),
            format!("manifest {}", sig_ref(DIGEST)),
        ]
    );
    assert_eq!(
        (work.registry_calls, work.manifest_reads, work.verifications),
        (1, 1, 1)
    );
}

/// The bundle's certificate is compared as a certificate, not as text: the
/// same certificate written another way (CRLF line ends, surrounding
/// whitespace, in the entry or in the layer) is the same certificate, and
/// one byte changed inside its base64 is another one.
#[test]
fn the_bundles_certificate_is_compared_as_a_certificate() {
    let image = img(DIGEST);
    let victim = cosign_payload(REPO, DIGEST);
    let (_, cert) = testkeys::sigstore_leaf();
    let decide_with = |entry_cert: &str, layer_cert: &str| {
        let mut l = LayerParts::honest(&victim);
        l.bundle = Some(bundle(&rekor_body(&l.digest_hex, &l.signature, entry_cert)));
        l.cert = layer_cert.to_owned();
        let host = Sigstore::default()
            .trusts(&image, &release_shown(), DIGEST)
            .serves(&sig_ref(DIGEST), manifest(&[l.json()]));
        decide(pod_of(&[&image]), release_settings(), &host)
    };
    let crlf = cert.replace('\n', "\r\n");
    let padded = format!("\n  {}\n\n", cert.trim());
    for (entry_cert, layer_cert) in [
        (cert, cert),
        (crlf.as_str(), cert),
        (cert, crlf.as_str()),
        (padded.as_str(), cert),
        (cert, padded.as_str()),
    ] {
        admitted(decide_with(entry_cert, layer_cert));
    }
    // One base64 character of the body changed: the text still decodes (or
    // not) but is not the layer's certificate.
    let line = cert.lines().nth(3).unwrap();
    let swap = if line.as_bytes()[10] == b'A' {
        "B"
    } else {
        "A"
    };
    let altered = cert.replacen(line, &format!("{}{swap}{}", &line[..10], &line[11..]), 1);
    assert_ne!(altered, cert);
    let m = rejected(decide_with(&altered, cert));
    assert!(
        m.contains("its Rekor bundle's entry names another certificate"),
        "{m}"
    );
}

#[test]
fn another_subject_is_rejected_with_the_hosts_reason() {
    let image = img(DIGEST);
    let host = Sigstore::default().signed(DIGEST);
    let m = rejected(decide(pod_of(&[&image]), release_settings(), &host));
    assert_eq!(
        m,
        format!(
            "image {image} is not attested: policy prod requires authority release: no keyless \
             signature in the registry by subject {RELEASE} (issuer {ISSUER}) (host: no \
             signatures found for image: {image})"
        )
    );
}

#[test]
fn a_refusal_names_the_required_annotations_and_a_binding_failure_does_not() {
    let image = img(DIGEST);
    let mut authority = keyless_authority("release", RELEASE);
    authority["registryAnnotations"] = json!({"env": "prod"});
    let settings = identity_settings(vec![authority], &["release"], "all");
    let m = rejected(decide(
        pod_of(&[&image]),
        settings.clone(),
        &Sigstore::default(),
    ));
    assert!(
        m.ends_with(&format!(
            "(host: no signatures found for image: {image}); its signatures must carry the \
             registryAnnotations env=prod"
        )),
        "{m}"
    );
    // The host verified the identity (so the annotations matched); only the
    // policy's own check of the layers failed: no annotations named.
    let host = Sigstore::default().trusts(&image, &release_shown(), DIGEST);
    let m = rejected(decide(pod_of(&[&image]), settings, &host));
    assert!(m.contains("the host verified a keyless signature"), "{m}");
    assert!(!m.contains("registryAnnotations"), "{m}");
}

#[test]
fn a_host_error_is_cut_and_escaped() {
    let image = img(DIGEST);
    let host = Sigstore::default().fails(
        &image,
        &release_shown(),
        &format!("registry unreachable\n{}", "x".repeat(500)),
    );
    let m = rejected(decide(pod_of(&[&image]), release_settings(), &host));
    assert!(m.contains("(host: registry unreachable\\nxxxx"), "{m}");
    assert!(m.ends_with("xxx…)"), "{m}");
}

/// Every way the host's hole lets a layer through, each refused here.
#[test]
fn a_layer_the_host_trusts_but_that_is_not_bound_is_rejected() {
    let image = img(DIGEST);
    let victim = cosign_payload(REPO, DIGEST);
    let other = cosign_payload("registry.example.com/team/other", DIGEST_B);
    let (_, cert) = testkeys::sigstore_leaf();
    let cases: Vec<(&str, LayerParts, &str)> = vec![
        (
            "forged signature under a real certificate and bundle",
            {
                let mut l = LayerParts::honest(&victim);
                l.signature = testkeys::p256().sign_p256(&victim);
                l.bundle = Some(bundle(&rekor_body(&l.digest_hex, &l.signature, cert)));
                l
            },
            "its signature does not verify with its certificate's key",
        ),
        (
            "layer replayed from another image (its signature, certificate and bundle)",
            {
                let donor = LayerParts::honest(&other);
                LayerParts {
                    digest_hex: hex(&Sha256::digest(&victim)),
                    ..donor
                }
            },
            "its signature does not verify with its certificate's key",
        ),
        (
            "bundle whose body names another hash",
            {
                let mut l = LayerParts::honest(&victim);
                let donor = LayerParts::honest(&other);
                l.bundle = donor.bundle;
                l
            },
            "its Rekor bundle's entry names another hash",
        ),
        (
            "bundle whose body names another signature",
            {
                let mut l = LayerParts::honest(&victim);
                let mut again = l.signature.clone();
                again.push(0);
                l.bundle = Some(bundle(&rekor_body(&l.digest_hex, &again, cert)));
                l
            },
            "its Rekor bundle's entry names another signature",
        ),
        (
            "bundle whose body names another certificate",
            {
                let mut l = LayerParts::honest(&victim);
                l.bundle = Some(bundle(&rekor_body(
                    &l.digest_hex,
                    &l.signature,
                    testkeys::SIGSTORE_CA,
                )));
                l
            },
            "its Rekor bundle's entry names another certificate",
        ),
        (
            "no bundle",
            LayerParts {
                bundle: None,
                ..LayerParts::honest(&victim)
            },
            "it has no Rekor bundle (dev.sigstore.cosign/bundle)",
        ),
        (
            "a leaf key the policy cannot check",
            LayerParts {
                cert: testkeys::SIGSTORE_LEAF_RSA.to_owned(),
                ..LayerParts::honest(&victim)
            },
            "its certificate certifies an RSA key; keyless (Fulcio) keys are EC P-256",
        ),
    ];
    for (case, layer, why) in cases {
        // An honest layer beside the bad one changes nothing: every layer
        // with a certificate must be bound.
        let honest = LayerParts::honest(&victim).json();
        let host = Sigstore::default()
            .trusts(&image, &release_shown(), DIGEST)
            .serves(&sig_ref(DIGEST), manifest(&[honest, layer.json()]));
        let m = rejected(decide(pod_of(&[&image]), release_settings(), &host));
        let expected = format!(
            "image {image} is not attested: policy prod requires authority release: the host \
             verified a keyless signature by subject {RELEASE} (issuer {ISSUER}), but a \
             signature layer is not bound to its certificate: layer sha256:"
        );
        assert!(m.starts_with(&expected), "{case}: {m}");
        assert!(m.contains(why), "{case}: {m}");
    }
}

#[test]
fn unreadable_or_empty_signature_manifests_fail_closed() {
    let image = img(DIGEST);
    let key_only = json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": format!("sha256:{}", "1".repeat(64)), "size": 1,
        "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}});
    for (body, why) in [
        (None, "the host could not read"),
        (
            Some(b"not json".to_vec()),
            "cannot be read as an OCI image manifest",
        ),
        (
            Some(manifest(&[key_only])),
            "has no layer with a certificate",
        ),
        (
            Some(manifest(
                &(0..33)
                    .map(|_| LayerParts::honest(&cosign_payload(REPO, DIGEST)).json())
                    .collect::<Vec<_>>(),
            )),
            "has 33 layers with a certificate, more than the 32 this policy checks",
        ),
    ] {
        let mut host = Sigstore::default().trusts(&image, &release_shown(), DIGEST);
        if let Some(b) = body {
            host = host.serves(&sig_ref(DIGEST), b);
        }
        let m = rejected(decide(pod_of(&[&image]), release_settings(), &host));
        assert!(m.contains(why), "{why}: {m}");
    }
}

#[test]
fn a_subject_prefix_and_github_actions_are_asked_as_the_host_expects() {
    let image = img(DIGEST);
    let prefix = json!({"name": "acme", "keyless": [{"issuer": ISSUER, "subjectPrefix": "https://github.com/acme/"}]});
    let shown = format!("subject prefix https://github.com/acme/ (issuer {ISSUER})");
    let host = Sigstore::default()
        .trusts(&image, &shown, DIGEST)
        .signed(DIGEST);
    admitted(decide(
        pod_of(&[&image]),
        identity_settings(vec![prefix], &["acme"], "all"),
        &host,
    ));
    let gh = json!({"name": "ci", "githubActions": {"owner": "acme", "repo": "app"}});
    let shown = "GitHub Actions workflows of acme/app";
    let host = Sigstore::default()
        .trusts(&image, shown, DIGEST)
        .signed(DIGEST);
    admitted(decide(
        pod_of(&[&image]),
        identity_settings(vec![gh.clone()], &["ci"], "all"),
        &host,
    ));
    // Another repository: the host says no, and the reason names it.
    let m = rejected(decide(
        pod_of(&[&image]),
        identity_settings(vec![gh], &["ci"], "all"),
        &Sigstore::default(),
    ));
    assert!(
        m.contains("no keyless signature in the registry by GitHub Actions workflows of acme/app (host: no signatures found"),
        "{m}"
    );
}

#[test]
fn a_certificate_authority_is_trusted_to_the_host_and_needs_no_manifest_read() {
    let image = img(DIGEST);
    let (_, cert) = testkeys::sigstore_leaf();
    let authority = json!({"name": "vendor", "certificate": {
        "certificate": b64(cert.as_bytes()), "certificateChain": [testkeys::SIGSTORE_CA]}});
    let host = Sigstore::default().trusts(&image, "the authority's certificate", DIGEST);
    admitted(decide(
        pod_of(&[&image]),
        identity_settings(vec![authority.clone()], &["vendor"], "all"),
        &host,
    ));
    assert_eq!(host.calls().len(), 1, "{:?}", host.calls());
    let m = rejected(decide(
        pod_of(&[&image]),
        identity_settings(vec![authority], &["vendor"], "all"),
        &Sigstore::default(),
    ));
    assert!(
        m.contains("no signature in the registry by the authority's certificate (host: no signatures found"),
        "{m}"
    );
}

#[test]
fn the_first_identity_that_verifies_ends_the_search() {
    let image = img(DIGEST);
    let two = json!({"name": "release", "keyless": [
        {"issuer": ISSUER, "subject": EVIL}, {"issuer": ISSUER, "subject": RELEASE},
        {"issuer": ISSUER, "subject": "https://github.com/acme/app/never-asked"}]});
    let host = Sigstore::default()
        .trusts(&image, &release_shown(), DIGEST)
        .signed(DIGEST);
    admitted(decide(
        pod_of(&[&image]),
        identity_settings(vec![two.clone()], &["release"], "all"),
        &host,
    ));
    assert_eq!(host.calls().len(), 3, "{:?}", host.calls());
    // None verifies: every identity is named with its reason.
    let m = rejected(decide(
        pod_of(&[&image]),
        identity_settings(vec![two], &["release"], "all"),
        &Sigstore::default(),
    ));
    assert!(m.contains("no signature in the registry by any of its identities: subject https://github.com/acme-evil/"), "{m}");
    assert!(
        m.contains(&format!("{} (host: no signatures found", release_shown())),
        "{m}"
    );
}

fn qa_key_authority() -> Value {
    json!({"name": "qa", "publicKeyId": "qa-1", "publicKeyData": testkeys::rsa(2048).spki_b64()})
}

#[test]
fn a_keyless_authority_beside_a_key_authority_under_all_and_any() {
    let image = img(DIGEST);
    let settings = |require: &str| {
        identity_settings(
            vec![keyless_authority("release", RELEASE), qa_key_authority()],
            &["release", "qa"],
            require,
        )
    };
    let both = Sigstore::default()
        .trusts(&image, &release_shown(), DIGEST)
        .signed(DIGEST)
        .key_trusts(&image, DIGEST);
    admitted(decide(pod_of(&[&image]), settings("all"), &both));
    let keyless_only = || {
        Sigstore::default()
            .trusts(&image, &release_shown(), DIGEST)
            .signed(DIGEST)
    };
    let m = rejected(decide(pod_of(&[&image]), settings("all"), &keyless_only()));
    assert!(
        m.contains("policy prod requires authority qa: no cosign signature in the registry verifies with key qa-1"),
        "{m}"
    );
    let host = keyless_only();
    admitted(decide(pod_of(&[&image]), settings("any"), &host));
    // `any` stops at the first authority proven: no key call.
    assert!(
        host.calls().iter().all(|c| !c.starts_with("key ")),
        "{:?}",
        host.calls()
    );
}

#[test]
fn keyless_in_the_registry_and_a_key_in_the_annotation_under_all() {
    let image = img(DIGEST);
    let mut settings = identity_settings(
        vec![keyless_authority("release", RELEASE), qa_key_authority()],
        &["release", "qa"],
        "all",
    );
    settings["attestationSources"] = json!(["annotation", "registry"]);
    let qa_attestation = attest(&testkeys::rsa(2048), "qa-1", REPO, DIGEST, Scheme::Pkcs1);
    let host = Sigstore::default()
        .trusts(&image, &release_shown(), DIGEST)
        .signed(DIGEST);
    admitted(decide(
        request("", "Pod", pod(&[&image], &[qa_attestation])),
        settings,
        &host,
    ));
    // The key authority was proven by the annotation: never asked of the host.
    assert!(
        host.calls().iter().all(|c| !c.starts_with("key ")),
        "{:?}",
        host.calls()
    );
}

#[test]
fn namespace_policies_choose_the_keyless_authority() {
    let image = img(DIGEST);
    let settings = json!({
        "attestationSources": ["registry"],
        "attestationAuthorities": [keyless_authority("release", RELEASE), qa_key_authority()],
        "attestationPolicies": [
            {"name": "cluster", "attestationAuthorityNames": ["qa"]},
            {"name": "team", "namespace": "default", "attestationAuthorityNames": ["release"]}
        ]
    });
    let host = Sigstore::default()
        .trusts(&image, &release_shown(), DIGEST)
        .signed(DIGEST);
    admitted(decide(pod_of(&[&image]), settings.clone(), &host));
    let mut elsewhere = pod_of(&[&image]);
    elsewhere["namespace"] = json!("other");
    let m = rejected(decide(elsewhere, settings, &host));
    assert!(m.contains("policy cluster requires authority qa"), "{m}");
}

#[test]
fn a_tag_is_pinned_to_the_digest_the_identity_verified() {
    let tag = format!("{REPO}:v1");
    let pinned = format!("{tag}@{DIGEST}");
    let host = Sigstore::default()
        .trusts(&tag, &release_shown(), DIGEST)
        .signed(DIGEST);
    let mut o = pod(&[&tag], &[]);
    o["spec"]["volumes"] = json!([{"name": "data", "image": {"reference": tag}}]);
    match decide(request("", "Pod", o), release_settings(), &host) {
        Verdict::Admit {
            mutated_object: Some(m),
            ..
        } => {
            assert_eq!(m["spec"]["containers"][0]["image"], pinned);
            assert_eq!(m["spec"]["volumes"][0]["image"]["reference"], pinned);
        }
        other => panic!("{other:?}"),
    }
    // One verification for the tag, none again for its pinned form.
    assert_eq!(
        host.calls(),
        [
            format!("identity {tag} {}", release_shown()),
            format!("manifest {}", sig_ref(DIGEST)),
        ]
    );
}

#[test]
fn an_unattested_image_volume_is_named() {
    let image = img(DIGEST);
    let volume = img(DIGEST_B);
    let host = Sigstore::default()
        .trusts(&image, &release_shown(), DIGEST)
        .signed(DIGEST);
    let mut o = pod(&[&image], &[]);
    o["spec"]["volumes"] = json!([{"name": "models", "image": {"reference": volume}}]);
    let m = rejected(decide(request("", "Pod", o), release_settings(), &host));
    assert!(
        m.starts_with(&format!(
            "image {volume} is not attested: image volume models (spec.volumes[0]): policy prod requires authority release: no keyless signature"
        )),
        "{m}"
    );
}

#[test]
fn identity_calls_share_the_request_budget() {
    let images: Vec<String> = (0..100).map(|i| format!("{REPO}-{i}@{DIGEST}")).collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let host = Sigstore::default();
    let payload =
        serde_json::to_vec(&json!({"request": pod_of(&refs), "settings": release_settings()}))
            .unwrap();
    let (verdict, work) = validate_counting(&payload, &host);
    assert_eq!(work.host_calls(), MAX_HOST_CALLS);
    assert_eq!(host.calls().len(), MAX_HOST_CALLS as usize);
    assert!(rejected(verdict).contains("not asked: this admission already made 64 registry calls"));
}

fn settings_error(authority: Value, sources: &[&str]) -> String {
    let s = json!({"attestationSources": sources, "attestationAuthorities": [authority]});
    let bytes = serde_json::to_vec(&s).unwrap();
    crate::settings::Settings::from_slice(&bytes)
        .and_then(|s| s.validate())
        .unwrap_err()
}

#[test]
fn identity_settings_are_checked() {
    let registry = &["registry"][..];
    let e = settings_error(keyless_authority("release", RELEASE), &["annotation"]);
    assert_eq!(e, "attestationAuthorities[0].keyless: authority \"release\": only the registry source can prove an identity (keyless and certificate signatures live next to the image in its registry); add \"registry\" to attestationSources");
    let mut both = keyless_authority("release", RELEASE);
    both["publicKeyData"] = json!(testkeys::rsa(2048).spki_b64());
    both["githubActions"] = json!({"owner": "acme"});
    let e = settings_error(both, registry);
    assert!(e.starts_with("attestationAuthorities[0]: authority \"release\" sets publicKeyData and keyless and githubActions: an authority is proven by its keys or by exactly one identity kind"), "{e}");
    let e = settings_error(
        json!({"name": "a", "keyless": [{"issuer": "", "subject": ""}, {"issuer": "accounts.google.com", "subject": "a@b"}]}),
        registry,
    );
    assert!(
        e.contains("attestationAuthorities[0].keyless[0].issuer: must not be empty"),
        "{e}"
    );
    assert!(
        e.contains("attestationAuthorities[0].keyless[0].subject: must not be empty"),
        "{e}"
    );
    assert!(e.contains("attestationAuthorities[0].keyless[1].issuer: \"accounts.google.com\" is not an https:// (or http://) URL"), "{e}");
    let e = settings_error(
        json!({"name": "a", "keyless": [{"issuer": ISSUER, "subjectPrefix": "https://github.com/acme"}]}),
        registry,
    );
    assert_eq!(e, "attestationAuthorities[0].keyless[0].subjectPrefix: \"https://github.com/acme\" must end with '/': Kubewarden's host appends one to a prefix that lacks it, so \"https://github.com/acme\" would also match \"https://github.com/acme-other/\"; write the '/' so the setting means what it says");
    let e = settings_error(
        json!({"name": "a", "keyless": [{"issuer": ISSUER, "subject": RELEASE, "subjectPrefix": "https://github.com/"}, {"issuer": ISSUER}]}),
        registry,
    );
    assert!(
        e.contains("keyless[0]: set subject or subjectPrefix, not both"),
        "{e}"
    );
    assert!(
        e.contains("keyless[1]: set subject (exact) or subjectPrefix (a URL prefix)"),
        "{e}"
    );
    let e = settings_error(json!({"name": "a", "keyless": []}), registry);
    assert_eq!(
        e,
        "attestationAuthorities[0].keyless: must list at least one identity"
    );
    let e = settings_error(
        json!({"name": "a", "githubActions": {"owner": ""}}),
        registry,
    );
    assert_eq!(
        e,
        "attestationAuthorities[0].githubActions.owner: must not be empty"
    );
    let e = settings_error(
        json!({"name": "a", "githubActions": {"owner": "acme/app", "repo": ""}}),
        registry,
    );
    assert!(
        e.contains("githubActions.owner: \"acme/app\" must be a GitHub user or organisation"),
        "{e}"
    );
    assert!(e.contains("githubActions.repo: must not be empty"), "{e}");
    let e = settings_error(
        json!({"name": "a", "certificate": {"certificate": testkeys::rsa(2048).spki_pem, "certificateChain": ["bm90IGEgY2VydA=="]}}),
        registry,
    );
    assert!(e.contains("attestationAuthorities[0].certificate.certificate: authority \"a\": the PEM block is \"PUBLIC KEY\", expected \"CERTIFICATE\""), "{e}");
    assert!(e.contains("attestationAuthorities[0].certificate.certificateChain[0]: authority \"a\": not a PEM certificate, nor base64 of one"), "{e}");
    let e = settings_error(
        json!({"name": "a", "keyless": [{"issuer": ISSUER, "subjct": "x"}]}),
        registry,
    );
    assert!(
        e.starts_with("attestationAuthorities[0].keyless[0].subjct: unknown field `subjct`"),
        "{e}"
    );
    // Valid: every kind, with registryAnnotations.
    let (_, cert) = testkeys::sigstore_leaf();
    let ok = json!({"attestationSources": ["registry"], "attestationAuthorities": [
        {"name": "a", "keyless": [{"issuer": ISSUER, "subject": RELEASE}, {"issuer": "http://dex.local", "subjectPrefix": "https://github.com/acme/"}], "registryAnnotations": {"env": "prod"}},
        {"name": "b", "githubActions": {"owner": "acme"}},
        {"name": "c", "certificate": {"certificate": cert, "certificateChain": [b64(testkeys::SIGSTORE_CA.as_bytes())], "requireRekorBundle": false}}
    ]});
    let bytes = serde_json::to_vec(&ok).unwrap();
    crate::settings::Settings::from_slice(&bytes)
        .and_then(|s| s.validate())
        .unwrap();
}
