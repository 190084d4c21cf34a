//! TEST TOOL: keyless-style signatures for `policy-harness sign --format
//! cosign --certificate …`, as `cosign sign` writes them after Fulcio and
//! Rekor answered: the layer carries the signature, the certificate, the
//! chain and a Rekor bundle whose `SignedEntryTimestamp` the given Rekor key
//! signs. The certificate, chain and Rekor key come from a private,
//! TEST-ONLY Sigstore instance (see `e2e-tests/keyless-instance.sh`); nothing
//! here talks to Fulcio or Rekor.
//!
//! The `--forge-*`/`--replay-from`/`--bundle-body-hash` options craft the
//! attack layers the policy must reject although policy-server's host
//! accepts them. They exist for tests only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, ensure, Context as _, Result};
use base64::Engine as _;
use clap::Args;
use sha2::{Digest as _, Sha256};

use super::bundle::{Bundle, Payload};
use super::trust::{hex, now};
use super::verify::{BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION};
use crate::oci::cosign::SIGNATURE_ANNOTATION;
use crate::sign::{RsaScheme, SigningKey};

/// `sign --format cosign` options for keyless-style signatures (TEST TOOL).
#[derive(Debug, Default, Args)]
pub struct KeylessSignArgs {
    /// TEST TOOL: the signer's certificate (PEM) for `--key`, written to
    /// `dev.sigstore.cosign/certificate` (a keyless-style signature).
    #[arg(long, value_name = "LEAF.pem")]
    pub certificate: Option<PathBuf>,
    /// TEST TOOL: the certificate's chain (PEM), written to `dev.sigstore.cosign/chain`.
    #[arg(long, value_name = "CHAIN.pem", requires = "certificate")]
    pub certificate_chain: Option<PathBuf>,
    /// TEST TOOL: a Rekor signing key (EC P-256 PEM): writes a
    /// `dev.sigstore.cosign/bundle` whose SignedEntryTimestamp it signs.
    #[arg(long, value_name = "REKOR.key", requires = "certificate")]
    pub rekor_key: Option<PathBuf>,
    /// TEST TOOL: the bundle's integratedTime (default: now).
    #[arg(
        long,
        value_name = "SECONDS",
        requires = "rekor_key",
        allow_hyphen_values = true
    )]
    pub integrated_time: Option<i64>,
    /// TEST ONLY (attack layer): the signature annotation is not a
    /// signature of this payload; certificate and bundle are genuine.
    #[arg(long, requires = "rekor_key")]
    pub forge_signature: bool,
    /// TEST ONLY (attack layer): signature, certificate and bundle are those
    /// of a signature of the payload naming this other digest (`sha256:HEX`),
    /// while the layer's payload names the image: a replayed layer.
    #[arg(long, value_name = "sha256:HEX", requires = "rekor_key")]
    pub replay_from: Option<String>,
    /// TEST ONLY (attack layer): the bundle's body names this SHA-256 (hex)
    /// instead of the payload's.
    #[arg(long, value_name = "HEX", requires = "rekor_key")]
    pub bundle_body_hash: Option<String>,
}

impl KeylessSignArgs {
    /// `true` when a keyless-style signature is asked for.
    pub fn is_keyless(&self) -> bool {
        self.certificate.is_some()
    }
}

/// The `hashedrekord` entry Rekor stores for a signature, base64 (the
/// bundle's `body`).
pub fn hashedrekord_body(payload_sha256_hex: &str, signature_b64: &str, cert_pem: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let entry = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": payload_sha256_hex}},
            "signature": {
                "content": signature_b64,
                "publicKey": {"content": b64.encode(cert_pem)}
            }
        }
    });
    b64.encode(entry.to_string())
}

/// A Rekor bundle for `body`, signed by `rekor` (EC P-256).
///
/// # Errors
/// `rekor` is not an EC P-256 key.
pub fn make_bundle(rekor: &SigningKey, body: String, integrated_time: i64) -> Result<Bundle> {
    use p256::pkcs8::EncodePublicKey as _;
    let SigningKey::P256(key) = rekor else {
        bail!("the Rekor key must be EC P-256");
    };
    let spki = key
        .verifying_key()
        .to_public_key_der()
        .context("cannot encode the Rekor public key")?;
    let payload = Payload {
        body,
        integrated_time,
        log_index: integrated_time.rem_euclid(1 << 20),
        log_id: hex(&Sha256::digest(spki.as_bytes())),
    };
    let set = rekor.sign(&payload.canonical(), None)?;
    Ok(Bundle {
        signed_entry_timestamp: base64::engine::general_purpose::STANDARD.encode(set),
        payload,
    })
}

fn read(path: &PathBuf, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))
}

/// The layer annotations of a keyless-style signature of `payload` by `key`.
/// `other_payload` is the payload of the replayed signature (`--replay-from`).
///
/// # Errors
/// Unreadable files, or a key that cannot sign.
pub fn keyless_annotations(
    args: &KeylessSignArgs,
    key: &SigningKey,
    payload: &[u8],
    other_payload: Option<&[u8]>,
) -> Result<BTreeMap<String, String>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert_path = args.certificate.as_ref().context("--certificate")?;
    let cert = read(cert_path, "certificate")?;
    ensure!(
        cert.contains("-----BEGIN CERTIFICATE-----"),
        "{} is not a PEM certificate",
        cert_path.display()
    );
    let signed = other_payload.unwrap_or(payload);
    let genuine = b64.encode(key.sign(signed, Some(RsaScheme::Pkcs1))?);
    let signature = if args.forge_signature {
        let mut other = signed.to_vec();
        other.extend_from_slice(b" forged");
        b64.encode(key.sign(&other, Some(RsaScheme::Pkcs1))?)
    } else {
        genuine.clone()
    };
    let mut annotations = BTreeMap::from([
        (SIGNATURE_ANNOTATION.to_owned(), signature),
        (CERTIFICATE_ANNOTATION.to_owned(), cert.clone()),
    ]);
    if let Some(path) = &args.certificate_chain {
        annotations.insert(
            CHAIN_ANNOTATION.to_owned(),
            read(path, "certificate chain")?,
        );
    }
    if let Some(path) = &args.rekor_key {
        let rekor = SigningKey::from_pem(&read(path, "Rekor key")?)
            .with_context(|| format!("invalid Rekor key {}", path.display()))?;
        let hash = match &args.bundle_body_hash {
            Some(h) => {
                ensure!(
                    h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()),
                    "--bundle-body-hash: expected 64 hex digits"
                );
                h.to_ascii_lowercase()
            }
            None => hex(&Sha256::digest(signed)),
        };
        let body = hashedrekord_body(&hash, &genuine, &cert);
        let bundle = make_bundle(&rekor, body, args.integrated_time.unwrap_or_else(now))?;
        annotations.insert(
            BUNDLE_ANNOTATION.to_owned(),
            serde_json::to_string(&bundle).context("cannot serialize the bundle")?,
        );
    }
    Ok(annotations)
}
