//! The `.sig` manifest: parsing and checking one read from a registry, and
//! building one with a new signature layer, as cosign writes it.

use std::collections::BTreeMap;

use anyhow::{ensure, Context as _, Result};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use serde::Serialize;
use serde_json::Value;

use super::format::{
    is_sha256_digest, MAX_BLOB_BYTES, MAX_LAYERS, MAX_MANIFEST_BYTES, SIGNATURE_ANNOTATION,
    SIGNATURE_CONFIG_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE,
};
use super::text::shown;
use crate::oci::sha256_digest;

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
    let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature_b64.to_owned())]);
    add_annotated_layer(existing, payload, annotations)
}

/// [`add_signature_layer`] with every layer annotation given: a keyless
/// signature also carries its certificate, chain and Rekor bundle.
///
/// # Errors
/// `existing` is not an image manifest, or already has [`MAX_LAYERS`] layers.
pub fn add_annotated_layer(
    existing: Option<&[u8]>,
    payload: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<SignatureManifest> {
    let layer = OciDescriptor {
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
        digest: sha256_digest(payload),
        size: i64::try_from(payload.len()).context("payload too large")?,
        urls: None,
        annotations: Some(annotations),
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
#[cfg(test)]
mod tests {
    use super::*;

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
}
