//! Tests of the engine through a whole request (`validate_counting`): how
//! much work an image costs, and the reasons of deferred authorities.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::evaluate::{validate_counting, Host, Work};
use crate::testkeys;
use crate::verdict::Verdict;

const DIGEST: &str = "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45";
const REPO: &str = "registry.example.com/team/app";

/// A host that is never asked anything on the annotation path.
struct NoHost;

impl Host for NoHost {}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// An attestation for `repo` at `DIGEST`: (key id, signature) pairs.
fn attestation(repo: &str, signatures: &[(&str, Vec<u8>)]) -> (Vec<u8>, Value) {
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"atomic container signature"}}}}"#
    )
    .into_bytes();
    let sigs: Vec<Value> = signatures
        .iter()
        .map(|(id, sig)| json!({"publicKeyId": id, "signature": b64(sig)}))
        .collect();
    let value = json!({"contentType": "SIMPLE_SIGNING_JSON",
                       "serializedPayload": b64(&payload), "signatures": sigs});
    (payload, value)
}

fn run(settings: &Value, attestations: &[Value]) -> (Verdict, Work) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "annotations": {
            "kritis.grafeas.io/attestations": Value::Array(attestations.to_vec()).to_string()}},
        "spec": {"containers": [{"name": "c", "image": format!("{REPO}@{DIGEST}")}]}});
    let request = json!({"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE", "namespace": "default", "object": pod});
    let payload = serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap();
    validate_counting(&payload, &NoHost)
}

#[test]
fn an_image_one_of_many_authorities_attests_examines_only_that_one() {
    let key = testkeys::rsa(2048);
    let authorities: Vec<Value> = (0..100)
        .map(|i| {
            json!({"name": format!("aa-{i}"), "publicKeyId": format!("key-{i}"),
                        "publicKeyData": key.spki_b64()})
        })
        .collect();
    let (payload, _) = attestation(REPO, &[]);
    let (_, att) = attestation(REPO, &[("key-99", key.sign_pkcs1(&payload))]);
    let (verdict, work) = run(&json!({"attestationAuthorities": authorities}), &[att]);
    assert!(matches!(verdict, Verdict::Admit { .. }));
    // The 99 authorities no signature names are neither examined nor
    // explained: the image is admitted.
    assert_eq!(
        work,
        Work {
            digest_checks: 1,
            attestations_examined: 1,
            signatures_examined: 1,
            verifications: 1,
            verification_cost: 1,
            ..Work::default()
        }
    );
}

#[test]
fn deferred_authorities_are_explained_when_the_image_is_rejected() {
    let key = testkeys::rsa(2048);
    let other = testkeys::rsa_b();
    let authority = |name: &str, id: Option<&str>, k: &testkeys::TestKey| {
        let mut a = json!({"name": name, "publicKeyData": k.spki_b64()});
        if let Some(id) = id {
            a["publicKeyId"] = json!(id);
        }
        a
    };
    let settings = json!({
        "attestationAuthorities": [
            authority("a", Some("ka"), &key),
            authority("b", Some("kb"), &other),
            authority("c", None, &other),
            authority("d", Some("kd"), &key),
        ],
        "attestationPolicies": [
            {"name": "both", "attestationAuthorityNames": ["a", "b"]},
            {"name": "either", "attestationAuthorityNames": ["c", "b", "d"], "require": "any"},
        ]
    });
    let (payload, _) = attestation(REPO, &[]);
    // `ka` names authority a but is made by another key (a bad
    // signature); `kx` names no authority: b, c and d are deferred.
    let (_, att) = attestation(
        REPO,
        &[
            ("ka", other.sign_pkcs1(&payload)),
            ("kx", key.sign_pkcs1(&payload)),
        ],
    );
    let (verdict, work) = run(&settings, &[att]);
    let Verdict::Reject(r) = verdict else {
        panic!("admitted")
    };
    let c_id = crate::keys::default_key_id(&other.spki_b64()).unwrap();
    assert_eq!(
        r.message(),
        format!(
            "image {REPO}@{DIGEST} is not attested: policy both requires authority a: \
             signature with key ka does not verify; policy both requires authority b: no \
             valid signature by its keys (kb); the attestations for this digest are signed \
             by ka, kx (unknown key id); policy either requires any one of its authorities: \
             authority c: no valid signature by its keys ({c_id}); the attestations for this \
             digest are signed by ka, kx (unknown key id); authority b: no valid signature by \
             its keys (kb); the attestations for this digest are signed by ka, kx (unknown \
             key id); authority d: no valid signature by its keys (kd); the attestations for \
             this digest are signed by ka, kx (unknown key id)"
        )
    );
    // Each authority examined once (a when judged, b, c and d when
    // explained), one verification (a's).
    assert_eq!(
        work,
        Work {
            digest_checks: 1,
            attestations_examined: 4,
            signatures_examined: 8,
            verifications: 1,
            verification_cost: 1,
            ..Work::default()
        }
    );
}
