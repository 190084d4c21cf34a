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
//!
//! The modules, by job: `format` (names, bounds, digest syntax), `text`
//! (untrusted text in messages), `request` (the `v2/verify` payload and
//! answer), `key` (public keys), `payload` (the simple-signing payload and
//! its annotations), `error` (why a verification fails), `verify` (the pure
//! check and the verification), `reference` (images and `.sig` tags),
//! `manifest` (parsing and building `.sig` manifests), `store` (registry
//! access behind a trait) and `push` (writing a signature). Dependencies run
//! one way, from `verify` and `push` down to the leaves; none imports this
//! module, which only re-exports them.

mod error;
mod format;
mod key;
mod manifest;
mod payload;
mod push;
mod reference;
mod request;
mod store;
mod text;
mod verify;

pub use error::{Unmet, UnmetKey, VerifyError};
pub use format::{
    COSIGN_SIGNATURE_TYPE, MAX_BLOB_BYTES, MAX_KEYS, MAX_LAYERS, MAX_MANIFEST_BYTES,
    PUB_KEY_VERIFY, SIGNATURE_ANNOTATION, SIGNATURE_CONFIG_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE,
};
pub use key::CosignKey;
pub use manifest::{
    add_annotated_layer, add_signature_layer, parse_signature_manifest, signature_config,
    SignatureManifest,
};
pub use push::{push_annotated_layer, push_signature, PushedSignature};
pub use reference::{
    docker_reference, parse_image, resolve_image, signature_reference, signature_tag, ResolvedImage,
};
pub use request::{parse_request, PubKeyVerify, VerificationResponse};
pub use store::{Connect, Fetched, RegistryStore, SignatureStore};
pub use verify::{answer_verify, unmet_keys, verify_pub_keys, verify_with, SignatureLayer};

// For `crate::oci::keyless`, which reads the same `.sig` layers.
pub(crate) use payload::{missing_annotations, SimpleSigning};
pub(crate) use text::shown;
pub(crate) use verify::fetch_layers;
