//! The policy's own check of keyless signature layers: closes the hole in
//! Kubewarden 1.31's keyless verification.
//!
//! policy-server (policy-fetcher on sigstore-rs 0.13) accepts a `.sig`
//! layer for a keyless identity when its certificate chains to the trust
//! root, its Rekor bundle's signed entry timestamp is valid and inside the
//! certificate's validity, the payload names the image and the identity
//! matches. It never verifies the layer's signature with the certificate's
//! key and never reads the bundle's body, so a certificate and bundle
//! copied from any public keyless signature, next to a forged signature
//! over a payload naming another image, pass as that identity.
//!
//! So, for an image the host says a keyless identity verified, the policy
//! reads the signature manifest itself (`oci`/`v1/oci_manifest` on
//! `REPO:sha256-<hex>.sig`) and requires of every layer that carries a
//! certificate:
//! 1. its signature (`dev.cosignproject.cosign/signature`) verifies with
//!    the certificate's key over the layer digest — the SHA-256 of the
//!    payload, which is what cosign signs; Fulcio's keys are ECDSA P-256;
//! 2. its bundle (`dev.sigstore.cosign/bundle`) holds a Rekor `hashedrekord`
//!    entry naming that same digest, that same signature and that
//!    certificate (the entry the host checked the timestamp of).
//!
//! Signature first, then the bundle is parsed and compared: nothing is
//! trusted before it verifies. Layers without a certificate (key-signed
//! ones) prove no identity and are not looked at. Residual risk: a registry
//! that answers the host's read and this one with different manifests.

use core::cell::Cell;
use core::fmt;

use serde::Deserialize;

use crate::certificate;
use crate::keys::PublicKey;
use crate::settings::Text;
use crate::text::Quoted;
use crate::verify;

/// Signature layers with a certificate checked per signature manifest;
/// a manifest with more is refused (each costs a P-256 verification).
pub const MAX_LAYERS: usize = 32;
/// Signature layers checked in one request, across images. Past this many,
/// the check fails closed.
pub const MAX_LAYER_CHECKS: usize = 32;

const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
const BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// Why a signature manifest does not bind its keyless signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerProblem {
    /// The manifest is not an OCI image manifest the policy can read.
    Manifest(String),
    /// No layer carries a certificate, though the host verified a keyless
    /// signature.
    NoCertificateLayer,
    /// More layers with a certificate than [`MAX_LAYERS`].
    TooManyLayers(usize),
    /// The request already checked [`MAX_LAYER_CHECKS`] layers.
    Budget,
    /// One layer is not bound to its certificate.
    Unbound {
        /// The layer's digest, as the manifest gives it.
        layer: String,
        /// What is wrong with it.
        why: Unbound,
    },
}

/// What makes one layer unbound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unbound {
    /// The layer digest is not `sha256:` and 64 hex digits.
    Digest,
    /// No signature annotation, or not base64.
    Signature,
    /// The certificate does not parse.
    Certificate(certificate::CertificateError),
    /// The certificate's key is not ECDSA P-256 (Fulcio's), so the policy
    /// cannot check the signature: not accepted for a keyless identity.
    Key(&'static str),
    /// The signature does not verify with the certificate's key.
    Invalid(verify::VerifyError),
    /// No Rekor bundle.
    NoBundle,
    /// The bundle or its body cannot be read.
    Bundle(&'static str),
    /// The bundle's entry describes another hash, signature or certificate.
    Mismatch(&'static str),
}

impl fmt::Display for Unbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unbound::Digest => f.write_str("its digest is not a sha256 digest"),
            Unbound::Signature => write!(f, "it has no base64 signature in {SIGNATURE}"),
            Unbound::Certificate(e) => write!(f, "its certificate is unusable: {e}"),
            Unbound::Key(kind) => write!(
                f,
                "its certificate certifies {kind} key; keyless (Fulcio) keys are EC P-256, the only \
                 kind whose signature this policy checks, so it is not accepted"
            ),
            Unbound::Invalid(e) => write!(f, "its signature {e} with its certificate's key"),
            Unbound::NoBundle => write!(f, "it has no Rekor bundle ({BUNDLE})"),
            Unbound::Bundle(why) => write!(f, "its Rekor bundle {why}"),
            Unbound::Mismatch(what) => {
                write!(f, "its Rekor bundle's entry names another {what}")
            }
        }
    }
}

impl fmt::Display for LayerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerProblem::Manifest(e) => write!(
                f,
                "the signature manifest cannot be read as an OCI image manifest ({})",
                Quoted(e)
            ),
            LayerProblem::NoCertificateLayer => f.write_str(
                "the signature manifest the policy read has no layer with a certificate \
                 (did the registry answer the host differently?)",
            ),
            LayerProblem::TooManyLayers(n) => write!(
                f,
                "the signature manifest has {n} layers with a certificate, more than the \
                 {MAX_LAYERS} this policy checks"
            ),
            LayerProblem::Budget => write!(
                f,
                "not checked: this request already checked {MAX_LAYER_CHECKS} signature layers, \
                 the policy's limit"
            ),
            LayerProblem::Unbound { layer, why } => write!(
                f,
                "a signature layer is not bound to its certificate: layer {}: {why}",
                Quoted(layer)
            ),
        }
    }
}

#[derive(Deserialize)]
struct Manifest<'a> {
    #[serde(borrow, default)]
    layers: Vec<Layer<'a>>,
}

#[derive(Deserialize)]
struct Layer<'a> {
    #[serde(borrow)]
    digest: Text<'a>,
    #[serde(borrow, default)]
    annotations: Option<LayerAnnotations<'a>>,
}

#[derive(Deserialize)]
struct LayerAnnotations<'a> {
    #[serde(rename = "dev.cosignproject.cosign/signature", borrow, default)]
    signature: Option<Text<'a>>,
    #[serde(rename = "dev.sigstore.cosign/certificate", borrow, default)]
    certificate: Option<Text<'a>>,
    #[serde(rename = "dev.sigstore.cosign/bundle", borrow, default)]
    bundle: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(rename = "Payload", borrow)]
    payload: BundlePayload<'a>,
}

#[derive(Deserialize)]
struct BundlePayload<'a> {
    #[serde(borrow)]
    body: Text<'a>,
}

/// A Rekor `hashedrekord` entry (the body the bundle's timestamp signs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    #[serde(borrow)]
    kind: Text<'a>,
    #[serde(borrow)]
    spec: EntrySpec<'a>,
}

#[derive(Deserialize)]
struct EntrySpec<'a> {
    #[serde(borrow)]
    data: EntryData<'a>,
    #[serde(borrow)]
    signature: EntrySignature<'a>,
}

#[derive(Deserialize)]
struct EntryData<'a> {
    #[serde(borrow)]
    hash: EntryHash<'a>,
}

#[derive(Deserialize)]
struct EntryHash<'a> {
    #[serde(borrow)]
    algorithm: Text<'a>,
    #[serde(borrow)]
    value: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntrySignature<'a> {
    #[serde(borrow)]
    content: Text<'a>,
    #[serde(borrow)]
    public_key: EntryKey<'a>,
}

#[derive(Deserialize)]
struct EntryKey<'a> {
    #[serde(borrow)]
    content: Text<'a>,
}

/// Checks every certificate-carrying layer of a signature manifest (the
/// bytes `oci`/`v1/oci_manifest` answered), counting each layer checked
/// (one P-256 verification) in `spent`, the request's count.
///
/// # Errors
/// The first [`LayerProblem`] found.
pub fn check(manifest: &[u8], spent: &Cell<usize>) -> Result<(), LayerProblem> {
    let m: Manifest<'_> = std::str::from_utf8(manifest)
        .map_err(|e| e.to_string())
        .and_then(|t| crate::json::from_str(t).map_err(|e| e.to_string()))
        .map_err(LayerProblem::Manifest)?;
    let keyless: Vec<(&Layer<'_>, &LayerAnnotations<'_>, &str)> = m
        .layers
        .iter()
        .filter_map(|l| {
            let a = l.annotations.as_ref()?;
            let cert = a.certificate.as_deref()?;
            Some((l, a, cert))
        })
        .collect();
    if keyless.is_empty() {
        return Err(LayerProblem::NoCertificateLayer);
    }
    if keyless.len() > MAX_LAYERS {
        return Err(LayerProblem::TooManyLayers(keyless.len()));
    }
    for (layer, annotations, cert) in &keyless {
        if spent.get() >= MAX_LAYER_CHECKS {
            return Err(LayerProblem::Budget);
        }
        spent.set(spent.get() + 1);
        check_layer(&layer.digest, annotations, cert).map_err(|why| LayerProblem::Unbound {
            layer: layer.digest.to_string(),
            why,
        })?;
    }
    Ok(())
}

fn check_layer(digest: &str, a: &LayerAnnotations<'_>, cert: &str) -> Result<(), Unbound> {
    // 1. The signature, with the certificate's key, over the layer digest.
    let hex = digest.strip_prefix("sha256:").ok_or(Unbound::Digest)?;
    let digest_bytes = decode_hex(hex).ok_or(Unbound::Digest)?;
    let signature = a
        .signature
        .as_deref()
        .and_then(|s| crate::b64::decode(s.trim()).ok())
        .ok_or(Unbound::Signature)?;
    let cert_der = certificate::der(cert).map_err(Unbound::Certificate)?;
    let key = match certificate::public_key(&cert_der).map_err(Unbound::Certificate)? {
        PublicKey::P256(k) => k,
        PublicKey::Rsa(_) => return Err(Unbound::Key("an RSA")),
        PublicKey::P384(_) => return Err(Unbound::Key("an EC P-384")),
    };
    verify::verify_p256_prehash(&key, &digest_bytes, &signature).map_err(Unbound::Invalid)?;
    // 2. The Rekor entry the bundle carries names the same three things.
    let bundle = a.bundle.as_deref().ok_or(Unbound::NoBundle)?;
    let bundle: Bundle<'_> =
        crate::json::from_str(bundle).map_err(|_| Unbound::Bundle("is not a cosign bundle"))?;
    let body = crate::b64::decode(bundle.payload.body.trim())
        .map_err(|_| Unbound::Bundle("body is not base64"))?;
    let entry: Entry<'_> = std::str::from_utf8(&body)
        .ok()
        .and_then(|t| crate::json::from_str(t).ok())
        .ok_or(Unbound::Bundle("body is not a Rekor entry"))?;
    if entry.kind.as_ref() != "hashedrekord" {
        return Err(Unbound::Bundle("entry is not a hashedrekord"));
    }
    let hash = &entry.spec.data.hash;
    if hash.algorithm.as_ref() != "sha256" || decode_hex(&hash.value) != Some(digest_bytes) {
        return Err(Unbound::Mismatch("hash"));
    }
    if crate::b64::decode(entry.spec.signature.content.trim()).ok() != Some(signature) {
        return Err(Unbound::Mismatch("signature"));
    }
    if !same_certificate(&entry.spec.signature.public_key.content, cert, &cert_der) {
        return Err(Unbound::Mismatch("certificate"));
    }
    Ok(())
}

/// Whether the entry's certificate (base64 of a PEM block) is the layer's
/// (`cert`, whose DER is `cert_der`). cosign puts the very same PEM text in
/// both places, so when the decoded text equals the layer's (both trimmed,
/// as [`certificate::der`] trims) the DER is the same without decoding the
/// PEM a second time (about a sixth of a layer's own work inside wasm); any other
/// text is decoded to DER and compared.
fn same_certificate(entry_content: &str, cert: &str, cert_der: &[u8]) -> bool {
    let Ok(pem) = crate::b64::decode(entry_content.trim()) else {
        return false;
    };
    if same_bytes(pem.trim_ascii(), cert.trim().as_bytes()) {
        return true;
    }
    core::str::from_utf8(&pem)
        .ok()
        .and_then(|pem| certificate::der(pem).ok())
        .is_some_and(|der| der == cert_der)
}

/// `a == b`, eight bytes at a time: a slice comparison inside wasm is
/// `memcmp` from compiler-builtins, a byte per iteration, which for a
/// kilobyte of certificate cost as much as decoding it (callgrind).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails_equal = wa.remainder().iter().eq(wb.remainder());
    tails_equal
        && wa.zip(wb).all(|(x, y)| {
            u64::from_ne_bytes(x.try_into().unwrap_or_default())
                == u64::from_ne_bytes(y.try_into().unwrap_or_default())
        })
}

/// 64 hex digits (either case) as 32 bytes.
fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}
