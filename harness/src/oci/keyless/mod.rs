//! Keyless (Sigstore) signatures in the `.sig` layout, answered live under
//! `run --allow-network --sigstore-trust-config FILE` exactly as
//! policy-server 1.31 answers them (policy-evaluator 0.30.4 →
//! policy-fetcher 0.11 → sigstore-rs 0.13: `cosign/signature_layers.rs`,
//! `cosign/bundle.rs`, `crypto/certificate*.rs`,
//! `cosign/verification_constraint/`, policy-fetcher's
//! `verify/verification_constraints.rs`), plus `oci`/`v1/oci_manifest`.
//!
//! `kubewarden`/`oci`/`v2/verify` types served here: `SigstoreKeylessVerify`,
//! `SigstoreKeylessPrefixVerify`, `SigstoreGithubActionsVerify`,
//! `SigstoreCertificateVerify` (the SDK 0.17 shapes, [`request`]).
//!
//! What the host checks, per layer of `REPO:sha256-HEX.sig` (a layer failing
//! one of the first three is skipped; no layer left is an error):
//! - the payload names the image's digest and a
//!   `dev.cosignproject.cosign/signature` annotation is present;
//! - a `dev.sigstore.cosign/bundle`, when present, has a SignedEntryTimestamp
//!   that the trust root's Rekor key named by its `logID` verifies over the
//!   canonical JSON of its `Payload` (else the layer is skipped);
//! - the `dev.sigstore.cosign/certificate`, when there is a verified bundle,
//!   is issued directly by a certificate of the trust root (webpki with every
//!   trust-root certificate an anchor and no intermediates, the code-signing
//!   EKU, not a CA), has a keyUsage and a SAN, is not from the future, and
//!   was valid at the bundle's integratedTime: only then does the layer have
//!   an identity — the subject from the SAN's first e-mail or URI, the issuer
//!   from the legacy extension 1.3.6.1.4.1.57264.1.1, the GitHub repository
//!   from 1.3.6.1.4.1.57264.1.5. `dev.sigstore.cosign/chain` is never read;
//! - then: exact issuer and subject; issuer and subject prefix (a `/` forced
//!   onto the prefix); for GitHub Actions, the GitHub issuer, a `github.com`
//!   subject URI, and owner (and repo) from the workflow-repository extension
//!   (`https://github.com/{ext}`, first two path segments); with the
//!   requested annotations in the same layer's payload.
//!
//! WHAT IT DOES NOT CHECK, ON PURPOSE, because policy-server 1.31 does not:
//! for the keyless kinds the layer's signature is never verified with the
//! certificate's key, and the bundle's `body` (the Rekor entry naming the
//! signed hash, the signature and the certificate) is never read. So a layer
//! whose signature is forged, a layer whose certificate, bundle and
//! signature are copied from another image's public signature with a payload
//! naming this image, and a bundle whose body names another hash are all
//! answered `is_trusted: true` here, as by policy-server. That is the hole
//! the policy closes itself (issue 21, "Do not inherit the host's hole"):
//! the harness keeps it so that tests prove it is the policy's own check
//! that rejects those layers. Certificate mode (`SigstoreCertificateVerify`)
//! does verify each layer's signature with the given certificate's key (and
//! its chain at the current time, and a Rekor bundle when required).
//!
//! Trust root: `--sigstore-trust-config FILE` ([`trust`], kwctl 1.31's
//! ClientTrustConfig). There is no default offline: without the flag, a
//! keyless request is a host error that says to pass one (a certificate
//! request still works, with Rekor bundles ignored, as in sigstore-rs
//! without Rekor keys).
//!
//! Why hand-written on RustCrypto's `x509-cert` rather than the `sigstore`
//! crate: sigstore 0.13's `cosign` feature pulls its `cert` feature, which
//! builds aws-lc-rs (a C/cmake build, minutes on 2 cores) and rustls-webpki
//! on it, oci-client 0.15 next to the harness's 0.18, and the previous
//! RustCrypto generation (der 0.7, p256 0.13, ecdsa 0.16, x509-cert 0.2)
//! next to the harness's (der 0.8, p256 0.14): a second TLS/crypto stack
//! for a CI budget already tight. `x509-cert` 0.3 adds a few small crates
//! on the der 0.8 the harness already builds. The checks above follow
//! sigstore-rs line by line; where webpki's path building is reproduced
//! (anchors only, no intermediates), the differences are: anchor name
//! constraints are not applied, and signature algorithms are limited to
//! ECDSA P-256/SHA-256, P-384/SHA-384 and RSA PKCS#1 v1.5/SHA-256.
//!
//! Modules: `trust` (the trust root), `certificate` (X.509), `bundle`
//! (Rekor bundles), `request` (payloads), `verify` (the checks),
//! `oci_manifest` (the manifest capability), `sign` (TEST TOOL: keyless-style
//! signing for the private test instance).

pub mod bundle;
pub mod certificate;
pub mod live;
pub mod oci_manifest;
pub mod request;
pub mod sign;
pub mod trust;
pub mod verify;

use crate::oci::cosign::{parse_image, Connect, RegistryStore};

pub use live::KeylessLive;
pub use oci_manifest::answer_oci_manifest;
pub use request::{is_keyless_request, KeylessRequest};
pub use trust::TrustRoot;

/// The host-call answer for a keyless or certificate `oci`/`v2/verify`
/// payload: the response's JSON bytes, or the host error's text.
pub fn answer_verify(
    payload: &[u8],
    trust: Option<&TrustRoot>,
    connect: Connect<'_>,
) -> Result<Vec<u8>, String> {
    let request: KeylessRequest = serde_json::from_slice(payload)
        .map_err(|e| format!("oci/v2/verify: invalid request: {e}"))?;
    let reference = parse_image(request.image()).map_err(|e| format!("{e:#}"))?;
    let store = RegistryStore::new(&reference, connect).map_err(|e| format!("{e:#}"))?;
    let response =
        verify::verify_with(&store, &request, trust, trust::now()).map_err(|e| format!("{e:#}"))?;
    serde_json::to_vec(&response).map_err(|e| e.to_string())
}
