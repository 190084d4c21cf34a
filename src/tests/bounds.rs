//! Issue 25: every host call and every read bounded. A hostile object can
//! name as many tags as the request allows and carry annotations past
//! Kubernetes' limit; these tests count the host calls and the work done,
//! so a regression in any bound fails here.

use super::*;
use crate::evaluate::validate_counting;
use crate::host::{Work, MAX_HOST_CALLS};
use crate::workload::MAX_ANNOTATION_BYTES;

/// Answers every tag lookup with the same digest, counting the calls.
struct EveryTag(RefCell<Vec<String>>);

impl Host for EveryTag {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.0.borrow_mut().push(image.to_owned());
        Ok(DIGEST_B.to_owned())
    }
}

fn payload_of(req: Value, settings: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap()
}

#[test]
fn two_thousand_distinct_tags_spend_at_most_the_budget() {
    let images: Vec<String> = (0..2000)
        .map(|i| format!("probe-{i}.example.com/app:1"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let host = EveryTag(RefCell::new(Vec::new()));
    let payload = payload_of(request("", "Pod", pod(&refs, &[])), tag_settings());
    let (verdict, work) = validate_counting(&payload, &host);
    assert_eq!(host.0.borrow().len(), MAX_HOST_CALLS as usize);
    assert_eq!(work.host_calls(), MAX_HOST_CALLS);
    assert_eq!(work.digest_lookups, MAX_HOST_CALLS);
    let m = rejected(verdict);
    // The first images were looked up (and are not attested); the rest
    // were never asked about, and say why and what to do.
    assert!(
        m.contains(&format!(
            "image probe-0.example.com/app:1 is not attested: no attestation for digest {DIGEST_B}"
        )),
        "{m}"
    );
    assert!(
        m.contains(
            "image probe-64.example.com/app:1 is not attested: its tag was not resolved to a \
             digest: not asked: this admission already made 64 registry calls, the policy's \
             limit per request; deploy the image by digest (or allowlist it)"
        ),
        "{m}"
    );
    assert!(m.len() < crate::verdict::MAX_MESSAGE, "{}", m.len());
}

#[test]
fn one_tag_written_three_ways_is_one_lookup() {
    let host = EveryTag(RefCell::new(Vec::new()));
    let payload = payload_of(
        request(
            "",
            "Pod",
            pod(
                &["nginx:1", "docker.io/nginx:1", "docker.io/library/nginx:1"],
                &[],
            ),
        ),
        tag_settings(),
    );
    let (verdict, work) = validate_counting(&payload, &host);
    assert_eq!(*host.0.borrow(), ["nginx:1"]);
    assert_eq!(work.digest_lookups, 1);
    let m = rejected(verdict);
    // Every spelling is still reported (each is an image of the Pod).
    for image in ["nginx:1", "docker.io/nginx:1", "docker.io/library/nginx:1"] {
        assert!(m.contains(&format!("image {image} is not attested")), "{m}");
    }
}

/// A Pod whose annotations total `bytes`: the attestation annotation (a
/// valid, signed attestation) plus padding in another annotation.
fn pod_with_annotations(bytes: usize) -> Value {
    let mut o = pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]);
    let ann = o["metadata"]["annotations"].as_object_mut().unwrap();
    let used: usize = ann
        .iter()
        .map(|(k, v)| k.len() + v.as_str().unwrap().len())
        .sum();
    let key = "example.com/padding";
    ann.insert(key.into(), json!("x".repeat(bytes - used - key.len())));
    o
}

#[test]
fn annotations_over_kubernetes_limit_are_refused_unread() {
    // At the limit: admitted (the attestation is valid).
    let payload = payload_of(
        request("", "Pod", pod_with_annotations(MAX_ANNOTATION_BYTES)),
        settings(),
    );
    admitted(validate(&payload, &Resolver::none()));
    // One byte over: refused before any attestation is read.
    let payload = payload_of(
        request("", "Pod", pod_with_annotations(MAX_ANNOTATION_BYTES + 1)),
        settings(),
    );
    let (verdict, work) = validate_counting(&payload, &Resolver::none());
    assert_eq!(work, Work::default());
    assert_eq!(
        rejected(verdict),
        "cannot evaluate the request: the Pod's metadata.annotations total 262145 bytes, more than Kubernetes' limit of \
         262144 bytes (256 KiB) for one object's annotations: the API server would refuse it, \
         and this policy does not read its attestations"
    );
}

#[test]
fn a_template_over_the_limit_is_refused_by_its_path() {
    let template = pod_with_annotations(MAX_ANNOTATION_BYTES + 10);
    let o = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {"template": {"metadata": template["metadata"], "spec": template["spec"]}}});
    let payload = payload_of(request("apps", "Deployment", o), settings());
    let (verdict, work) = validate_counting(&payload, &Resolver::none());
    assert_eq!(work, Work::default());
    assert!(rejected(verdict).starts_with(
        "cannot evaluate the request: the Deployment's spec.template.metadata.annotations total 262154 bytes, more than"
    ));
}

#[test]
fn escaped_annotation_text_counts_as_kubernetes_counts_it() {
    // `\u0078` is one byte once decoded: what the API server measures.
    let mut o = pod_with_annotations(MAX_ANNOTATION_BYTES);
    let padding = o["metadata"]["annotations"]["example.com/padding"]
        .as_str()
        .unwrap()
        .to_owned();
    o["metadata"]["annotations"]["example.com/padding"] = json!(padding);
    let text =
        serde_json::to_string(&json!({"request": request("", "Pod", o), "settings": settings()}))
            .unwrap()
            .replacen("xxxx", "\\u0078\\u0078\\u0078\\u0078", 1000);
    admitted(validate(text.as_bytes(), &Resolver::none()));
}

#[test]
fn valid_signatures_replayed_for_many_images_cost_at_most_the_verification_budget() {
    use crate::evaluate::MAX_VERIFICATION_COST;
    // 150 distinct digests, each with a valid RSA-2048 attestation: the
    // first 64 are verified, the rest are not checked and say why.
    let digests: Vec<String> = (0..150).map(|i| format!("sha256:{i:064x}")).collect();
    let images: Vec<String> = digests.iter().map(|d| img(d)).collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let atts: Vec<Value> = digests.iter().map(|d| rsa_attest("key-1", d)).collect();
    let payload = payload_of(request("", "Pod", pod(&refs, &atts)), settings());
    let (verdict, work) = validate_counting(&payload, &Resolver::none());
    assert_eq!(work.verifications, MAX_VERIFICATION_COST);
    assert_eq!(work.verification_cost, MAX_VERIFICATION_COST);
    let m = rejected(verdict);
    assert_eq!(
        m.matches("is not attested").count(),
        150 - MAX_VERIFICATION_COST as usize
    );
    assert!(
        m.contains(&format!(
            "image {} is not attested: no trusted authority attests it: authority demo-aa: not \
             checked: this request already spent the policy's budget of signature verifications \
             (the cost of 64 RSA-2048 checks)",
            images[64]
        )),
        "{m}"
    );
}

#[test]
fn costlier_keys_spend_the_budget_faster() {
    // P-256 checks cost two RSA-2048 ones: 32 fit.
    let key = testkeys::p256();
    let digests: Vec<String> = (0..40).map(|i| format!("sha256:{i:064x}")).collect();
    let images: Vec<String> = digests.iter().map(|d| img(d)).collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let atts: Vec<Value> = digests
        .iter()
        .map(|d| attest(&key, "ec-1", REPO, d, Scheme::P256))
        .collect();
    let settings = json!({"attestationAuthorities": [authority("ec", "ec-1", &key)]});
    let payload = payload_of(request("", "Pod", pod(&refs, &atts)), settings);
    let (verdict, work) = validate_counting(&payload, &Resolver::none());
    assert_eq!((work.verifications, work.verification_cost), (32, 64));
    assert_eq!(rejected(verdict).matches("is not attested").count(), 8);
}
