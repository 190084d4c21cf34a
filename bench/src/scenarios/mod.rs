//! The scenarios: settings and `validate` payloads generated in-process with
//! the TEST-ONLY keys (`testkit::keys`), real signatures
//! (`policy_harness::sign`) and requests shaped like the API server's
//! (`testkit::objects`).

use std::path::Path;

use anyhow::{Context, Result};
use policy_harness::host::capabilities::Fixture;
use policy_harness::sign::{
    attest, payload_for, DigestReference, KeySignature, SignedAttestation, SigningKey,
};
use serde_json::{json, Value};
use testkit::keys::KeyDir;
use testkit::objects::{self, admission_request, container, image};

mod build;
mod golden;
#[cfg(test)]
mod tests;

pub use build::MANY_IMAGES;
use build::{
    allowlisted, many_authorities, many_containers, many_images, registry_source, rejected,
    signature_slope, single_image,
};
use golden::keyless;
pub(crate) use golden::{Golden, KEYLESS_CASE};

/// Extra signatures (all failing) of the per-signature scenarios: the cost of
/// one verification is the slope between 1 and 1 + this many signatures.
/// One less than the policy's limit of failed verifications per request
/// (`MAX_FAILED_VERIFICATIONS`), so the last, valid signature is still
/// checked.
pub const EXTRA_SIGNATURES: usize =
    kritis_attestation_policy::evaluate::MAX_FAILED_VERIFICATIONS as usize - 1;

/// The repository of the single-image scenarios.
pub(crate) const APP: &str = "registry.example.com/team/app";

/// Which table a scenario belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The scenarios of the issue: fresh, warm and native.
    Main,
    /// Per-signature slope scenarios: warm and native only.
    Signature,
    /// The costliest requests up to the API server's 3 MiB (issue 25):
    /// fresh, warm and native, judged on the worst fresh median.
    Bounds,
}

/// A signature scheme whose verification cost is measured on its own (the
/// slope scenarios) and compared with OpenSSL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSA-2048, PKCS#1 v1.5, SHA-256.
    Rsa2048,
    /// RSA-4096, PKCS#1 v1.5, SHA-256.
    Rsa4096,
    /// ECDSA P-256, SHA-256.
    P256,
}

impl Scheme {
    /// Every scheme, in the order of the report.
    pub const ALL: [Scheme; 3] = [Scheme::Rsa2048, Scheme::Rsa4096, Scheme::P256];

    /// `RSA-2048`, `P-256`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Scheme::Rsa2048 => "RSA-2048",
            Scheme::Rsa4096 => "RSA-4096",
            Scheme::P256 => "P-256",
        }
    }

    /// Ids of the slope scenarios: 1 signature, 1 + [`EXTRA_SIGNATURES`].
    #[must_use]
    pub fn slope_ids(self) -> (&'static str, &'static str) {
        match self {
            Scheme::Rsa2048 => ("sig-rsa2048-1", "sig-rsa2048-k"),
            Scheme::Rsa4096 => ("sig-rsa4096-1", "sig-rsa4096-k"),
            Scheme::P256 => ("sig-p256-1", "sig-p256-k"),
        }
    }

    /// The authority's `signatureAlgorithm`, pinned so a failed RSA check
    /// does not retry PSS.
    fn settings_algorithm(self) -> &'static str {
        match self {
            Scheme::Rsa2048 | Scheme::Rsa4096 => "RSA_PKCS1_SHA_256",
            Scheme::P256 => "ECDSA_SHA_256",
        }
    }
}

/// One scenario: what the host sends, and the verdict it must get.
#[derive(Debug)]
pub struct Scenario {
    /// Id in the results (`1`, `3a`, `sig-p256-k`…).
    pub id: &'static str,
    /// What the row says.
    pub title: String,
    /// Its table.
    pub group: Group,
    /// The settings (for `validate_settings`).
    pub settings: Vec<u8>,
    /// `{"request": …, "settings": …}`, exactly what the host sends.
    pub payload: Vec<u8>,
    /// Whether the request must be admitted.
    pub expect_allowed: bool,
    /// What the host answers to `oci`/`v2/verify` (registry source).
    pub registry: Vec<RegistryAnswer>,
    /// Other host answers, in the harness's fixture format (keyless
    /// `oci`/`v2/verify` and `oci`/`v1/oci_manifest`); the native side
    /// answers from the same entries.
    pub fixtures: Vec<Fixture>,
    /// The signature scheme whose verifications dominate a worst-case
    /// candidate (for its profile).
    pub verify_scheme: Option<Scheme>,
    /// Distinct images of a worst-case candidate (for its profile).
    pub images: usize,
}

/// One `oci`/`v2/verify` answer of the fixture host: `image` verifies with
/// `pub_key` (SPKI PEM, as the policy sends it) for `digest`.
#[derive(Debug, Clone)]
pub struct RegistryAnswer {
    /// The image as the policy names it.
    pub image: String,
    /// The one key of the call.
    pub pub_key: String,
    /// The digest the host verified.
    pub digest: String,
}

impl Scenario {
    pub(crate) fn new(
        id: &'static str,
        title: impl Into<String>,
        group: Group,
        settings: Value,
        request: Value,
        expect_allowed: bool,
    ) -> Result<Self> {
        Ok(Self {
            id,
            title: title.into(),
            group,
            settings: serde_json::to_vec(&settings)?,
            payload: objects::validate_payload(request, settings),
            expect_allowed,
            registry: Vec::new(),
            fixtures: Vec::new(),
            verify_scheme: None,
            images: 0,
        })
    }
}

/// A TEST-ONLY key: private half to sign, public half for the settings.
pub struct BenchKey {
    signer: SigningKey,
    /// Standard base64 of the public PEM, as ACK documents `publicKeyData`.
    public_b64: String,
}

impl BenchKey {
    fn load(dir: &KeyDir, name: &str) -> Result<Self> {
        let signer = SigningKey::from_pem(&dir.private_pem(name)?)
            .with_context(|| format!("invalid key {name}.key.pem"))?;
        Ok(Self {
            signer,
            public_b64: dir.public_b64(name)?,
        })
    }

    /// A signed attestation for `image` (`REPO@sha256:HEX`).
    pub(crate) fn attest(&self, key_id: &str, image: &str) -> Result<SignedAttestation> {
        let payload = payload_for(&DigestReference::parse(image)?, None)?;
        attest(&self.signer, key_id, &payload, None)
    }

    /// Standard base64 of the public PEM.
    pub(crate) fn public_b64(&self) -> &str {
        &self.public_b64
    }

    /// This key as the authority `name` of the settings.
    pub(crate) fn authority(&self, name: &str, key_id: &str) -> Value {
        objects::authority(name, key_id, &self.public_b64)
    }
}

/// The keys the scenarios sign with.
pub struct Keys {
    pub(crate) rsa2048: BenchKey,
    pub(crate) rsa2048b: BenchKey,
    pub(crate) rsa4096: BenchKey,
    pub(crate) p256: BenchKey,
    pub(crate) p384: BenchKey,
}

impl Keys {
    /// Reads `rsa2048`, `rsa2048b`, `rsa4096`, `p256` and `p384` from `dir`.
    ///
    /// # Errors
    ///
    /// A key file cannot be read or is no private key.
    pub fn load(dir: &KeyDir) -> Result<Self> {
        Ok(Self {
            rsa2048: BenchKey::load(dir, "rsa2048")?,
            rsa2048b: BenchKey::load(dir, "rsa2048b")?,
            rsa4096: BenchKey::load(dir, "rsa4096")?,
            p256: BenchKey::load(dir, "p256")?,
            p384: BenchKey::load(dir, "p384")?,
        })
    }

    fn of(&self, scheme: Scheme) -> &BenchKey {
        match scheme {
            Scheme::Rsa2048 => &self.rsa2048,
            Scheme::Rsa4096 => &self.rsa4096,
            Scheme::P256 => &self.p256,
        }
    }
}

/// The attestations annotation's value, `None` for no attestation.
fn annotation(attestations: &[SignedAttestation]) -> Result<Option<String>> {
    if attestations.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::to_string(attestations)?))
}

/// A Pod AdmissionRequest for `containers` carrying `attestations`.
pub(crate) fn pod_request(
    containers: Vec<Value>,
    attestations: &[SignedAttestation],
) -> Result<Value> {
    let pod = objects::pod(containers, annotation(attestations)?);
    Ok(admission_request("", "Pod", "pods", pod))
}

/// Settings with one authority `a` and one policy requiring it.
pub(crate) fn one_authority_settings(authority: Value) -> Value {
    json!({
        "attestationAuthorities": [authority],
        "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}]
    })
}

/// Every scenario, in the order of the report.
///
/// # Errors
///
/// Signing failed.
pub fn all(keys: &Keys) -> Result<Vec<Scenario>> {
    let mut out = vec![
        single_image(
            "1",
            "Pod, 1 image, 1 RSA-2048 authority (PKCS#1 v1.5)",
            &keys.rsa2048,
        )?,
        many_containers(keys)?,
        allowlisted("3a", 10_000, keys)?,
        allowlisted("3b", 1, keys)?,
        many_images(keys)?,
        many_authorities(keys)?,
        rejected(keys)?,
        single_image(
            "7a",
            "Pod, 1 image, 1 EC P-256 authority (ECDSA SHA-256)",
            &keys.p256,
        )?,
        single_image(
            "7b",
            "Pod, 1 image, 1 RSA-4096 authority (PKCS#1 v1.5)",
            &keys.rsa4096,
        )?,
        single_image(
            "7c",
            "Pod, 1 image, 1 EC P-384 authority (ECDSA SHA-384)",
            &keys.p384,
        )?,
        registry_source(keys)?,
        keyless()?,
        crate::live::demo()?,
        crate::live::many(keys)?,
    ];
    for scheme in Scheme::ALL {
        out.extend(signature_slope(scheme, keys.of(scheme))?);
    }
    out.extend(crate::worst::candidates(keys)?);
    Ok(out)
}
