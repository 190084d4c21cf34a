//! Why a verification fails: [`VerifyError`], and for each key that is not
//! satisfied, [`UnmetKey`].

use std::fmt;

use super::format::PUB_KEY_VERIFY;
use super::text::listed;

/// Why a verification failed (the host error's text is its `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The payload is not a `SigstorePubKeyVerify` request.
    BadRequest(String),
    /// Another `v2/verify` type (keyless, certificate, GitHub Actions…).
    UnsupportedType(String),
    /// A key of the request cannot be used.
    BadKey {
        /// Index in `pub_keys`.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The image is not a valid reference, or its digest cannot be resolved.
    Image {
        /// The image as requested.
        image: String,
        /// What went wrong.
        reason: String,
    },
    /// No `.sig` manifest could be fetched for the digest. Its text starts
    /// as policy-fetcher's (`no signatures found for image: <image> `, the
    /// image fully qualified), so a `messageContains` written against kwctl
    /// matches; the `.sig` tag and the registry's answer follow.
    NoSignatures {
        /// The image, fully qualified (`HOST/REPO:TAG`, `HOST/REPO@sha256:…`).
        image: String,
        /// `REPO:sha256-HEX.sig`.
        signature_ref: String,
        /// The registry's answer.
        reason: String,
    },
    /// The `.sig` manifest or one of its layers is unusable: the whole lookup fails.
    BadSignatureManifest {
        /// `REPO:sha256-HEX.sig`.
        signature_ref: String,
        /// What is wrong.
        reason: String,
    },
    /// Some keys signed no acceptable layer.
    Unsatisfied {
        /// The image as requested.
        image: String,
        /// Its digest.
        digest: String,
        /// `REPO:sha256-HEX.sig`.
        signature_ref: String,
        /// One entry per key that is not satisfied.
        unmet: Vec<UnmetKey>,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest(reason) => {
                write!(
                    f,
                    "oci/v2/verify: invalid SigstorePubKeyVerify request: {reason}"
                )
            }
            Self::UnsupportedType(kind) => write!(
                f,
                "oci/v2/verify: type {kind} is not served by policy-harness (only {PUB_KEY_VERIFY})"
            ),
            Self::BadKey { index, reason } => write!(f, "pub_keys[{index}]: {reason}"),
            Self::Image { image, reason } => write!(f, "image {image}: {reason}"),
            Self::NoSignatures {
                image,
                signature_ref,
                reason,
            } => write!(
                f,
                "no signatures found for image: {image} (no cosign signature manifest \
                 {signature_ref}: {reason})"
            ),
            Self::BadSignatureManifest {
                signature_ref,
                reason,
            } => write!(f, "signature manifest {signature_ref}: {reason}"),
            Self::Unsatisfied {
                image,
                digest,
                signature_ref,
                unmet,
            } => {
                // The reason first: policies cut host errors (this one's
                // quotes 200 characters), and the image is in their message.
                for (i, u) in unmet.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{u}")?;
                }
                write!(
                    f,
                    " (image verification failed for {image}, {digest}, signatures in {signature_ref})"
                )
            }
        }
    }
}

impl std::error::Error for VerifyError {}

/// Why one key is not satisfied, from the most telling layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmetKey {
    /// Index in `pub_keys`.
    pub index: usize,
    /// `RSA`, `EC P-256`, `EC P-384`.
    pub key: &'static str,
    /// What the layers lack.
    pub reason: Unmet,
}

/// What a key's layers lack. Ordered from "signed nothing" to "almost".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unmet {
    /// No layer's signature verifies with the key.
    NotSigned {
        /// Number of layers.
        layers: usize,
    },
    /// A layer it signed is not a simple-signing payload.
    BadPayload(String),
    /// The layers it signed name other digests (e.g. a `.sig` copied from another image).
    OtherDigest(Vec<String>),
    /// A layer it signed for this digest lacks requested annotations.
    MissingAnnotations(Vec<(String, String)>),
}

impl fmt::Display for UnmetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pub_keys[{}] ({}): ", self.index, self.key)?;
        match &self.reason {
            Unmet::NotSigned { layers } => {
                write!(f, "no layer verifies with this key ({layers} layer(s))")
            }
            Unmet::BadPayload(reason) => write!(
                f,
                "the layer signed with it is not a cosign simple-signing payload: {reason}"
            ),
            Unmet::OtherDigest(digests) => write!(
                f,
                "digest mismatch: the layer(s) signed with it name {}",
                listed(digests)
            ),
            Unmet::MissingAnnotations(missing) => {
                let pairs: Vec<String> = missing.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(
                    f,
                    "annotation(s) missing from the payload it signed: {}",
                    listed(&pairs)
                )
            }
        }
    }
}
