//! Cosign signatures stored in an OCI registry, in the `.sig` format that
//! Kubewarden 1.31 reads (policy-evaluator 0.30.4, sigstore-rs 0.13): the
//! `kubewarden`/`oci`/`v2/verify` host capability with
//! `{"type":"SigstorePubKeyVerify",…}`, answered live under
//! `run --allow-network`, and `policy-harness sign --format cosign --push`.
//!
//! The format (cosign's `sign --key … --tlog-upload=false`): the signatures
//! of the image `REPO@sha256:HEX` are the layers of the OCI image manifest
//! tagged `REPO:sha256-HEX.sig`. Each layer is a simple-signing payload
//! (media type [`SIMPLE_SIGNING_MEDIA_TYPE`]):
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"REPO"},
//!              "image":{"docker-manifest-digest":"sha256:HEX"},
//!              "type":"cosign container image signature"},
//!  "optional":{"k":"v"}}
//! ```
//!
//! and carries in its annotation [`SIGNATURE_ANNOTATION`] the standard base64
//! of a signature over the blob's exact bytes: RSA PKCS#1 v1.5 SHA-256, ECDSA
//! P-256 SHA-256 or P-384 SHA-384 (DER).
//!
//! Verification, as the real host does it: resolve the image's digest; fetch
//! the `.sig` manifest (any error: no signatures); every layer must have the
//! simple-signing media type (else the whole lookup fails); each blob must
//! match its descriptor's digest; then each requested key must have signed
//! some layer whose payload names the digest and whose `optional` map holds
//! every requested annotation. Like the real host, `docker-reference` and
//! `critical.type` are not compared. The I/O sits behind [`SignatureStore`];
//! [`unmet_keys`] is pure and returns what is missing.
//!
//! Everything read from the registry is bounded ([`MAX_MANIFEST_BYTES`],
//! [`MAX_LAYERS`], [`MAX_BLOB_BYTES`]) and checked before use.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use base64::Engine as _;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::oci::sha256_digest;

/// Makes the registry client for a reference (`RegistryOptions::client`:
/// plain HTTP or HTTPS, extra CA certificates, timeouts).
pub type Connect<'a> = &'a dyn Fn(&Reference) -> Result<Client>;

/// Media type of a cosign signature layer (a simple-signing payload).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` that cosign writes (not checked when verifying).
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";
/// Media type of the config of a `.sig` manifest.
pub const SIGNATURE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The only request type served: verification with public keys.
pub const PUB_KEY_VERIFY: &str = "SigstorePubKeyVerify";

/// Largest `.sig` manifest read (the distribution spec's 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Most layers a `.sig` manifest may have.
pub const MAX_LAYERS: usize = 64;
/// Largest signature payload (layer blob) read.
pub const MAX_BLOB_BYTES: usize = 1 << 20;
/// Most keys one request may carry.
pub const MAX_KEYS: usize = 64;

// ---------------------------------------------------------------------------
// Request and response

/// The payload of `oci`/`v2/verify` with `"type": "SigstorePubKeyVerify"`
/// (kubewarden-policy-sdk's `SigstoreVerificationInputV2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubKeyVerify {
    /// The image, as the policy sees it (tag or digest).
    pub image: String,
    /// SPKI PEM public keys; each must have signed the image.
    pub pub_keys: Vec<String>,
    /// Annotations every accepted signature must carry in `optional`.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The answer of a successful verification (the SDK's `VerificationResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationResponse {
    /// Always `true` in an answer: a failure is a host error.
    pub is_trusted: bool,
    /// The verified manifest digest.
    pub digest: String,
}

/// Parses a `v2/verify` payload; only `SigstorePubKeyVerify` is served.
///
/// # Errors
/// Not JSON, no `type`, another type, or fields of the wrong shape.
pub fn parse_request(payload: &[u8]) -> Result<PubKeyVerify, VerifyError> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| VerifyError::BadRequest(format!("not JSON: {e}")))?;
    match value.get("type").and_then(Value::as_str) {
        Some(PUB_KEY_VERIFY) => {}
        Some(other) => return Err(VerifyError::UnsupportedType(shown(other))),
        None => {
            return Err(VerifyError::BadRequest(
                "no \"type\" (expected \"SigstorePubKeyVerify\")".to_owned(),
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| VerifyError::BadRequest(e.to_string()))
}

// ---------------------------------------------------------------------------
// Keys

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

// ---------------------------------------------------------------------------
// Errors

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
    /// No `.sig` manifest could be fetched for the digest.
    NoSignatures {
        /// The image as requested.
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
                "no signatures found for image {image}: no cosign signature manifest \
                 {signature_ref} ({reason})"
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

/// At most 4 items, then `and N more`.
fn listed(items: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut out = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        out.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    out
}

/// Registry- or user-supplied text for a message: escaped, at most 100 characters.
fn shown(text: &str) -> String {
    const MAX: usize = 100;
    let escaped: String = text.escape_debug().collect();
    let mut out: String = escaped.chars().take(MAX).collect();
    if escaped.chars().count() > MAX {
        out.push('…');
    }
    format!("\"{out}\"")
}

// ---------------------------------------------------------------------------
// The payload and the pure check

/// The simple-signing payload, in the shape sigstore-rs 0.13 requires (every
/// `critical` field present and a string; `optional` absent, null or an
/// object whose `creator`/`timestamp`, when present, are a string/an integer).
#[derive(Debug, Deserialize)]
struct SimpleSigning {
    critical: Critical,
    #[serde(default)]
    optional: Option<Optional>,
}

#[derive(Debug, Deserialize)]
struct Critical {
    #[allow(dead_code)] // required, not compared (as in the real host)
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    #[allow(dead_code)] // required, not compared (as in the real host)
    kind: String,
}

#[derive(Debug, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    #[allow(dead_code)]
    docker_reference: String,
}

#[derive(Debug, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Debug, Deserialize)]
struct Optional {
    #[serde(default)]
    #[allow(dead_code)]
    creator: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    timestamp: Option<i64>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

/// The requested annotations a payload's `optional` lacks (sigstore-rs's
/// rule: strings compare as they are, numbers and booleans by their JSON
/// text; `creator` and `timestamp` are not annotations).
fn missing_annotations(
    optional: Option<&Optional>,
    wanted: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    wanted
        .iter()
        .filter(|(k, v)| {
            let present = optional.and_then(|o| o.extra.get(*k));
            let matches = match present {
                Some(Value::String(s)) => s == *v,
                Some(Value::Number(n)) => n.to_string() == **v,
                Some(Value::Bool(b)) => b.to_string() == **v,
                _ => false,
            };
            !matches
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A layer of a `.sig` manifest, with its blob (whose digest was checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The blob's digest.
    pub digest: String,
    /// The layer's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The payload, exactly as stored.
    pub blob: Vec<u8>,
}

impl SignatureLayer {
    /// What this layer says for `key`: signature first, then the payload,
    /// then its claims.
    fn outcome(
        &self,
        key: &CosignKey,
        digest: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Option<Unmet> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let signed = self
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(|s| b64.decode(s).ok())
            .is_some_and(|signature| key.verifies(&self.blob, &signature));
        if !signed {
            return Some(Unmet::NotSigned { layers: 1 });
        }
        let payload: SimpleSigning = match serde_json::from_slice(&self.blob) {
            Ok(p) => p,
            Err(e) => return Some(Unmet::BadPayload(e.to_string())),
        };
        if payload.critical.image.docker_manifest_digest != digest {
            return Some(Unmet::OtherDigest(vec![shown(
                &payload.critical.image.docker_manifest_digest,
            )]));
        }
        let missing = missing_annotations(payload.optional.as_ref(), annotations);
        (!missing.is_empty()).then_some(Unmet::MissingAnnotations(missing))
    }
}

/// The keys that signed no layer naming `digest` with every annotation:
/// empty when the verification succeeds. Pure.
pub fn unmet_keys(
    digest: &str,
    layers: &[SignatureLayer],
    keys: &[CosignKey],
    annotations: &BTreeMap<String, String>,
) -> Vec<UnmetKey> {
    let mut unmet = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let mut best: Option<Unmet> = None;
        let mut satisfied = false;
        for layer in layers {
            match layer.outcome(key, digest, annotations) {
                None => {
                    satisfied = true;
                    break;
                }
                Some(Unmet::OtherDigest(d)) => match &mut best {
                    // Gather every other digest this key signed.
                    Some(Unmet::OtherDigest(all)) => {
                        if !all.contains(&d[0]) {
                            all.extend(d);
                        }
                    }
                    _ => {
                        let candidate = Unmet::OtherDigest(d);
                        if best.as_ref().is_none_or(|b| candidate > *b) {
                            best = Some(candidate);
                        }
                    }
                },
                Some(Unmet::MissingAnnotations(m)) => {
                    // The layer that misses the fewest annotations.
                    let fewer = match &best {
                        Some(Unmet::MissingAnnotations(b)) => m.len() < b.len(),
                        _ => true,
                    };
                    if fewer {
                        best = Some(Unmet::MissingAnnotations(m));
                    }
                }
                Some(other) => {
                    if best.as_ref().is_none_or(|b| other > *b) {
                        best = Some(other);
                    }
                }
            }
        }
        if !satisfied {
            let reason = match best {
                None | Some(Unmet::NotSigned { .. }) => Unmet::NotSigned {
                    layers: layers.len(),
                },
                Some(other) => other,
            };
            unmet.push(UnmetKey {
                index,
                key: key.describe(),
                reason,
            });
        }
    }
    unmet
}

// ---------------------------------------------------------------------------
// The `.sig` manifest

/// `sha256-HEX.sig`, the tag of the signatures of `digest`.
///
/// # Errors
/// `digest` is not `sha256:` + 64 lowercase hex digits.
pub fn signature_tag(digest: &str) -> Result<String> {
    ensure!(
        is_sha256_digest(digest),
        "digest {} is not sha256:<64 hex digits>",
        shown(digest)
    );
    Ok(format!("{}.sig", digest.replace(':', "-")))
}

/// The reference of the `.sig` manifest of `digest` in `image`'s repository.
///
/// # Errors
/// See [`signature_tag`].
pub fn signature_reference(image: &Reference, digest: &str) -> Result<Reference> {
    Ok(Reference::with_tag(
        image.registry().to_owned(),
        image.repository().to_owned(),
        signature_tag(digest)?,
    ))
}

/// `docker-reference` as cosign writes it (go-containerregistry's
/// `Repository.Name()`: `HOST/REPO`, Docker Hub as `index.docker.io`).
pub fn docker_reference(image: &Reference) -> String {
    let registry = match image.registry() {
        "docker.io" => "index.docker.io",
        other => other,
    };
    format!("{registry}/{}", image.repository())
}

/// Parses an image reference (Docker Hub short names expanded, as
/// policy-server does).
///
/// # Errors
/// Not a valid reference.
pub fn parse_image(image: &str) -> Result<Reference> {
    image
        .parse::<Reference>()
        .map_err(|e| anyhow!("invalid image reference {}: {e}", shown(image)))
}

fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Parses a `.sig` manifest and checks what can be checked before fetching
/// blobs: size, an OCI/Docker image manifest (not an index), 1 to
/// [`MAX_LAYERS`] layers, each of the simple-signing media type with a
/// sha256 digest and a size up to [`MAX_BLOB_BYTES`].
///
/// # Errors
/// The first problem found (the whole lookup fails on it).
pub fn parse_signature_manifest(bytes: &[u8]) -> Result<OciImageManifest> {
    ensure!(
        bytes.len() <= MAX_MANIFEST_BYTES,
        "the manifest is {} bytes, more than {MAX_MANIFEST_BYTES}",
        bytes.len()
    );
    let value: Value = serde_json::from_slice(bytes).context("the manifest is not JSON")?;
    ensure!(
        value.get("manifests").is_none(),
        "found an image index instead of an image manifest"
    );
    ensure!(
        value.get("schemaVersion").and_then(Value::as_u64) == Some(2),
        "schemaVersion is not 2"
    );
    if let Some(media_type) = value.get("mediaType") {
        ensure!(
            media_type == OCI_IMAGE_MEDIA_TYPE || media_type == IMAGE_MANIFEST_MEDIA_TYPE,
            "media type {} is not an image manifest",
            shown(&media_type.to_string())
        );
    }
    let manifest: OciImageManifest =
        serde_json::from_value(value).context("not an OCI image manifest")?;
    ensure!(!manifest.layers.is_empty(), "the manifest has no layer");
    ensure!(
        manifest.layers.len() <= MAX_LAYERS,
        "the manifest has {} layers, more than {MAX_LAYERS}",
        manifest.layers.len()
    );
    for (i, layer) in manifest.layers.iter().enumerate() {
        ensure!(
            layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE,
            "layer {i} has media type {}, not {SIMPLE_SIGNING_MEDIA_TYPE}",
            shown(&layer.media_type)
        );
        ensure!(
            is_sha256_digest(&layer.digest),
            "layer {i} has digest {}, not sha256:<64 hex digits>",
            shown(&layer.digest)
        );
        ensure!(
            usize::try_from(layer.size).is_ok_and(|s| s <= MAX_BLOB_BYTES),
            "layer {i} has size {}, not 0 to {MAX_BLOB_BYTES} bytes",
            layer.size
        );
    }
    Ok(manifest)
}

// ---------------------------------------------------------------------------
// Registry access behind a trait

/// A manifest fetched by tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The manifest's bytes as served.
    Found(Vec<u8>),
    /// The registry says there is none (its message).
    Absent(String),
}

/// What verification and signing need from a registry.
pub trait SignatureStore {
    /// The digest of the manifest `image` (a tag) names (`HEAD`).
    ///
    /// # Errors
    /// The registry's error, as text.
    fn resolve(&self, image: &Reference) -> Result<String, String>;
    /// The manifest at `reference`, at most `limit` bytes.
    ///
    /// # Errors
    /// Any failure other than "not found", as text.
    fn manifest(&self, reference: &Reference, limit: usize) -> Result<Fetched, String>;
    /// The blob `digest` of `reference`'s repository, at most `limit` bytes.
    ///
    /// # Errors
    /// Not found, too large, or a transport error, as text.
    fn blob(&self, reference: &Reference, digest: &str, limit: usize) -> Result<Vec<u8>, String>;
}

/// Verifies `request` against the signatures `store` holds.
///
/// # Errors
/// A [`VerifyError`] saying what is missing.
pub fn verify_with(
    store: &dyn SignatureStore,
    request: &PubKeyVerify,
) -> Result<VerificationResponse, VerifyError> {
    if request.pub_keys.is_empty() {
        return Err(VerifyError::BadRequest(
            "pub_keys is empty: give at least one public key".to_owned(),
        ));
    }
    if request.pub_keys.len() > MAX_KEYS {
        return Err(VerifyError::BadRequest(format!(
            "{} public keys, more than {MAX_KEYS}",
            request.pub_keys.len()
        )));
    }
    let keys = request
        .pub_keys
        .iter()
        .enumerate()
        .map(|(index, pem)| {
            CosignKey::from_pem(pem).map_err(|e| VerifyError::BadKey {
                index,
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let image = shown(&request.image);
    let image_error = |reason: String| VerifyError::Image {
        image: image.clone(),
        reason,
    };
    let reference = parse_image(&request.image).map_err(|e| image_error(format!("{e:#}")))?;
    let digest = match reference.digest() {
        Some(d) => d.to_owned(),
        None => store
            .resolve(&reference)
            .map_err(|e| image_error(format!("cannot resolve its digest: {e}")))?,
    };
    let signature_ref =
        signature_reference(&reference, &digest).map_err(|e| image_error(format!("{e:#}")))?;
    let sig_name = signature_ref.whole();
    let bad = |reason: String| VerifyError::BadSignatureManifest {
        signature_ref: sig_name.clone(),
        reason,
    };
    let bytes = match store.manifest(&signature_ref, MAX_MANIFEST_BYTES) {
        Ok(Fetched::Found(bytes)) => bytes,
        Ok(Fetched::Absent(reason)) | Err(reason) => {
            return Err(VerifyError::NoSignatures {
                image,
                signature_ref: sig_name,
                reason,
            })
        }
    };
    let manifest = parse_signature_manifest(&bytes).map_err(|e| bad(format!("{e:#}")))?;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (i, descriptor) in manifest.layers.iter().enumerate() {
        let blob = store
            .blob(&signature_ref, &descriptor.digest, MAX_BLOB_BYTES)
            .map_err(|e| bad(format!("layer {i} ({}): {e}", descriptor.digest)))?;
        let actual = sha256_digest(&blob);
        if actual != descriptor.digest {
            return Err(bad(format!(
                "layer {i}: the blob's digest is {actual}, the manifest names {}",
                descriptor.digest
            )));
        }
        layers.push(SignatureLayer {
            digest: actual,
            annotations: descriptor.annotations.clone().unwrap_or_default(),
            blob,
        });
    }
    let unmet = unmet_keys(
        &digest,
        &layers,
        &keys,
        request.annotations.as_ref().unwrap_or(&BTreeMap::new()),
    );
    if unmet.is_empty() {
        Ok(VerificationResponse {
            is_trusted: true,
            digest,
        })
    } else {
        Err(VerifyError::Unsatisfied {
            image,
            digest,
            signature_ref: sig_name,
            unmet,
        })
    }
}

/// A registry reached with `oci-client`, anonymously.
pub struct RegistryStore {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for RegistryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RegistryStore")
    }
}

impl RegistryStore {
    /// A store reaching `image`'s registry through `connect`.
    ///
    /// # Errors
    /// The client or the async runtime cannot be built.
    pub fn new(image: &Reference, connect: Connect<'_>) -> Result<Self> {
        Ok(Self {
            client: connect(image)?,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime for registry access")?,
        })
    }
}

/// "Not found" answers: the manifest or the repository is unknown.
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
    }
}

/// An `AsyncWrite` into memory that refuses more than `limit` bytes.
struct BoundedSink {
    data: Vec<u8>,
    limit: usize,
}

impl tokio::io::AsyncWrite for BoundedSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.data.len().saturating_add(buf.len()) > self.limit {
            let limit = self.limit;
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the blob is larger than {limit} bytes"
            ))));
        }
        self.data.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl SignatureStore for RegistryStore {
    fn resolve(&self, image: &Reference) -> Result<String, String> {
        self.runtime
            .block_on(
                self.client
                    .fetch_manifest_digest(image, &RegistryAuth::Anonymous),
            )
            .map_err(|e| e.to_string())
    }

    fn manifest(&self, reference: &Reference, limit: usize) -> Result<Fetched, String> {
        // oci-client reads the body before the size can be checked; the
        // read timeout bounds how long that takes.
        match self.runtime.block_on(self.client.pull_manifest_raw(
            reference,
            &RegistryAuth::Anonymous,
            &[OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE],
        )) {
            Ok((bytes, _)) if bytes.len() > limit => Err(format!(
                "the manifest is {} bytes, more than {limit}",
                bytes.len()
            )),
            Ok((bytes, _)) => Ok(Fetched::Found(bytes.to_vec())),
            Err(e) if is_not_found(&e) => Ok(Fetched::Absent(e.to_string())),
            Err(e) => Err(e.to_string()),
        }
    }

    fn blob(&self, reference: &Reference, digest: &str, limit: usize) -> Result<Vec<u8>, String> {
        let mut sink = BoundedSink {
            data: Vec::new(),
            limit,
        };
        self.runtime
            .block_on(self.client.pull_blob(reference, digest, &mut sink))
            .map_err(|e| e.to_string())?;
        Ok(sink.data)
    }
}

/// Verifies `request` against the registry, as policy-server's
/// `oci`/`v2/verify` does for `SigstorePubKeyVerify`.
///
/// # Errors
/// A [`VerifyError`] saying what is missing.
pub fn verify_pub_keys(
    request: &PubKeyVerify,
    connect: Connect<'_>,
) -> Result<VerificationResponse, VerifyError> {
    let reference = parse_image(&request.image).map_err(|e| VerifyError::Image {
        image: shown(&request.image),
        reason: format!("{e:#}"),
    })?;
    let store = RegistryStore::new(&reference, connect).map_err(|e| VerifyError::Image {
        image: shown(&request.image),
        reason: format!("{e:#}"),
    })?;
    verify_with(&store, request)
}

/// The host-call answer for an `oci`/`v2/verify` payload: the response's
/// JSON bytes, or the host error's text.
pub fn answer_verify(payload: &[u8], connect: Connect<'_>) -> Result<Vec<u8>, String> {
    let request = parse_request(payload).map_err(|e| e.to_string())?;
    let response = verify_pub_keys(&request, connect).map_err(|e| e.to_string())?;
    serde_json::to_vec(&response).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Signing: writing a `.sig` manifest

/// The image a signature is for: its reference and manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The reference as given (tag and/or digest).
    pub reference: Reference,
    /// `sha256:…`.
    pub digest: String,
}

impl ResolvedImage {
    /// `HOST/REPO@sha256:…`.
    pub fn pinned(&self) -> String {
        format!(
            "{}/{}@{}",
            self.reference.registry(),
            self.reference.repository(),
            self.digest
        )
    }
}

/// Parses `REPO[:TAG]@sha256:HEX` or, with a `store`, resolves `REPO:TAG`.
///
/// # Errors
/// Invalid reference, a tag without a store, or the registry's error.
pub fn resolve_image(image: &str, store: Option<&dyn SignatureStore>) -> Result<ResolvedImage> {
    let reference = parse_image(image)?;
    let digest = match (reference.digest(), store) {
        (Some(d), _) => d.to_owned(),
        (None, Some(store)) => store
            .resolve(&reference)
            .map_err(|e| anyhow!("cannot resolve {}: {e}", reference.whole()))?,
        (None, None) => bail!(
            "image {image:?} has no digest: give REPO@sha256:HEX, or --push to resolve the tag"
        ),
    };
    ensure!(
        is_sha256_digest(&digest),
        "digest {digest:?} is not sha256:<64 hex digits>"
    );
    Ok(ResolvedImage { reference, digest })
}

/// The config blob of a `.sig` manifest with these layers, as cosign
/// (go-containerregistry) writes it, byte for byte.
pub fn signature_config(layer_digests: &[&str]) -> Vec<u8> {
    #[derive(Serialize)]
    struct History {
        created: &'static str,
    }
    #[derive(Serialize)]
    struct RootFs<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        diff_ids: &'a [&'a str],
    }
    #[derive(Serialize)]
    struct ConfigFile<'a> {
        architecture: &'static str,
        created: &'static str,
        history: Vec<History>,
        os: &'static str,
        rootfs: RootFs<'a>,
        config: BTreeMap<String, String>,
    }
    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    let config = ConfigFile {
        architecture: "",
        created: ZERO_TIME,
        history: layer_digests
            .iter()
            .map(|_| History { created: ZERO_TIME })
            .collect(),
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: layer_digests,
        },
        config: BTreeMap::new(),
    };
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(&config).unwrap_or_default()
}

/// The `.sig` manifest after adding one signature layer, and its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureManifest {
    /// The manifest's bytes (`application/vnd.oci.image.manifest.v1+json`).
    pub manifest: Vec<u8>,
    /// The config blob's bytes.
    pub config: Vec<u8>,
    /// `false` when the very same signature layer was already there.
    pub changed: bool,
}

/// Adds a layer (`payload`, annotation [`SIGNATURE_ANNOTATION`] =
/// `signature_b64`) to `existing` (a `.sig` manifest) or to a new one, as
/// cosign does: an identical layer is not added twice; the config lists every
/// layer.
///
/// # Errors
/// `existing` is not an image manifest, or already has [`MAX_LAYERS`] layers.
pub fn add_signature_layer(
    existing: Option<&[u8]>,
    payload: &[u8],
    signature_b64: &str,
) -> Result<SignatureManifest> {
    let layer = OciDescriptor {
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
        digest: sha256_digest(payload),
        size: i64::try_from(payload.len()).context("payload too large")?,
        urls: None,
        annotations: Some(BTreeMap::from([(
            SIGNATURE_ANNOTATION.to_owned(),
            signature_b64.to_owned(),
        )])),
        artifact_type: None,
    };
    let mut manifest = match existing {
        Some(bytes) => {
            ensure!(
                bytes.len() <= MAX_MANIFEST_BYTES,
                "the existing signature manifest is larger than {MAX_MANIFEST_BYTES} bytes"
            );
            let manifest: OciImageManifest = serde_json::from_slice(bytes)
                .context("the existing signature manifest is not an OCI image manifest")?;
            manifest
        }
        None => OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
            config: OciDescriptor::default(),
            layers: Vec::new(),
            subject: None,
            artifact_type: None,
            annotations: None,
        },
    };
    let duplicate = manifest
        .layers
        .iter()
        .any(|l| l.digest == layer.digest && l.annotations == layer.annotations);
    if !duplicate {
        ensure!(
            manifest.layers.len() < MAX_LAYERS,
            "the signature manifest already has {} layers: at most {MAX_LAYERS} are read",
            manifest.layers.len()
        );
        manifest.layers.push(layer);
    }
    let digests: Vec<&str> = manifest.layers.iter().map(|l| l.digest.as_str()).collect();
    let config = signature_config(&digests);
    manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_owned());
    manifest.config = OciDescriptor {
        media_type: SIGNATURE_CONFIG_MEDIA_TYPE.to_owned(),
        digest: sha256_digest(&config),
        size: i64::try_from(config.len()).context("config too large")?,
        urls: None,
        annotations: None,
        artifact_type: None,
    };
    Ok(SignatureManifest {
        manifest: serde_json::to_vec(&manifest).context("cannot serialize the manifest")?,
        config,
        changed: !duplicate,
    })
}

/// What [`push_signature`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedSignature {
    /// `HOST/REPO:sha256-HEX.sig`.
    pub signature_tag: String,
    /// Digest of the `.sig` manifest now at that tag.
    pub manifest_digest: String,
    /// `false` when the same signature was already there.
    pub changed: bool,
}

/// Writes a signature of `image` to its `.sig` manifest: uploads the payload
/// and the config, then creates or extends the manifest by one layer.
///
/// # Errors
/// Registry errors, or an unusable existing `.sig` manifest.
pub fn push_signature(
    image: &ResolvedImage,
    payload: &[u8],
    signature_b64: &str,
    connect: Connect<'_>,
) -> Result<PushedSignature> {
    let signature_ref = signature_reference(&image.reference, &image.digest)?;
    let store = RegistryStore::new(&signature_ref, connect)?;
    let existing = match store
        .manifest(&signature_ref, MAX_MANIFEST_BYTES)
        .map_err(|e| anyhow!("cannot read {}: {e}", signature_ref.whole()))?
    {
        Fetched::Found(bytes) => Some(bytes),
        Fetched::Absent(_) => None,
    };
    let built = add_signature_layer(existing.as_deref(), payload, signature_b64)
        .with_context(|| format!("cannot extend {}", signature_ref.whole()))?;
    let client = &store.client;
    let manifest_digest = sha256_digest(&built.manifest);
    store
        .runtime
        .block_on(async {
            client
                .store_auth_if_needed(signature_ref.resolve_registry(), &RegistryAuth::Anonymous)
                .await;
            client
                .push_blob(&signature_ref, payload.to_vec(), &sha256_digest(payload))
                .await
                .context("cannot upload the payload")?;
            client
                .push_blob(
                    &signature_ref,
                    built.config.clone(),
                    &sha256_digest(&built.config),
                )
                .await
                .context("cannot upload the config")?;
            client
                .push_manifest_raw(
                    &signature_ref,
                    built.manifest.clone(),
                    OCI_IMAGE_MEDIA_TYPE
                        .parse()
                        .map_err(|_| anyhow!("invalid Content-Type"))?,
                )
                .await
                .context("cannot upload the signature manifest")?;
            anyhow::Ok(())
        })
        .with_context(|| format!("cannot push the signature to {}", signature_ref.whole()))?;
    Ok(PushedSignature {
        signature_tag: signature_ref.whole(),
        manifest_digest,
        changed: built.changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_references() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            signature_tag(&d).unwrap(),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        assert!(signature_tag("sha512:00").is_err());
        let r = parse_image("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(
            signature_reference(&r, &d).unwrap().whole(),
            format!("127.0.0.1:5000/team/app:sha256-{}.sig", "ab".repeat(32))
        );
        assert_eq!(docker_reference(&r), "127.0.0.1:5000/team/app");
        let hub = parse_image("busybox").unwrap();
        assert_eq!(docker_reference(&hub), "index.docker.io/library/busybox");
    }

    #[test]
    fn config_as_cosign_writes_it() {
        let d = format!("sha256:{}", "0".repeat(64));
        assert_eq!(
            String::from_utf8(signature_config(&[&d])).unwrap(),
            format!(
                r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{d}"]}},"config":{{}}}}"#
            )
        );
    }

    #[test]
    fn requests() {
        let ok = parse_request(
            br#"{"type":"SigstorePubKeyVerify","image":"a:1","pub_keys":["k"],"annotations":null}"#,
        )
        .unwrap();
        assert_eq!(ok.image, "a:1");
        assert_eq!(ok.annotations, None);
        let no_annotations =
            parse_request(br#"{"type":"SigstorePubKeyVerify","image":"a:1","pub_keys":[]}"#)
                .unwrap();
        assert_eq!(no_annotations.annotations, None);
        let e = parse_request(br#"{"type":"SigstoreKeylessVerify","image":"a"}"#).unwrap_err();
        assert!(
            e.to_string().contains("not served by policy-harness"),
            "{e}"
        );
        for bad in [
            &b"nope"[..],
            br#"{"image":"a"}"#,
            br#"{"type":"SigstorePubKeyVerify","image":1,"pub_keys":[]}"#,
        ] {
            let e = parse_request(bad).unwrap_err();
            assert!(matches!(e, VerifyError::BadRequest(_)), "{e}");
        }
    }

    #[test]
    fn manifests_are_bounded_and_checked() {
        let layer = |media: &str, digest: &str, size: i64| serde_json::json!({"mediaType": media, "digest": digest, "size": size});
        let d = format!("sha256:{}", "1".repeat(64));
        let manifest = |layers: Vec<Value>| {
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_IMAGE_MEDIA_TYPE,
                "config": {"mediaType": SIGNATURE_CONFIG_MEDIA_TYPE, "digest": d, "size": 1},
                "layers": layers,
            }))
            .unwrap()
        };
        assert!(parse_signature_manifest(&manifest(vec![layer(
            SIMPLE_SIGNING_MEDIA_TYPE,
            &d,
            10
        )]))
        .is_ok());
        for (bytes, needle) in [
            (manifest(vec![]), "no layer"),
            (
                manifest(vec![layer("application/x", &d, 1)]),
                "layer 0 has media type \"application/x\"",
            ),
            (
                manifest(vec![layer(SIMPLE_SIGNING_MEDIA_TYPE, "sha256:../x", 1)]),
                "not sha256:<64 hex digits>",
            ),
            (
                manifest(vec![layer(SIMPLE_SIGNING_MEDIA_TYPE, &d, -1)]),
                "has size -1",
            ),
            (
                manifest(vec![layer(SIMPLE_SIGNING_MEDIA_TYPE, &d, 1 << 21)]),
                "has size 2097152",
            ),
            (
                manifest(vec![
                    layer(SIMPLE_SIGNING_MEDIA_TYPE, &d, 1);
                    MAX_LAYERS + 1
                ]),
                "65 layers",
            ),
            (
                br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
                "image index",
            ),
            (b"[".to_vec(), "not JSON"),
            (vec![b' '; MAX_MANIFEST_BYTES + 1], "more than"),
        ] {
            let e = format!("{:#}", parse_signature_manifest(&bytes).unwrap_err());
            assert!(e.contains(needle), "{needle:?} not in {e}");
        }
    }

    #[test]
    fn annotations_follow_sigstore_rules() {
        let optional: Optional = serde_json::from_value(serde_json::json!({
            "env": "prod", "n": 3, "b": true, "creator": "me", "o": {"x": 1}
        }))
        .unwrap();
        let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(missing_annotations(Some(&optional), &want(&[])).is_empty());
        assert!(missing_annotations(None, &want(&[])).is_empty());
        assert!(missing_annotations(
            Some(&optional),
            &want(&[("env", "prod"), ("n", "3"), ("b", "true")])
        )
        .is_empty());
        assert_eq!(
            missing_annotations(
                Some(&optional),
                &want(&[("env", "dev"), ("creator", "me"), ("o", "x")])
            ),
            vec![
                ("creator".to_owned(), "me".to_owned()),
                ("env".to_owned(), "dev".to_owned()),
                ("o".to_owned(), "x".to_owned())
            ]
        );
        assert_eq!(missing_annotations(None, &want(&[("a", "b")])).len(), 1);
    }
}
