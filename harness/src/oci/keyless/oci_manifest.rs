//! `kubewarden`/`oci`/`v1/oci_manifest`, live: the OCI image manifest at a
//! reference, as policy-server answers it (oci-client's `OciManifest`
//! serialized: `schemaVersion`, `mediaType`, `config`, `layers` with their
//! `annotations`), read through the same bounded store as signatures (at
//! most [`MAX_MANIFEST_BYTES`]). The policy reads `.sig` manifests with it
//! to check each keyless layer itself.

use anyhow::{anyhow, Result};
use oci_client::manifest::OciManifest;

use crate::oci::cosign::MAX_MANIFEST_BYTES;
use crate::oci::cosign::{parse_image, shown, Connect, Fetched, RegistryStore, SignatureStore};

/// The answer for a manifest read from `store`.
///
/// # Errors
/// Not found, too large, or not an image manifest/index.
pub fn manifest_with(store: &dyn SignatureStore, image: &str) -> Result<Vec<u8>> {
    let reference = parse_image(image).map_err(|e| anyhow!("image {}: {e:#}", shown(image)))?;
    let bytes = match store.manifest(&reference, MAX_MANIFEST_BYTES) {
        Ok(Fetched::Found(bytes)) => bytes,
        Ok(Fetched::Absent(reason)) => {
            return Err(anyhow!("no manifest at {}: {reason}", reference.whole()))
        }
        Err(reason) => return Err(anyhow!("cannot read {}: {reason}", reference.whole())),
    };
    let manifest: OciManifest = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("{} is not an OCI manifest: {e}", reference.whole()))?;
    serde_json::to_vec(&manifest).map_err(|e| anyhow!("cannot serialize the manifest: {e}"))
}

/// The host-call answer for an `oci`/`v1/oci_manifest` payload (the image
/// as a JSON string).
pub fn answer_oci_manifest(payload: &[u8], connect: Connect<'_>) -> Result<Vec<u8>, String> {
    let image: String = serde_json::from_slice(payload).map_err(|e| {
        format!("oci/v1/oci_manifest: the payload must be the image as a JSON string: {e}")
    })?;
    let reference = parse_image(&image).map_err(|e| format!("{e:#}"))?;
    let store = RegistryStore::new(&reference, connect).map_err(|e| format!("{e:#}"))?;
    manifest_with(&store, &image).map_err(|e| format!("{e:#}"))
}
