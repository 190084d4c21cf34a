//! The whole decision, natively, with real keys and real signatures: one
//! test per rule of the policy, each asserting the exact reason.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::evaluate::{validate, Host, Verified};
use crate::testkeys::{self, TestKey};
use crate::verdict::Verdict;

const DIGEST: &str = "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45";
const DIGEST_B: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const REPO: &str = "registry.example.com/team/app";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn payload(repo: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"atomic container signature"}}}}"#
    )
    .into_bytes()
}

enum Scheme {
    Pkcs1,
    Pss(usize),
    P256,
}

fn attest(key: &TestKey, key_id: &str, repo: &str, digest: &str, scheme: Scheme) -> Value {
    let p = payload(repo, digest);
    let sig = match scheme {
        Scheme::Pkcs1 => key.sign_pkcs1(&p),
        Scheme::Pss(salt) => key.sign_pss(&p, salt),
        Scheme::P256 => key.sign_p256(&p),
    };
    json!({"contentType": "SIMPLE_SIGNING_JSON", "serializedPayload": b64(&p),
           "signatures": [{"publicKeyId": key_id, "signature": b64(&sig)}]})
}

fn rsa_attest(key_id: &str, digest: &str) -> Value {
    attest(&testkeys::rsa(2048), key_id, REPO, digest, Scheme::Pkcs1)
}

fn authority(name: &str, key_id: &str, key: &TestKey) -> Value {
    json!({"name": name, "publicKeyId": key_id, "publicKeyData": key.spki_b64()})
}

fn settings() -> Value {
    json!({"attestationAuthorities": [authority("demo-aa", "key-1", &testkeys::rsa(2048))]})
}

fn pod(images: &[&str], attestations: &[Value]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, img)| json!({"name": format!("c{i}"), "image": img}))
        .collect();
    let mut meta = json!({"name": "p", "namespace": "default"});
    if !attestations.is_empty() {
        meta["annotations"] = json!({"kritis.grafeas.io/attestations": Value::Array(attestations.to_vec()).to_string()});
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": containers}})
}

fn request(group: &str, kind: &str, object: Value) -> Value {
    json!({"uid": "u1", "kind": {"group": group, "version": "v1", "kind": kind},
           "operation": "CREATE", "namespace": "default", "object": object})
}

struct Resolver(
    HashMap<String, Result<String, String>>,
    RefCell<Vec<String>>,
);

impl Resolver {
    fn none() -> Self {
        Resolver(HashMap::new(), RefCell::new(Vec::new()))
    }

    /// A host that resolves `tag` to `digest` (and nothing else).
    fn resolving(tag: &str, digest: &str) -> Self {
        Resolver(
            HashMap::from([(tag.to_owned(), Ok(digest.to_owned()))]),
            RefCell::new(Vec::new()),
        )
    }
}

impl Host for Resolver {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.1.borrow_mut().push(image.to_owned());
        self.0
            .get(image)
            .cloned()
            .unwrap_or_else(|| Err(format!("unexpected host call for {image}")))
    }

    fn verify_pub_key(
        &self,
        image: &str,
        _pub_key: String,
        _annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        self.1.borrow_mut().push(format!("verify {image}"));
        Err(format!("unexpected registry call for {image}"))
    }
}

fn run_with(req: Value, settings: Value, resolver: &Resolver) -> Verdict {
    let payload = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
    validate(&payload, resolver)
}

fn run(req: Value, settings: Value) -> Verdict {
    run_with(req, settings, &Resolver::none())
}

#[track_caller]
fn admitted(v: Verdict) {
    match v {
        Verdict::Admit { .. } => {}
        Verdict::Reject(r) => panic!("rejected: {r}"),
    }
}

/// The rejection message exactly as the API server receives it (bounded).
#[track_caller]
fn rejected(v: Verdict) -> String {
    match v {
        Verdict::Admit { .. } => panic!("admitted"),
        Verdict::Reject(r) => r.message(),
    }
}

fn img(digest: &str) -> String {
    format!("{REPO}@{digest}")
}

#[test]
fn attested_digest_is_admitted() {
    admitted(run(
        request(
            "",
            "Pod",
            pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]),
        ),
        settings(),
    ));
}

#[test]
fn every_rsa_size_and_scheme_and_p256() {
    let cases: Vec<(TestKey, Scheme)> = vec![
        (testkeys::rsa(2048), Scheme::Pkcs1),
        (testkeys::rsa(2048), Scheme::Pss(32)),
        (testkeys::rsa(2048), Scheme::Pss(TestKey::max_salt(2048))),
        (testkeys::rsa(3072), Scheme::Pkcs1),
        (testkeys::rsa(3072), Scheme::Pss(TestKey::max_salt(3072))),
        (testkeys::rsa(4096), Scheme::Pkcs1),
        (testkeys::rsa(4096), Scheme::Pss(32)),
        (testkeys::p256(), Scheme::P256),
    ];
    for (key, scheme) in cases {
        let s = json!({"attestationAuthorities": [authority("a", "k", &key)]});
        let att = attest(&key, "k", REPO, DIGEST, scheme);
        admitted(run(request("", "Pod", pod(&[&img(DIGEST)], &[att])), s));
    }
}

#[test]
fn tag_is_not_attested_and_says_how_to_fix() {
    let m = rejected(run(
        request("", "Pod", pod(&["alpine:3.11"], &[])),
        settings(),
    ));
    assert_eq!(
        m,
        "image alpine:3.11 is not attested: it is referenced by tag 3.11, not by digest; only digests can be verified: deploy it by digest (alpine@sha256:<digest>)"
    );
    let m = rejected(run(request("", "Pod", pod(&["alpine"], &[])), settings()));
    assert!(
        m.contains(
            "image alpine is not attested: it is referenced without a digest (implicitly :latest)"
        ),
        "{m}"
    );
}

#[test]
fn unattested_digest() {
    let m = rejected(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[])),
        settings(),
    ));
    assert_eq!(
        m,
        format!(
            "image {} is not attested: no attestation for digest {DIGEST}",
            img(DIGEST)
        )
    );
    let m = rejected(run(
        request(
            "",
            "Pod",
            pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST_B)]),
        ),
        settings(),
    ));
    assert!(m.ends_with(&format!("no attestation for digest {DIGEST} (the object carries 1 attestation(s), for other digests)")), "{m}");
}

#[test]
fn attestation_for_another_repository_never_counts() {
    let att = attest(
        &testkeys::rsa(2048),
        "key-1",
        "registry.example.com/team/other",
        DIGEST,
        Scheme::Pkcs1,
    );
    let m = rejected(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[att])),
        settings(),
    ));
    assert!(m.contains("the attestation for this digest names repository registry.example.com/team/other, not registry.example.com/team/app"), "{m}");
}

#[test]
fn docker_hub_names_normalise() {
    let att = attest(
        &testkeys::rsa(2048),
        "key-1",
        "docker.io/library/alpine",
        DIGEST,
        Scheme::Pkcs1,
    );
    admitted(run(
        request("", "Pod", pod(&[&format!("alpine@{DIGEST}")], &[att])),
        settings(),
    ));
}

#[test]
fn wrong_key_and_tampered_signature() {
    let other = attest(&testkeys::rsa_b(), "key-1", REPO, DIGEST, Scheme::Pkcs1);
    let m = rejected(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[other])),
        settings(),
    ));
    assert!(m.contains("no trusted authority attests it: authority demo-aa: signature with key key-1 does not verify"), "{m}");
    // A trusted key's signature over a different payload, spliced in.
    let mut spliced = rsa_attest("key-1", DIGEST);
    let real = rsa_attest("key-1", DIGEST_B);
    spliced["signatures"] = real["signatures"].clone();
    let m = rejected(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[spliced])),
        settings(),
    ));
    assert!(
        m.contains("signature with key key-1 does not verify"),
        "{m}"
    );
}

#[test]
fn unknown_key_id() {
    let m = rejected(run(
        request(
            "",
            "Pod",
            pod(&[&img(DIGEST)], &[rsa_attest("key-9", DIGEST)]),
        ),
        settings(),
    ));
    assert!(m.contains("no valid signature by its keys (key-1); the attestations for this digest are signed by key-9 (unknown key id)"), "{m}");
    // Key ids are case-sensitive.
    let m = rejected(run(
        request(
            "",
            "Pod",
            pod(&[&img(DIGEST)], &[rsa_attest("KEY-1", DIGEST)]),
        ),
        settings(),
    ));
    assert!(m.contains("KEY-1 (unknown key id)"), "{m}");
}

#[test]
fn key_rotation_any_key_of_the_authority() {
    let s = json!({"attestationAuthorities": [{"name": "demo-aa", "publicKeyId": "old", "publicKeyData": testkeys::rsa(2048).spki_b64(),
        "publicKeys": [{"publicKeyId": "new", "publicKeyData": testkeys::rsa_b().spki_pem}]}]});
    let att_new = attest(&testkeys::rsa_b(), "new", REPO, DIGEST, Scheme::Pkcs1);
    admitted(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[att_new])),
        s.clone(),
    ));
    admitted(run(
        request(
            "",
            "Pod",
            pod(&[&img(DIGEST)], &[rsa_attest("old", DIGEST)]),
        ),
        s,
    ));
}

#[test]
fn default_key_id_when_none_is_configured() {
    let key = testkeys::rsa(2048);
    let s = json!({"attestationAuthorities": [{"name": "a", "publicKeyData": key.spki_pem}]});
    let att = attest(&key, &key.default_id(), REPO, DIGEST, Scheme::Pkcs1);
    admitted(run(request("", "Pod", pod(&[&img(DIGEST)], &[att])), s));
}

#[test]
fn key_of_another_authority_does_not_count() {
    let s = json!({
        "attestationAuthorities": [authority("a", "ka", &testkeys::rsa(2048)), authority("b", "kb", &testkeys::rsa_b())],
        "attestationPolicies": [{"name": "needs-a", "attestationAuthorityNames": ["a"]}]
    });
    let by_b = attest(&testkeys::rsa_b(), "kb", REPO, DIGEST, Scheme::Pkcs1);
    let m = rejected(run(request("", "Pod", pod(&[&img(DIGEST)], &[by_b])), s));
    assert!(m.contains("policy needs-a requires authority a: no valid signature by its keys (ka); the attestations for this digest are signed by kb"), "{m}");
    assert!(!m.contains("unknown key id"), "{m}");
}

fn two_authorities(require: &str) -> Value {
    json!({
        "attestationAuthorities": [authority("a", "ka", &testkeys::rsa(2048)), authority("b", "kb", &testkeys::rsa_b())],
        "attestationPolicies": [{"name": "gap", "attestationAuthorityNames": ["a", "b"], "require": require}]
    })
}

#[test]
fn require_all_needs_every_authority() {
    let by_a = attest(&testkeys::rsa(2048), "ka", REPO, DIGEST, Scheme::Pkcs1);
    let by_b = attest(&testkeys::rsa_b(), "kb", REPO, DIGEST, Scheme::Pkcs1);
    let m = rejected(run(
        request("", "Pod", pod(&[&img(DIGEST)], std::slice::from_ref(&by_a))),
        two_authorities("all"),
    ));
    assert!(
        m.contains("policy gap requires authority b: no valid signature by its keys (kb)"),
        "{m}"
    );
    assert!(!m.contains("authority a"), "{m}");
    admitted(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[by_a.clone(), by_b])),
        two_authorities("all"),
    ));
    // `any` is kritis 0.2's behaviour.
    admitted(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[by_a])),
        two_authorities("any"),
    ));
}

#[test]
fn one_satisfied_policy_of_several_is_enough() {
    let mut s = two_authorities("all");
    s["attestationPolicies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "only-a", "attestationAuthorityNames": ["a"]}));
    let by_a = attest(&testkeys::rsa(2048), "ka", REPO, DIGEST, Scheme::Pkcs1);
    admitted(run(request("", "Pod", pod(&[&img(DIGEST)], &[by_a])), s));
}

#[test]
fn namespaces_of_policies_and_allowlists() {
    let mut s = settings();
    s["attestationPolicies"] = json!([{"name": "prod-only", "namespace": "prod", "attestationAuthorityNames": ["demo-aa"]}]);
    // No policy covers `default`: not enforced, tags included.
    admitted(run(
        request("", "Pod", pod(&["alpine:3.11"], &[])),
        s.clone(),
    ));
    let mut r = request("", "Pod", pod(&["alpine:3.11"], &[]));
    r["namespace"] = json!("prod");
    assert!(rejected(run(r.clone(), s.clone())).contains("image alpine:3.11 is not attested"));
    s["admissionAllowlists"] =
        json!([{"patterns": [{"namePattern": "alpine*", "namespace": "default"}]}]);
    assert!(rejected(run(r.clone(), s.clone())).contains("image alpine:3.11 is not attested"));
    s["admissionAllowlists"] =
        json!([{"patterns": [{"namePattern": "alpine*", "namespace": "prod"}]}]);
    admitted(run(r, s));
}

#[test]
fn allowlist_skips_verification_with_ack_rules() {
    let mut s = settings();
    s["admissionAllowlists"] = json!([{"name": "allow-acs-images", "patterns": [
        {"namePattern": "registry*.*.aliyuncs.com/acs/*"}, {"namePattern": "a.com/nginx*"}, {"namePattern": "nginx:v0.1.0"}]}]);
    for image in [
        "registry-vpc.cn-hangzhou.aliyuncs.com/acs/pause:3.2",
        "a.com/nginx:v0.1.0",
        "nginx:v0.1.0",
    ] {
        admitted(run(request("", "Pod", pod(&[image], &[])), s.clone()));
    }
    for image in [
        "a.com/nginx/test:v0.1.0",
        "nginx:v0.1.1",
        "registry.cn-beijing.aliyuncs.com/acs/x/pause:1",
    ] {
        let m = rejected(run(request("", "Pod", pod(&[image], &[])), s.clone()));
        assert!(m.contains(&format!("image {image} is not attested")), "{m}");
    }
}

#[test]
fn every_failing_image_is_listed_once() {
    let images = [
        img(DIGEST),
        "alpine:3.11".to_owned(),
        img(DIGEST_B),
        "alpine:3.11".to_owned(),
    ];
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let m = rejected(run(
        request("", "Pod", pod(&refs, &[rsa_attest("key-1", DIGEST)])),
        settings(),
    ));
    assert_eq!(m.matches("is not attested").count(), 2, "{m}");
    assert!(m.contains("image alpine:3.11 is not attested"), "{m}");
    assert!(
        m.contains(&format!(
            "image {} is not attested: no attestation for digest {DIGEST_B}",
            img(DIGEST_B)
        )),
        "{m}"
    );
}

fn template_object(
    kind: &str,
    spec: Value,
    annotations_on_template: bool,
    attestations: &[Value],
) -> Value {
    let ann =
        json!({"kritis.grafeas.io/attestations": Value::Array(attestations.to_vec()).to_string()});
    let (meta, tmeta) = if annotations_on_template {
        (json!({}), json!({"annotations": ann}))
    } else {
        (json!({"annotations": ann}), json!({}))
    };
    let template = json!({"metadata": tmeta, "spec": spec});
    match kind {
        "CronJob" => {
            json!({"kind": kind, "metadata": meta, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}})
        }
        _ => json!({"kind": kind, "metadata": meta, "spec": {"template": template}}),
    }
}

/// Every kind that embeds a pod template, with its API group.
const TEMPLATE_KINDS: [(&str, &str); 7] = [
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("", "ReplicationController"),
];

#[test]
fn every_workload_kind_and_container_list() {
    for (group, kind) in TEMPLATE_KINDS {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            let mut spec = json!({"containers": [{"name": "ok", "image": img(DIGEST)}]});
            spec[list] = json!([{"name": "ok", "image": img(DIGEST)}, {"name": "bad", "image": "evil:latest"}]);
            let o = template_object(kind, spec.clone(), true, &[rsa_attest("key-1", DIGEST)]);
            let m = rejected(run(request(group, kind, o), settings()));
            assert!(
                m.starts_with("image evil:latest is not attested"),
                "{kind} {list}: {m}"
            );
            let mut good = spec.clone();
            good[list] = json!([{"name": "ok", "image": img(DIGEST)}]);
            let o = template_object(kind, good.clone(), true, &[rsa_attest("key-1", DIGEST)]);
            admitted(run(request(group, kind, o), settings()));
            // On the controller's own metadata the attestation never reaches
            // its Pods: it does not count, and the rejection says where it goes.
            let o = template_object(kind, good, false, &[rsa_attest("key-1", DIGEST)]);
            let path = if kind == "CronJob" {
                "spec.jobTemplate.spec.template.metadata.annotations"
            } else {
                "spec.template.metadata.annotations"
            };
            assert_eq!(
                rejected(run(request(group, kind, o), settings())),
                format!(
                    "the {kind} carries kritis.grafeas.io/attestations on its own \
                     metadata.annotations, which its Pods never see, so they do not count: move \
                     them to {path}; image {} is not attested: no attestation for digest {DIGEST}",
                    img(DIGEST)
                )
            );
        }
    }
    // Pods: initContainers and ephemeralContainers too.
    for list in ["initContainers", "ephemeralContainers"] {
        let mut o = pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]);
        o["spec"][list] = json!([{"name": "x", "image": "evil:1"}]);
        assert!(rejected(run(request("", "Pod", o), settings()))
            .contains("image evil:1 is not attested"));
    }
}

#[test]
fn kinds_without_pods_and_deletes_pass_untouched() {
    admitted(run(
        request("", "ConfigMap", json!({"data": {"image": "evil:1"}})),
        settings(),
    ));
    let mut r = request("", "Pod", Value::Null);
    r["operation"] = json!("DELETE");
    admitted(run(r, settings()));
}

#[test]
fn kind_falls_back_to_the_object() {
    let mut r = request("", "Pod", pod(&["evil:1"], &[]));
    r.as_object_mut().unwrap().remove("kind");
    assert!(rejected(run(r, settings())).contains("image evil:1 is not attested"));
}

#[test]
fn breakglass() {
    let mut o = pod(&["evil:1"], &[]);
    o["metadata"]["annotations"] = json!({"kritis.grafeas.io/breakglass": "true"});
    // Off by default: the annotation changes nothing.
    assert!(rejected(run(request("", "Pod", o.clone()), settings()))
        .contains("image evil:1 is not attested"));
    let mut s = settings();
    s["allowBreakglass"] = json!(true);
    match run(request("", "Pod", o.clone()), s.clone()) {
        Verdict::Admit {
            warnings,
            audit_annotations,
            ..
        } => {
            assert!(
                warnings[0].starts_with("break-glass: admitted without verification"),
                "{warnings:?}"
            );
            assert!(warnings[0].contains("image evil:1 is not attested"));
            assert_eq!(audit_annotations[0].0, "breakglass");
        }
        Verdict::Reject(r) => panic!("{r}"),
    }
    // Only the object's own metadata counts, not the template's.
    let mut dep = template_object(
        "Deployment",
        json!({"containers": [{"image": "evil:1"}]}),
        true,
        &[],
    );
    dep["spec"]["template"]["metadata"]["annotations"]["kritis.grafeas.io/breakglass"] =
        json!("true");
    rejected(run(request("apps", "Deployment", dep), s));
}

#[test]
fn malformed_inputs_are_rejected_with_reasons() {
    let bad = |payload: &[u8]| match validate(payload, &Resolver::none()) {
        Verdict::Reject(r) => r.to_string(),
        Verdict::Admit { .. } => panic!("admitted {}", String::from_utf8_lossy(payload)),
    };
    assert!(
        bad(b"").starts_with("cannot evaluate the request: not a Kubewarden validation request")
    );
    assert!(bad(b"{}").starts_with("cannot evaluate the request"));
    assert!(bad(br#"{"request":{},"settings":{}}"#)
        .starts_with("the policy settings are not valid: attestationAuthorities"));
    let typo = json!({"request": {"kind": {"kind": "Pod"}, "object": {}}, "settings": {"attestationAuthorities": [{"name": "a", "publicKeyDta": "x"}]}});
    let m = bad(&serde_json::to_vec(&typo).unwrap());
    assert!(m.starts_with("the policy settings are not valid: attestationAuthorities[0].publicKeyDta: unknown field `publicKeyDta`"), "{m}");
    assert!(bad(br#"{"request":{},"settings":{}} x"#).starts_with(
        "cannot evaluate the request: not a Kubewarden validation request (trailing characters"
    ));
    let no_object = json!({"request": {"operation": "CREATE", "kind": {"kind": "Pod"}}, "settings": settings()});
    assert_eq!(
        bad(&serde_json::to_vec(&no_object).unwrap()),
        "cannot evaluate the request: the request has no object"
    );
    let m = rejected(run(
        request("", "Pod", json!({"spec": {"containers": [{"image": 7}]}})),
        settings(),
    ));
    assert!(
        m.starts_with("cannot evaluate the request: the object is not a valid Pod"),
        "{m}"
    );
    let m = rejected(run(
        request("", "Pod", json!({"spec": {"containers": [{"name": "x"}]}})),
        settings(),
    ));
    assert_eq!(m, "container x (spec.containers[0]) has no image");
    // Annotation garbage fails the images it was to vouch for.
    let mut o = pod(&[&img(DIGEST)], &[]);
    o["metadata"]["annotations"] = json!({"kritis.grafeas.io/attestations": "[{not json"});
    let m = rejected(run(request("", "Pod", o), settings()));
    assert!(m.contains("is not attested: annotation kritis.grafeas.io/attestations is malformed: not a JSON array of attestations"), "{m}");
    let m = rejected(run(
        request("", "Pod", pod(&[&format!("{REPO}@sha256:ABC")], &[])),
        settings(),
    ));
    assert!(
        m.contains("is not attested: it is not a valid image reference"),
        "{m}"
    );
    let big = vec![b' '; crate::evaluate::MAX_PAYLOAD + 1];
    assert!(bad(&big).contains("more than the 4194304 bytes this policy evaluates"));
}

#[test]
fn hostile_image_names_cannot_forge_lines() {
    let m = rejected(run(
        request("", "Pod", pod(&["evil\nimage x is attested"], &[])),
        settings(),
    ));
    assert!(!m.contains('\n'), "{m}");
    assert!(m.contains("evil\\nimage x is attested"), "{m}");
}

#[test]
fn invalid_signature_flood_is_bounded() {
    let key = testkeys::rsa(2048);
    let p = payload(REPO, DIGEST);
    let sigs: Vec<Value> = (0..200)
        .map(|i| json!({"publicKeyId": "key-1", "signature": b64(&[i as u8; 256])}))
        .collect();
    let att = json!({"serializedPayload": b64(&p), "signatures": sigs});
    let m = rejected(run(
        request("", "Pod", pod(&[&img(DIGEST)], &[att])),
        settings(),
    ));
    assert!(
        m.contains("too many invalid signatures in this request to check more"),
        "{m}"
    );
    let _ = key;
}

fn tag_settings() -> Value {
    let mut s = settings();
    s["resolveTags"] = json!(true);
    s
}

#[test]
fn resolved_tags_are_verified_and_pinned() {
    let resolver = Resolver::resolving(&format!("{REPO}:v1"), DIGEST);
    let image = format!("{REPO}:v1");
    let o = pod(
        &[&image, &image, &img(DIGEST)],
        &[rsa_attest("key-1", DIGEST)],
    );
    match run_with(request("", "Pod", o), tag_settings(), &resolver) {
        Verdict::Admit {
            mutated_object: Some(m),
            ..
        } => {
            assert_eq!(
                m["spec"]["containers"][0]["image"],
                format!("{REPO}:v1@{DIGEST}")
            );
            assert_eq!(
                m["spec"]["containers"][1]["image"],
                format!("{REPO}:v1@{DIGEST}")
            );
            assert_eq!(m["spec"]["containers"][2]["image"], img(DIGEST));
        }
        other => panic!("{other:?}"),
    }
    // One host call per distinct image.
    assert_eq!(resolver.1.borrow().len(), 1);
}

#[test]
fn resolved_tags_unattested_or_unresolvable_are_rejected() {
    let resolver = Resolver(
        [
            ("a:v1".to_owned(), Ok(DIGEST_B.to_owned())),
            ("b:v1".to_owned(), Err("manifest unknown".to_owned())),
        ]
        .into_iter()
        .collect(),
        RefCell::new(Vec::new()),
    );
    let m = rejected(run_with(
        request("", "Pod", pod(&["a:v1", "b:v1"], &[])),
        tag_settings(),
        &resolver,
    ));
    assert!(
        m.contains(&format!(
            "image a:v1 is not attested: no attestation for digest {DIGEST_B}"
        )),
        "{m}"
    );
    assert!(m.contains("image b:v1 is not attested: its tag could not be resolved to a digest: manifest unknown"), "{m}");
}

#[test]
fn allowlisted_tags_make_no_host_call() {
    let mut s = tag_settings();
    s["admissionAllowlists"] = json!([{"patterns": [{"namePattern": "a:*"}]}]);
    let resolver = Resolver::none();
    match run_with(request("", "Pod", pod(&["a:v1"], &[])), s, &resolver) {
        Verdict::Admit {
            mutated_object: None,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert!(resolver.1.borrow().is_empty());
}

#[test]
fn validate_only_tag_resolution() {
    let mut s = tag_settings();
    s["mutateToDigest"] = json!(false);
    let resolver = Resolver::resolving(&format!("{REPO}:v1"), DIGEST);
    match run_with(
        request(
            "",
            "Pod",
            pod(&[&format!("{REPO}:v1")], &[rsa_attest("key-1", DIGEST)]),
        ),
        s,
        &resolver,
    ) {
        Verdict::Admit {
            mutated_object: None,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

mod adversarial;
mod bounds;
mod cluster;
pub(crate) mod curves;
mod holes;
mod keyless;
mod registry;
mod rollout;

/// The payload with the request's `object` written before every other
/// field of the request (the order the one pass cannot use: the object is
/// kept as text and read after the kind is known).
fn object_first(req: &Value, settings: &Value) -> Vec<u8> {
    let mut rest = req.clone();
    let object = rest
        .as_object_mut()
        .unwrap()
        .remove("object")
        .unwrap_or(Value::Null);
    let rest = rest.to_string();
    let fields = rest.trim_start_matches('{').trim_end_matches('}');
    let sep = if fields.is_empty() { "" } else { "," };
    format!(r#"{{"request":{{"object":{object}{sep}{fields}}},"settings":{settings}}}"#)
        .into_bytes()
}

#[test]
fn the_object_read_in_the_payloads_pass_or_after_it_gives_the_same_verdict() {
    let resolver = || Resolver::resolving(&format!("{REPO}:v1"), DIGEST);
    let attested = pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]);
    let mut deleted = request("", "Pod", json!({"spec": 5}));
    deleted["operation"] = json!("DELETE");
    let cases = [
        (request("", "Pod", attested.clone()), settings()),
        (request("", "Pod", pod(&["evil:1"], &[])), settings()),
        (
            request("", "Pod", json!({"spec": {"containers": [{"image": 7}]}})),
            settings(),
        ),
        (
            request("", "Pod", json!({"spec": {"containers": 5}})),
            settings(),
        ),
        (request("", "Pod", Value::Null), settings()),
        (deleted, settings()),
        (
            request("", "ConfigMap", json!({"data": {"image": "evil:1"}})),
            settings(),
        ),
        (
            request(
                "apps",
                "Deployment",
                template_object(
                    "Deployment",
                    json!({"containers": [{"image": format!("{REPO}:v1")}]}),
                    true,
                    &[rsa_attest("key-1", DIGEST)],
                ),
            ),
            tag_settings(),
        ),
        (
            request(
                "",
                "Pod",
                pod(&[&format!("{REPO}:v1")], &[rsa_attest("key-1", DIGEST)]),
            ),
            tag_settings(),
        ),
    ];
    for (req, settings) in cases {
        // `json!` sorts keys: `kind` comes before `object`, as the API
        // server writes them, so this one is read in the payload's pass.
        let in_pass = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
        let after = object_first(&req, &settings);
        let a = format!("{:?}", validate(&in_pass, &resolver()));
        let b = format!("{:?}", validate(&after, &resolver()));
        assert_eq!(a, b, "{req}");
    }
}
