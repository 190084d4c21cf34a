//! The registry source (issue 13): cosign signatures verified by the host
//! (`oci`/`v2/verify`), under the same authorities, policies and
//! allowlists, alone or next to the annotation. A fake host answers per
//! (image, key) and records every call, so the tests assert the exact
//! reasons and exactly which calls were made.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::keys;

const DIGEST_C: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// One host call: the image, the key (by name) and the annotations asked.
type Call = (String, &'static str, Option<BTreeMap<String, String>>);

/// Answers `v2/verify` from a table keyed by (image, key name).
struct Registry {
    /// PEM (as the policy sends it) → key name.
    keys: Vec<(String, &'static str)>,
    answers: HashMap<(String, &'static str), Result<Verified, String>>,
    calls: RefCell<Vec<Call>>,
}

fn pem_of(key: &TestKey) -> String {
    keys::spki_pem(&key.spki_pem).expect("test key")
}

impl Registry {
    fn new() -> Self {
        Registry {
            keys: vec![
                (pem_of(&testkeys::rsa(2048)), "ci"),
                (pem_of(&testkeys::rsa_b()), "qa"),
                (pem_of(&testkeys::p256()), "ec"),
            ],
            answers: HashMap::new(),
            calls: RefCell::new(Vec::new()),
        }
    }

    fn trusts(mut self, image: &str, key: &'static str, digest: &str) -> Self {
        self.answers.insert(
            (image.to_owned(), key),
            Ok(Verified {
                is_trusted: true,
                digest: digest.to_owned(),
            }),
        );
        self
    }

    fn answers(mut self, image: &str, key: &'static str, answer: Result<Verified, String>) -> Self {
        self.answers.insert((image.to_owned(), key), answer);
        self
    }

    fn calls(&self) -> Vec<(String, &'static str)> {
        self.calls
            .borrow()
            .iter()
            .map(|(i, k, _)| (i.clone(), *k))
            .collect()
    }
}

impl Host for Registry {
    fn verify_pub_key(
        &self,
        image: &str,
        pub_key: String,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        let name = self
            .keys
            .iter()
            .find(|(pem, _)| *pem == pub_key)
            .map_or("unknown", |(_, n)| *n);
        self.calls
            .borrow_mut()
            .push((image.to_owned(), name, annotations));
        self.answers
            .get(&(image.to_owned(), name))
            .cloned()
            .unwrap_or_else(|| Err(format!("no signature found for {image}")))
    }
}

fn ci() -> Value {
    authority("ci", "ci-2024", &testkeys::rsa(2048))
}

fn qa() -> Value {
    authority("qa", "qa-1", &testkeys::rsa_b())
}

fn with_sources(mut settings: Value, sources: &[&str]) -> Value {
    settings["attestationSources"] = json!(sources);
    settings
}

fn registry_settings(authorities: Vec<Value>, names: &[&str], require: &str) -> Value {
    json!({
        "attestationSources": ["registry"],
        "attestationAuthorities": authorities,
        "attestationPolicies": [{"name": "prod", "attestationAuthorityNames": names, "require": require}]
    })
}

fn decide(req: Value, settings: Value, host: &Registry) -> Verdict {
    let payload = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
    validate(&payload, host)
}

fn pod_request(images: &[&str], attestations: &[Value]) -> Value {
    request("", "Pod", pod(images, attestations))
}

#[test]
fn a_signature_in_the_registry_admits_a_digest() {
    let image = img(DIGEST);
    let host = Registry::new().trusts(&image, "ci", DIGEST);
    let settings = registry_settings(vec![ci()], &["ci"], "all");
    admitted(decide(pod_request(&[&image], &[]), settings, &host));
    assert_eq!(host.calls(), [(image, "ci")]);
}

#[test]
fn no_signature_rejects_with_the_hosts_reason() {
    let image = img(DIGEST);
    let host = Registry::new();
    let settings = registry_settings(vec![ci()], &["ci"], "all");
    assert_eq!(
        rejected(decide(pod_request(&[&image], &[]), settings, &host)),
        format!(
            "image {image} is not attested: policy prod requires authority ci: no cosign signature \
             in the registry verifies with key ci-2024 (host: no signature found for {image})"
        )
    );
}

#[test]
fn an_untrusted_answer_or_a_bad_digest_is_not_a_proof() {
    let image = img(DIGEST);
    let settings = registry_settings(vec![ci()], &["ci"], "all");
    let host = Registry::new().answers(
        &image,
        "ci",
        Ok(Verified {
            is_trusted: false,
            digest: DIGEST.to_owned(),
        }),
    );
    assert!(
        rejected(decide(pod_request(&[&image], &[]), settings.clone(), &host))
            .ends_with("with key ci-2024 (host: the host does not trust the image)")
    );
    let host = Registry::new().answers(
        &image,
        "ci",
        Ok(Verified {
            is_trusted: true,
            digest: "sha256:nothex".to_owned(),
        }),
    );
    assert!(
        rejected(decide(pod_request(&[&image], &[]), settings.clone(), &host))
            .contains("(host: the host answered \"sha256:nothex\", which is not a digest)")
    );
    // The host verified another digest than the one written: no proof.
    let host = Registry::new().trusts(&image, "ci", DIGEST_B);
    assert!(
        rejected(decide(pod_request(&[&image], &[]), settings, &host)).contains(&format!(
            "(host: the host verified {DIGEST_B} instead of the digest judged (did the tag move?))"
        ))
    );
}

#[test]
fn host_errors_are_cut_and_escaped() {
    let image = img(DIGEST);
    let long = format!("line one\nline two {}", "x".repeat(500));
    let host = Registry::new().answers(&image, "ci", Err(long));
    let settings = registry_settings(vec![ci()], &["ci"], "all");
    let message = rejected(decide(pod_request(&[&image], &[]), settings, &host));
    assert!(
        message.contains("(host: line one\\nline two xxx"),
        "{message}"
    );
    assert!(message.ends_with("x…)"), "{message}");
    assert!(message.len() < 600, "{}", message.len());
}

#[test]
fn any_key_of_the_authority_verifies_one_call_per_key_in_order() {
    let image = img(DIGEST);
    // The authority rotates: an old RSA key, then an EC key.
    let rotated = json!({"name": "ci", "publicKeyId": "ci-2023", "publicKeyData": testkeys::rsa(2048).spki_b64(),
                         "publicKeys": [{"publicKeyId": "ci-2025", "publicKeyData": testkeys::p256().spki_b64()}]});
    let host = Registry::new().trusts(&image, "ec", DIGEST);
    let settings = registry_settings(vec![rotated.clone()], &["ci"], "all");
    admitted(decide(pod_request(&[&image], &[]), settings.clone(), &host));
    assert_eq!(host.calls(), [(image.clone(), "ci"), (image.clone(), "ec")]);
    // Neither key: both reasons, in key order.
    let host = Registry::new();
    assert_eq!(
        rejected(decide(pod_request(&[&image], &[]), settings, &host)),
        format!(
            "image {image} is not attested: policy prod requires authority ci: no cosign signature \
             in the registry verifies with its keys: ci-2023 (host: no signature found for {image}), \
             ci-2025 (host: no signature found for {image})"
        )
    );
}

#[test]
fn both_sources_under_require_all() {
    // qa signs in the annotation, ci in the registry: both required.
    let image = img(DIGEST);
    let qa_attestation = attest(&testkeys::rsa_b(), "qa-1", REPO, DIGEST, Scheme::Pkcs1);
    let settings = json!({
        "attestationSources": ["annotation", "registry"],
        "attestationAuthorities": [ci(), qa()],
        "attestationPolicies": [{"name": "prod", "attestationAuthorityNames": ["ci", "qa"]}]
    });
    let host = Registry::new().trusts(&image, "ci", DIGEST);
    admitted(decide(
        pod_request(&[&image], std::slice::from_ref(&qa_attestation)),
        settings.clone(),
        &host,
    ));
    // qa was proven by the annotation: only ci reached the host.
    assert_eq!(host.calls(), [(image.clone(), "ci")]);

    // Without the registry signature: ci is missing, with both sources' reasons.
    let host = Registry::new();
    assert_eq!(
        rejected(decide(
            pod_request(&[&image], &[qa_attestation]),
            settings,
            &host
        )),
        format!(
            "image {image} is not attested: policy prod requires authority ci: no valid signature \
             by its keys (ci-2024); the attestations for this digest are signed by qa-1; and no \
             cosign signature in the registry verifies with key ci-2024 (host: no signature found \
             for {image})"
        )
    );
}

#[test]
fn require_any_stops_at_the_first_satisfied_authority() {
    let image = img(DIGEST);
    let ci_attestation = rsa_attest("ci-2024", DIGEST);
    let settings = json!({
        "attestationSources": ["annotation", "registry"],
        "attestationAuthorities": [ci(), qa()],
        "attestationPolicies": [{"name": "prod", "attestationAuthorityNames": ["ci", "qa"], "require": "any"}]
    });
    // Proven by the annotation: no host call at all.
    let host = Registry::new();
    admitted(decide(
        pod_request(&[&image], &[ci_attestation]),
        settings.clone(),
        &host,
    ));
    assert!(host.calls().is_empty(), "{:?}", host.calls());
    // Registry only: ci verifies, qa is never asked.
    let host = Registry::new().trusts(&image, "ci", DIGEST);
    admitted(decide(pod_request(&[&image], &[]), settings, &host));
    assert_eq!(host.calls(), [(image, "ci")]);
}

#[test]
fn allowlisted_images_and_unenforced_namespaces_never_reach_the_host() {
    let image = img(DIGEST);
    let host = Registry::new();
    let mut settings = registry_settings(vec![ci()], &["ci"], "all");
    settings["admissionAllowlists"] =
        json!([{"patterns": [{"namePattern": "registry.example.com/team/*"}]}]);
    admitted(decide(pod_request(&[&image], &[]), settings, &host));
    let mut settings = registry_settings(vec![ci()], &["ci"], "all");
    settings["attestationPolicies"][0]["namespace"] = json!("prod");
    admitted(decide(pod_request(&[&image], &[]), settings, &host));
    assert!(host.calls().is_empty(), "{:?}", host.calls());
}

#[test]
fn one_call_per_image_and_key_whatever_the_containers_and_tags() {
    let a = format!("{REPO}:v1@{DIGEST}");
    let b = format!("{REPO}:v2@{DIGEST}");
    let host = Registry::new().trusts(&a, "ci", DIGEST);
    let settings = registry_settings(vec![ci()], &["ci"], "all");
    admitted(decide(pod_request(&[&a, &a, &b, &a], &[]), settings, &host));
    assert_eq!(host.calls(), [(a, "ci")]);
}

#[test]
fn a_tag_is_pinned_to_the_digest_the_registry_verified() {
    let tag = format!("{REPO}:1.4");
    let pinned = format!("{tag}@{DIGEST}");
    let host = Registry::new()
        .trusts(&tag, "ci", DIGEST)
        .trusts(&pinned, "qa", DIGEST);
    let settings = registry_settings(vec![ci(), qa()], &["ci", "qa"], "all");
    match decide(pod_request(&[&tag], &[]), settings.clone(), &host) {
        Verdict::Admit {
            mutated_object: Some(o),
            ..
        } => assert_eq!(o["spec"]["containers"][0]["image"], json!(pinned)),
        other => panic!("expected an admission with the image pinned, got {other:?}"),
    }
    // ci proved the tag (and so its digest); qa was asked about that digest.
    assert_eq!(host.calls(), [(tag.clone(), "ci"), (pinned.clone(), "qa")]);

    // mutateToDigest: false verifies the same way, but leaves the object as written.
    let mut unpinned = settings.clone();
    unpinned["mutateToDigest"] = json!(false);
    let host = Registry::new()
        .trusts(&tag, "ci", DIGEST)
        .trusts(&pinned, "qa", DIGEST);
    match decide(pod_request(&[&tag], &[]), unpinned, &host) {
        Verdict::Admit { mutated_object, .. } => assert!(mutated_object.is_none()),
        other => panic!("expected an admission, got {other:?}"),
    }

    // The annotation counts for the digest the registry verified.
    let with_annotation = json!({
        "attestationSources": ["registry", "annotation"],
        "attestationAuthorities": [ci(), qa()],
        "attestationPolicies": [{"name": "prod", "attestationAuthorityNames": ["ci", "qa"]}]
    });
    let host = Registry::new().trusts(&tag, "ci", DIGEST);
    let qa_attestation = attest(&testkeys::rsa_b(), "qa-1", REPO, DIGEST, Scheme::Pkcs1);
    admitted(decide(
        pod_request(&[&tag], &[qa_attestation]),
        with_annotation,
        &host,
    ));
    assert_eq!(host.calls(), [(tag, "ci")]);
}

#[test]
fn a_tag_that_moves_during_the_admission_is_rejected() {
    let tag = format!("{REPO}:1.4");
    let host = Registry::new().trusts(&tag, "ci", DIGEST).trusts(
        &format!("{tag}@{DIGEST}"),
        "qa",
        DIGEST_C,
    );
    let settings = registry_settings(vec![ci(), qa()], &["ci", "qa"], "all");
    let message = rejected(decide(pod_request(&[&tag], &[]), settings, &host));
    assert_eq!(
        message,
        format!(
            "image {tag} is not attested: policy prod requires authority qa: no cosign signature \
             in the registry verifies with key qa-1 (host: the host verified {DIGEST_C} instead \
             of the digest judged (did the tag move?))"
        )
    );
}

#[test]
fn an_unverified_tag_says_why_for_each_source() {
    let tag = format!("{REPO}:1.4");
    let host = Registry::new();
    let settings = with_sources(
        registry_settings(vec![ci()], &["ci"], "all"),
        &["annotation", "registry"],
    );
    assert_eq!(
        rejected(decide(pod_request(&[&tag], &[]), settings, &host)),
        format!(
            "image {tag} is not attested: policy prod requires authority ci: the annotation can \
             attest only a digest, and no registry signature verified one for this tag; and no \
             cosign signature in the registry verifies with key ci-2024 (host: no signature found \
             for {tag})"
        )
    );
    // Without the registry source, tags keep today's rule (no host call).
    let host = Registry::new();
    let settings = json!({"attestationAuthorities": [ci()]});
    assert!(rejected(decide(pod_request(&[&tag], &[]), settings, &host))
        .contains("it is referenced by tag 1.4, not by digest"));
    assert!(host.calls().is_empty());
}

#[test]
fn image_volumes_are_verified_in_the_registry_too() {
    let image = img(DIGEST);
    let tools = format!("registry.example.com/team/tools@{DIGEST_C}");
    let mut o = pod(&[&image], &[]);
    o["spec"]["volumes"] = json!([{"name": "tools", "image": {"reference": tools}}]);
    let settings = registry_settings(vec![ci()], &["ci"], "all");
    let host = Registry::new().trusts(&image, "ci", DIGEST);
    assert_eq!(
        rejected(decide(
            request("", "Pod", o.clone()),
            settings.clone(),
            &host
        )),
        format!(
            "image {tools} is not attested: image volume tools (spec.volumes[0]): policy prod \
             requires authority ci: no cosign signature in the registry verifies with key ci-2024 \
             (host: no signature found for {tools})"
        )
    );
    let host = Registry::new()
        .trusts(&image, "ci", DIGEST)
        .trusts(&tools, "ci", DIGEST_C);
    admitted(decide(request("", "Pod", o), settings, &host));
}

/// Settings whose one policy requires `ci`, with these `registryAnnotations`.
fn ci_requiring(annotations: Value) -> Value {
    let mut authority = ci();
    authority["registryAnnotations"] = annotations;
    registry_settings(vec![authority], &["ci"], "all")
}

#[test]
fn required_annotations_go_to_the_host() {
    let image = img(DIGEST);
    let settings = ci_requiring(json!({"env": "prod", "team": "platform"}));
    let host = Registry::new().trusts(&image, "ci", DIGEST);
    admitted(decide(pod_request(&[&image], &[]), settings, &host));
    let calls = host.calls.borrow();
    let expected: BTreeMap<String, String> = [("env", "prod"), ("team", "platform")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(calls[0].2.as_ref(), Some(&expected));
}

/// The host's own reason is cut before it names the annotations (kwctl words
/// it as the whole constraint, the PEM key first), so the reason names them.
#[test]
fn a_refusal_names_the_required_annotations() {
    let image = img(DIGEST);
    let settings = ci_requiring(json!({"env": "prod", "team": "platform"}));
    assert_eq!(
        rejected(decide(
            pod_request(&[&image], &[]),
            settings,
            &Registry::new()
        )),
        format!(
            "image {image} is not attested: policy prod requires authority ci: no cosign \
             signature in the registry verifies with key ci-2024 (host: no signature found for \
             {image}); its signatures must carry the registryAnnotations env=prod, team=platform"
        )
    );
    // Bounded: at most eight shown, each cut.
    let settings = ci_requiring(
        (0..20)
            .map(|i| (format!("k{i:02}"), Value::String("v".repeat(300))))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    );
    let m = rejected(decide(
        pod_request(&[&image], &[]),
        settings,
        &Registry::new(),
    ));
    assert!(m.contains("registryAnnotations k00=vvv"), "{m}");
    assert!(m.contains("k07=") && !m.contains("k08="), "{m}");
    assert!(m.ends_with("v…, … and 12 more annotations"), "{m}");
}

#[test]
fn host_calls_are_bounded_per_request() {
    let images: Vec<String> = (0..100).map(|i| format!("{REPO}-{i}@{DIGEST}")).collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let settings = registry_settings(vec![ci()], &["ci"], "all");
    let host = Registry::new();
    let payload =
        serde_json::to_vec(&json!({"request": pod_request(&refs, &[]), "settings": settings}))
            .unwrap();
    let (verdict, work) = crate::evaluate::validate_counting(&payload, &host);
    assert_eq!(work.registry_calls, crate::host::MAX_HOST_CALLS);
    assert_eq!(work.host_calls(), crate::host::MAX_HOST_CALLS);
    assert_eq!(host.calls().len(), crate::host::MAX_HOST_CALLS as usize);
    let message = rejected(verdict);
    assert!(
        message.contains("(host: not asked: this admission already made 64 registry calls, the policy's limit per request; deploy the image by digest (or allowlist it))"),
        "{message}"
    );
}

#[test]
fn registry_settings_are_checked() {
    let check = |v: Value| -> Result<(), String> {
        let bytes = serde_json::to_vec(&v).unwrap();
        crate::settings::Settings::from_slice(&bytes)?.validate()
    };
    let base = registry_settings(vec![ci()], &["ci"], "all");
    check(base.clone()).unwrap();
    let mut pss = base.clone();
    pss["attestationAuthorities"][0]["signatureAlgorithm"] = json!("RSA_PSS_SHA_256");
    assert_eq!(
        check(pss).unwrap_err(),
        "attestationAuthorities[0].signatureAlgorithm: authority \"ci\", key \"ci-2024\": the \
         registry source cannot check it: Kubewarden's host verifies RSA signatures with PKCS#1 \
         v1.5 and SHA-256 only, not PSS"
    );
    let mut sha512 = base.clone();
    sha512["attestationAuthorities"][0]["signatureAlgorithm"] = json!("RSA_PKCS1_SHA_512");
    assert!(check(sha512)
        .unwrap_err()
        .ends_with("verifies RSA signatures with SHA-256 only"));
    // The same PSS key is fine for the annotation source.
    let mut annotation_only = base.clone();
    annotation_only["attestationSources"] = json!(["annotation"]);
    annotation_only["attestationAuthorities"][0]["signatureAlgorithm"] = json!("RSA_PSS_SHA_256");
    check(annotation_only).unwrap();
    for (sources, error) in [
        (
            json!([]),
            "attestationSources: must not be empty; omit it to read the annotation only",
        ),
        (
            json!(["registry", "registry"]),
            "attestationSources[1]: \"registry\" is listed twice",
        ),
    ] {
        let mut s = base.clone();
        s["attestationSources"] = sources;
        assert_eq!(check(s).unwrap_err(), error);
    }
    let mut unknown = base.clone();
    unknown["attestationSources"] = json!(["annotation", "grafeas"]);
    let e = check(unknown).unwrap_err();
    assert!(
        e.starts_with(
            "attestationSources[1]: unknown variant `grafeas`, expected `annotation` or `registry`"
        ),
        "{e}"
    );
    let mut orphan = json!({"attestationAuthorities": [ci()]});
    orphan["attestationAuthorities"][0]["registryAnnotations"] = json!({"env": "prod"});
    assert_eq!(
        check(orphan).unwrap_err(),
        "attestationAuthorities[0].registryAnnotations: only the registry source checks them; add \
         \"registry\" to attestationSources"
    );
}
