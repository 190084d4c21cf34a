//! Verification: what each layer says for a key, the pure check
//! ([`unmet_keys`]), and the verification against a [`SignatureStore`] or the
//! live registry, as policy-server's `oci`/`v2/verify` does it.

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::Reference;

use super::error::{Unmet, UnmetKey, VerifyError};
use super::format::{MAX_BLOB_BYTES, MAX_KEYS, MAX_MANIFEST_BYTES, SIGNATURE_ANNOTATION};
use super::key::CosignKey;
use super::manifest::parse_signature_manifest;
use super::payload::{missing_annotations, SimpleSigning};
use super::reference::{parse_image, signature_reference};
use super::request::{parse_request, PubKeyVerify, VerificationResponse};
use super::store::{Connect, Fetched, RegistryStore, SignatureStore};
use super::text::shown;
use crate::oci::sha256_digest;

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

/// Verifies `request` against the signatures `store` holds.
///
/// # Errors
/// A [`VerifyError`] saying what is missing.
pub fn verify_with(
    store: &dyn SignatureStore,
    request: &PubKeyVerify,
) -> Result<VerificationResponse, VerifyError> {
    let keys = request_keys(request)?;
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
    let bytes = match store.manifest(&signature_ref, MAX_MANIFEST_BYTES) {
        Ok(Fetched::Found(bytes)) => bytes,
        Ok(Fetched::Absent(reason)) | Err(reason) => {
            return Err(VerifyError::NoSignatures {
                image: reference.whole(),
                signature_ref: sig_name,
                reason,
            })
        }
    };
    let layers = fetch_layers(store, &signature_ref, &bytes)?;
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

/// The request's keys: 1 to [`MAX_KEYS`] of them, each usable.
fn request_keys(request: &PubKeyVerify) -> Result<Vec<CosignKey>, VerifyError> {
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
    request
        .pub_keys
        .iter()
        .enumerate()
        .map(|(index, pem)| {
            CosignKey::from_pem(pem).map_err(|e| VerifyError::BadKey {
                index,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The layers of the `.sig` manifest `bytes` (at `signature_ref`), each
/// blob fetched and checked against its descriptor's digest.
pub(crate) fn fetch_layers(
    store: &dyn SignatureStore,
    signature_ref: &Reference,
    bytes: &[u8],
) -> Result<Vec<SignatureLayer>, VerifyError> {
    let bad = |reason: String| VerifyError::BadSignatureManifest {
        signature_ref: signature_ref.whole(),
        reason,
    };
    let manifest = parse_signature_manifest(bytes).map_err(|e| bad(format!("{e:#}")))?;
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (i, descriptor) in manifest.layers.iter().enumerate() {
        let blob = store
            .blob(signature_ref, &descriptor.digest, MAX_BLOB_BYTES)
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
    Ok(layers)
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
