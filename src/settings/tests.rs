//! Tests of the settings as a whole: read, then checked by `validate`.

use super::*;
use crate::testkeys;
use serde_json::json;

fn check(v: serde_json::Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(&v).unwrap();
    Settings::from_slice(&bytes)?.validate()
}

fn authority(name: &str, id: &str) -> serde_json::Value {
    json!({"name": name, "publicKeyId": id, "publicKeyData": testkeys::rsa(2048).spki_b64()})
}

#[test]
fn minimal_settings_are_valid() {
    check(json!({"attestationAuthorities": [authority("demo-aa", "k1")]})).unwrap();
}

#[test]
fn the_full_contract_is_valid() {
    check(json!({
        "attestationAuthorities": [{
            "name": "demo-aa",
            "noteReference": "namespaces/demo-aa",
            "publicKeyId": "key-1",
            "publicKeyData": testkeys::rsa(2048).spki_b64(),
            "signatureAlgorithm": "RSA_PKCS1_SHA_256",
            "publicKeys": [
                {"publicKeyId": "key-2", "publicKeyData": testkeys::rsa(4096).pkcs1_pem},
                {"publicKeyData": testkeys::p256().spki_pem, "signatureAlgorithm": "ECDSA_SHA_256"}
            ]
        }],
        "attestationPolicies": [{"name": "demo-gap", "namespace": "default", "attestationAuthorityNames": ["demo-aa"], "require": "any"}],
        "admissionAllowlists": [{"name": "allow-acs-images", "patterns": [
            {"namePattern": "registry*.*.aliyuncs.com/acs/*"},
            {"namePattern": "registry-vpc.cn-beijing.aliyuncs.com/arms-docker-repo/*", "namespace": "default"}
        ]}],
        "allowBreakglass": true,
        "resolveTags": true,
        "mutateToDigest": false
    }))
    .unwrap();
}

fn err(v: serde_json::Value) -> String {
    check(v).unwrap_err()
}

#[test]
fn every_error_names_its_field() {
    assert_eq!(
        err(json!({})),
        "attestationAuthorities: at least one authority is required"
    );
    assert!(
        err(json!({"attestationAuthorities": [], "bogus": 1})).contains("unknown field `bogus`")
    );
    let e = err(json!({"attestationAuthorities": [{"name": "a", "publicKeyDta": "x"}]}));
    assert!(
        e.starts_with("attestationAuthorities[0].publicKeyDta: unknown field `publicKeyDta`"),
        "{e}"
    );
    // An authority written as an array is not read field by field.
    let e = err(json!({"attestationAuthorities": [["a", "a-key"]]}));
    assert!(
        e.starts_with(
            "attestationAuthorities[0]: invalid type: sequence, expected an attestation authority (an object)"
        ),
        "{e}"
    );
    let e = err(json!({
        "attestationAuthorities": [authority("a", "k1")],
        "attestationSources": ["annotation", 2],
    }));
    assert!(
        e.starts_with(
            "attestationSources[1]: invalid type: integer `2`, expected `annotation` or `registry`"
        ),
        "{e}"
    );
    let e = err(json!({"attestationAuthorities": [{"name": {"x": 1}}]}));
    assert!(
        e.starts_with("attestationAuthorities[0].name: invalid type: map, expected a string"),
        "{e}"
    );
    let e = err(json!({"attestationAuthorities": [authority("a", "k1"), authority("a", "k1")]}));
    assert!(
        e.contains("attestationAuthorities[1].name: duplicate authority name \"a\""),
        "{e}"
    );
    assert!(
        e.contains("attestationAuthorities[1].publicKeyId: duplicate key id \"k1\""),
        "{e}"
    );
    let e =
        err(json!({"attestationAuthorities": [{"name": "a", "publicKeyData": "bm90IHBlbQ=="}]}));
    assert_eq!(
        e,
        "attestationAuthorities[0].publicKeyData: not a PEM public key, nor base64 of one"
    );
    let e = err(
        json!({"attestationAuthorities": [{"name": "a", "publicKeyData": testkeys::rsa(1024).spki_pem}]}),
    );
    assert!(
        e.contains("attestationAuthorities[0].publicKeyData: the RSA key has 1024 bits"),
        "{e}"
    );
    let e = err(
        json!({"attestationAuthorities": [{"name": "a", "publicKeyData": testkeys::rsa(2048).spki_pem, "signatureAlgorithm": "RSA_PSS"}]}),
    );
    assert!(
        e.starts_with("attestationAuthorities[0].signatureAlgorithm: unknown signatureAlgorithm"),
        "{e}"
    );
    let e = err(
        json!({"attestationAuthorities": [{"name": "a", "publicKeys": [{"publicKeyData": testkeys::p256().spki_pem, "signatureAlgorithm": "RSA_PSS_SHA_256"}]}]}),
    );
    assert!(e.starts_with("attestationAuthorities[0].publicKeys[0].signatureAlgorithm: signatureAlgorithm RSA_PSS_SHA_256 does not fit an EC P-256 key"), "{e}");
    let e = err(json!({"attestationAuthorities": [{"name": "a"}]}));
    assert_eq!(
        e,
        "attestationAuthorities[0]: no public key: set publicKeyData or publicKeys (or one identity: keyless, githubActions or certificate)"
    );
}

#[test]
fn policy_errors() {
    let base = || json!([authority("a", "k1")]);
    let e = err(json!({"attestationAuthorities": base(), "attestationPolicies": []}));
    assert!(
        e.starts_with("attestationPolicies: must not be empty"),
        "{e}"
    );
    let e = err(
        json!({"attestationAuthorities": base(), "attestationPolicies": [{"name": "p", "attestationAuthorityNames": []}]}),
    );
    assert!(
        e.starts_with(
            "attestationPolicies[0].attestationAuthorityNames: must list at least one authority"
        ),
        "{e}"
    );
    let e = err(
        json!({"attestationAuthorities": base(), "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a", "b", "a"]}]}),
    );
    assert!(
        e.contains("attestationPolicies[0].attestationAuthorityNames[1]: no authority named \"b\""),
        "{e}"
    );
    assert!(
        e.contains(
            "attestationPolicies[0].attestationAuthorityNames[2]: authority \"a\" is listed twice"
        ),
        "{e}"
    );
    let e = err(
        json!({"attestationAuthorities": base(), "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"], "require": "some"}]}),
    );
    assert!(
        e.starts_with("attestationPolicies[0].require: unknown variant `some`"),
        "{e}"
    );
}

#[test]
fn allowlist_errors() {
    let e = err(
        json!({"attestationAuthorities": [authority("a", "k1")], "admissionAllowlists": [{"patterns": [{"namePattern": ""}, {"namePattern": "x", "namespace": ""}]}]}),
    );
    assert!(
        e.contains("admissionAllowlists[0].patterns[0].namePattern: must not be empty"),
        "{e}"
    );
    assert!(
        e.contains("admissionAllowlists[0].patterns[1].namespace: must not be empty"),
        "{e}"
    );
    let e = err(
        json!({"attestationAuthorities": [authority("a", "k1")], "admissionAllowlists": [{"patterns": [{"name": "x"}]}]}),
    );
    assert!(
        e.starts_with("admissionAllowlists[0].patterns[0].name: unknown field `name`"),
        "{e}"
    );
}

#[test]
fn a_repeated_name_names_the_nearest_authority_before_it() {
    let text = json!({
        "attestationAuthorities": [
            authority("a", "k1"), authority("b", "k2"), authority("a", "k3"),
            authority("", "k4"), authority("a", "k5"), authority("b", "k6"),
        ],
        "attestationPolicies": [
            {"name": "p", "attestationAuthorityNames": ["a", "b", "c", ""]},
        ]
    })
    .to_string();
    let settings = Settings::from_str(&text).unwrap();
    assert_eq!(
        settings.structural_errors(),
        [
            "attestationAuthorities[2].name: duplicate authority name \"a\" (also attestationAuthorities[0])",
            "attestationAuthorities[3].name: must not be empty",
            "attestationAuthorities[4].name: duplicate authority name \"a\" (also attestationAuthorities[2])",
            "attestationAuthorities[5].name: duplicate authority name \"b\" (also attestationAuthorities[1])",
            "attestationPolicies[0].attestationAuthorityNames[2]: no authority named \"c\"",
            "attestationPolicies[0].attestationAuthorityNames[3]: no authority named \"\"",
        ]
    );
}

#[test]
fn default_key_ids_collide_too() {
    let k = testkeys::rsa(2048);
    let e = err(json!({"attestationAuthorities": [
        {"name": "a", "publicKeyData": k.spki_pem},
        {"name": "b", "publicKeyData": k.pkcs1_b64()}
    ]}));
    assert!(
        e.contains("attestationAuthorities[1].publicKeyId: duplicate key id \"ni:///sha-256;"),
        "{e}"
    );
}
