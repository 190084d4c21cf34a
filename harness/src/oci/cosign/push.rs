//! Signing: writing a signature to the `.sig` manifest of an image.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context as _, Result};
use oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;

use super::format::{MAX_MANIFEST_BYTES, SIGNATURE_ANNOTATION};
use super::manifest::add_annotated_layer;
use super::reference::{signature_reference, ResolvedImage};
use super::store::{Connect, Fetched, RegistryStore, SignatureStore as _};
use crate::oci::sha256_digest;

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
    let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature_b64.to_owned())]);
    push_annotated_layer(image, payload, annotations, connect)
}

/// [`push_signature`] with every layer annotation given (a keyless
/// signature's certificate, chain and bundle next to the signature).
///
/// # Errors
/// Registry errors, or an unusable existing `.sig` manifest.
pub fn push_annotated_layer(
    image: &ResolvedImage,
    payload: &[u8],
    annotations: BTreeMap<String, String>,
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
    let built = add_annotated_layer(existing.as_deref(), payload, annotations)
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
