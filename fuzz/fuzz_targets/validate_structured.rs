//! Never admit by mistake: a Pod in a namespace enforced by the implicit
//! policy (one RSA authority, key id `k1`, no allowlist, no break-glass, no
//! tag resolution), whose attestation annotation, container images and image
//! volumes are fuzzed. Nobody can forge a signature by that key, so whatever
//! the annotation says, any Pod with at least one container or image volume
//! must be rejected.
//!
//! Input layout (0xFF and 0xFE never occur in UTF-8, so they split cleanly):
//! `annotation [0xFF image]…` — the first part is the annotation value
//! (absent when empty), each following part one container's image, or, when
//! the part starts with 0xFE, an image volume (`volumes[].image.reference`
//! is the rest of the part; a second 0xFE leaves the reference out). At most
//! four parts are used. Parts are read as UTF-8, invalid sequences replaced.
//!
//! Do not seed this target with attestations signed by testdata's rsa2048
//! key (the golden cases are): the fuzzer would only have to rename their
//! key id to `k1` to present a genuine signature.
#![no_main]

use kritis_attestation_policy::verdict::Verdict;
use kritis_attestation_policy::{validate, Host, Verified};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const PUBLIC_KEY: &str = include_str!("../../testdata/keys/rsa2048.pub.pem");
const MAX_CONTAINERS: usize = 4;

struct NoHost;

impl Host for NoHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        panic!("resolveTags is off, yet the host was asked to resolve {image:?}");
    }

    fn verify_pub_key(
        &self,
        image: &str,
        _pub_key: String,
        _annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        panic!("the registry source is off, yet the host was asked to verify {image:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xFF);
    let annotation = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let mut images: Vec<String> = Vec::new();
    // `None`: an image volume without `reference`.
    let mut volumes: Vec<Option<String>> = Vec::new();
    for p in parts.take(MAX_CONTAINERS) {
        match p {
            [0xFE, 0xFE, ..] => volumes.push(None),
            [0xFE, rest @ ..] => volumes.push(Some(String::from_utf8_lossy(rest).into_owned())),
            _ => images.push(String::from_utf8_lossy(p).into_owned()),
        }
    }

    let mut metadata = json!({ "name": "app" });
    if !annotation.is_empty() {
        metadata["annotations"] = json!({ "kritis.grafeas.io/attestations": annotation });
    }
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({ "name": format!("c{i}"), "image": image }))
        .collect();
    let volumes_json: Vec<Value> = volumes
        .iter()
        .enumerate()
        .map(|(i, reference)| match reference {
            Some(r) => json!({ "name": format!("v{i}"), "image": { "reference": r } }),
            None => json!({ "name": format!("v{i}"), "image": { "pullPolicy": "Always" } }),
        })
        .collect();
    let payload = json!({
        "request": {
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "operation": "CREATE",
            "namespace": "default",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": metadata,
                "spec": { "containers": containers, "volumes": volumes_json }
            }
        },
        "settings": {
            "attestationAuthorities": [{
                "name": "a1",
                "publicKeyId": "k1",
                "publicKeyData": PUBLIC_KEY
            }]
        }
    });
    let bytes = serde_json::to_vec(&payload).expect("a json! value serialises");

    let verdict = validate(&bytes, &NoHost);
    if let Verdict::Admit { .. } = &verdict {
        assert!(
            images.is_empty() && volumes.is_empty(),
            "ADMITTED without a valid signature: images {images:?}, image volumes {volumes:?}, annotation {annotation:?}: {verdict:?}"
        );
    }
    if let Verdict::Reject(r) = &verdict {
        // The settings are fixed and valid: only the images may be at fault.
        assert!(
            matches!(r, kritis_attestation_policy::verdict::Rejection::Images(_)),
            "rejected for another reason than the images: {r}"
        );
    }
    let _ = serde_json::to_vec(&verdict.into_response());
});
