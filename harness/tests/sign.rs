//! `policy-harness sign`: attestation format, payload bytes, and signatures
//! checked against the public keys (RustCrypto, and openssl when present).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");
const HEX: &str = "4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1";

fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keys")
        .join(name)
}

fn sign(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("sign")
        .args(args)
        .output()
        .expect("run policy-harness sign")
}

struct Signed {
    payload: Vec<u8>,
    signature: Vec<u8>,
    key_id: String,
}

fn sign_ok(args: &[&str]) -> Signed {
    let output = sign(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout:?}");
    let v: Value = serde_json::from_str(&stdout).expect("JSON attestation");
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), 3, "{v}");
    assert_eq!(v["contentType"], "SIMPLE_SIGNING_JSON");
    let sigs = v["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].as_object().expect("sig").len(), 2);
    let b64 = base64::engine::general_purpose::STANDARD;
    Signed {
        payload: b64
            .decode(v["serializedPayload"].as_str().expect("payload"))
            .expect("base64 payload"),
        signature: b64
            .decode(sigs[0]["signature"].as_str().expect("signature"))
            .expect("base64 sig"),
        key_id: sigs[0]["publicKeyId"].as_str().expect("key id").to_owned(),
    }
}

fn expected_payload(repo: &str) -> String {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"sha256:{HEX}"}},"type":"atomic container signature"}}}}"#
    )
}

fn verify_rsa_pkcs1(payload: &[u8], sig: &[u8]) -> bool {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::Verifier as _;
    let pem = std::fs::read_to_string(key("rsa.pub")).expect("pub");
    let pk = rsa::PublicKey::from_public_key_pem(&pem).expect("rsa pub");
    let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(pk);
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

fn verify_rsa_pss(payload: &[u8], sig: &[u8]) -> bool {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::Verifier as _;
    let pem = std::fs::read_to_string(key("rsa.pub")).expect("pub");
    let pk = rsa::PublicKey::from_public_key_pem(&pem).expect("rsa pub");
    let vk = rsa::pss::VerifyingKey::<sha2::Sha256>::new(pk);
    let Ok(sig) = rsa::pss::Signature::try_from(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

fn verify_p256(payload: &[u8], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let pem = std::fs::read_to_string(key("ec-p256.pub")).expect("pub");
    let vk = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).expect("p256 pub");
    let Ok(sig) = p256::ecdsa::Signature::from_der(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

fn verify_p384(payload: &[u8], sig: &[u8]) -> bool {
    use p384::ecdsa::signature::Verifier as _;
    use p384::pkcs8::DecodePublicKey as _;
    let pem = std::fs::read_to_string(key("ec-p384.pub")).expect("pub");
    let vk = p384::ecdsa::VerifyingKey::from_public_key_pem(&pem).expect("p384 pub");
    let Ok(sig) = p384::ecdsa::Signature::from_der(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

/// Independent check with the openssl CLI, when installed.
fn openssl_verifies(
    pubkey: &str,
    digest: &str,
    pss: bool,
    payload: &[u8],
    sig: &[u8],
) -> Option<bool> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not found: skipping the openssl cross-check");
        return None;
    }
    let dir = TempDir::new("openssl");
    let data = dir.write("payload", payload);
    let sigf = dir.write("sig", sig);
    let mut cmd = Command::new("openssl");
    cmd.args(["dgst", digest, "-verify"])
        .arg(key(pubkey))
        .arg("-signature")
        .arg(&sigf);
    if pss {
        cmd.args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
        ]);
    }
    let out = cmd.arg(&data).output().expect("run openssl");
    Some(out.status.success())
}

#[test]
fn rsa_pkcs1_from_pkcs8_and_pkcs1_keys() {
    for file in ["rsa-pkcs8.pem", "rsa-pkcs1.pem"] {
        let image = format!("ghcr.io/org/app:1.0@sha256:{HEX}");
        let s = sign_ok(&[
            "--key",
            &key(file).display().to_string(),
            "--key-id",
            "rsa-key",
            "--image",
            &image,
        ]);
        assert_eq!(
            String::from_utf8(s.payload.clone()).expect("utf8"),
            expected_payload("ghcr.io/org/app")
        );
        assert_eq!(s.key_id, "rsa-key");
        assert_eq!(s.signature.len(), 256);
        assert!(verify_rsa_pkcs1(&s.payload, &s.signature), "{file}");
        assert!(!verify_rsa_pss(&s.payload, &s.signature), "{file}: not PSS");
        if let Some(ok) = openssl_verifies("rsa.pub", "-sha256", false, &s.payload, &s.signature) {
            assert!(ok, "openssl rejects the {file} signature");
        }
    }
}

#[test]
fn rsa_pss() {
    let image = format!("registry.local:5000/team/app@sha256:{HEX}");
    let s = sign_ok(&[
        "--key",
        &key("rsa-pkcs8.pem").display().to_string(),
        "--key-id",
        "k",
        "--image",
        &image,
        "--scheme",
        "pss",
    ]);
    assert_eq!(
        String::from_utf8(s.payload.clone()).expect("utf8"),
        expected_payload("registry.local:5000/team/app")
    );
    assert!(verify_rsa_pss(&s.payload, &s.signature));
    assert!(!verify_rsa_pkcs1(&s.payload, &s.signature));
    if let Some(ok) = openssl_verifies("rsa.pub", "-sha256", true, &s.payload, &s.signature) {
        assert!(ok, "openssl rejects the PSS signature");
    }
}

#[test]
fn ecdsa_p256_and_p384_from_pkcs8_and_sec1_keys() {
    let image = format!("ghcr.io/org/app@sha256:{HEX}");
    for (file, verify, pubkey, digest) in [
        (
            "ec-p256-pkcs8.pem",
            verify_p256 as fn(&[u8], &[u8]) -> bool,
            "ec-p256.pub",
            "-sha256",
        ),
        ("ec-p256-sec1.pem", verify_p256, "ec-p256.pub", "-sha256"),
        ("ec-p384-pkcs8.pem", verify_p384, "ec-p384.pub", "-sha384"),
        (
            "ec-p384-sec1-with-params.pem",
            verify_p384,
            "ec-p384.pub",
            "-sha384",
        ),
    ] {
        let s = sign_ok(&[
            "--key",
            &key(file).display().to_string(),
            "--key-id",
            "ec",
            "--image",
            &image,
        ]);
        assert_eq!(
            String::from_utf8(s.payload.clone()).expect("utf8"),
            expected_payload("ghcr.io/org/app")
        );
        assert_eq!(s.signature.first(), Some(&0x30), "{file}: DER SEQUENCE");
        assert!(verify(&s.payload, &s.signature), "{file}");
        if let Some(ok) = openssl_verifies(pubkey, digest, false, &s.payload, &s.signature) {
            assert!(ok, "openssl rejects the {file} signature");
        }
    }
}

#[test]
fn identity_override_and_arbitrary_payload() {
    let image = format!("ghcr.io/org/app@sha256:{HEX}");
    let s = sign_ok(&[
        "--key",
        &key("ec-p256-pkcs8.pem").display().to_string(),
        "--key-id",
        "ec",
        "--image",
        &image,
        "--identity",
        "docker.io/evil/app",
    ]);
    assert_eq!(
        String::from_utf8(s.payload).expect("utf8"),
        expected_payload("docker.io/evil/app")
    );

    let dir = TempDir::new("payload");
    let raw = b"{\"critical\": \"not what you think\"}\n\xff";
    let path = dir.write("payload.bin", raw);
    let s = sign_ok(&[
        "--key",
        &key("rsa-pkcs1.pem").display().to_string(),
        "--key-id",
        "rsa",
        "--payload",
        &path.display().to_string(),
    ]);
    assert_eq!(s.payload, raw);
    assert!(verify_rsa_pkcs1(&s.payload, &s.signature));
}

#[test]
fn bad_keys_and_images_fail_clearly() {
    let dir = TempDir::new("badkeys");
    let garbage = dir.write("garbage.pem", "not a key").display().to_string();
    let rsa = key("rsa-pkcs8.pem").display().to_string();
    let ec = key("ec-p256-pkcs8.pem").display().to_string();
    let ed = key("ed25519.pem").display().to_string();
    let good = format!("ghcr.io/org/app@sha256:{HEX}");
    let checks: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--key", &garbage, "--key-id", "k", "--image", &good],
            "no private key found",
        ),
        (
            vec!["--key", &ed, "--key-id", "k", "--image", &good],
            "unsupported PKCS#8 private key",
        ),
        (
            vec![
                "--key",
                "/nonexistent.pem",
                "--key-id",
                "k",
                "--image",
                &good,
            ],
            "cannot read key file",
        ),
        (
            vec![
                "--key",
                &rsa,
                "--key-id",
                "k",
                "--image",
                "ghcr.io/org/app:1",
            ],
            "has no digest",
        ),
        (
            vec![
                "--key",
                &rsa,
                "--key-id",
                "k",
                "--image",
                "ghcr.io/org/app@sha256:abc",
            ],
            "64 lowercase hex",
        ),
        (
            vec![
                "--key", &ec, "--key-id", "k", "--image", &good, "--scheme", "pss",
            ],
            "RSA keys only",
        ),
        (
            vec![
                "--key", &rsa, "--key-id", "k", "--image", &good, "--scheme", "bogus",
            ],
            "unknown signature scheme",
        ),
    ];
    for (args, needle) in checks {
        let output = sign(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
    // Neither --image nor --payload: usage error.
    assert!(!sign(&["--key", &rsa, "--key-id", "k"]).status.success());
}
