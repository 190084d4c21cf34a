//! The public keys a cosign signature is checked with. A leaf.

use anyhow::{bail, Result};

/// A public key a cosign signature is checked with. The scheme follows the
/// key, as sigstore-rs's `CosignVerificationKey::try_from_pem` does.
#[derive(Debug, Clone)]
pub enum CosignKey {
    /// RSA, RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<sha2::Sha256>>),
    /// EC P-256, ECDSA with SHA-256, DER signature.
    P256(p256::ecdsa::VerifyingKey),
    /// EC P-384, ECDSA with SHA-384, DER signature.
    P384(p384::ecdsa::VerifyingKey),
}

impl CosignKey {
    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`) RSA, P-256 or P-384 key.
    ///
    /// # Errors
    /// Anything else (other labels, curves or algorithms).
    pub fn from_pem(pem: &str) -> Result<Self> {
        use p256::pkcs8::DecodePublicKey as _;
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::P256(key));
        }
        if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::P384(key));
        }
        match rsa::PublicKey::from_public_key_pem(pem) {
            Ok(key) => Ok(Self::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(key)))),
            Err(e) => bail!(
                "not an RSA, EC P-256 or EC P-384 public key in SPKI PEM (\"PUBLIC KEY\"): {e}"
            ),
        }
    }

    /// `RSA`, `EC P-256` or `EC P-384`.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RSA",
            Self::P256(_) => "EC P-256",
            Self::P384(_) => "EC P-384",
        }
    }

    /// `true` when `signature` (raw bytes) is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        use rsa::signature::Verifier as _;
        match self {
            Self::Rsa(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|s| key.verify(message, &s).is_ok()),
            Self::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify(message, &s).is_ok()),
            Self::P384(key) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify(message, &s).is_ok()),
        }
    }
}
