//! The `.sig` format's names (media types, annotation, request type), the
//! bounds on what is read from a registry, and the digest syntax. A leaf.

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
pub const MAX_MANIFEST_BYTES: usize = crate::oci::http::MAX_MANIFEST_BYTES;
/// Most layers a `.sig` manifest may have.
pub const MAX_LAYERS: usize = 64;
/// Largest signature payload (layer blob) read.
pub const MAX_BLOB_BYTES: usize = 1 << 20;
/// Most keys one request may carry.
pub const MAX_KEYS: usize = 64;

/// `true` for `sha256:` + 64 lowercase hex digits.
pub(super) fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}
