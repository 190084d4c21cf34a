//! Where an authority's proof for an image comes from. One file per
//! source, each answering "does authority `a` prove this image?":
//!
//! - [`annotation`]: attestations in the object's
//!   `kritis.grafeas.io/attestations` annotation, verified in the module;
//! - [`registry_keys`]: cosign signatures in the registry verified by the
//!   host with the authority's public keys;
//! - [`registry_identities`]: keyless (Sigstore) and certificate signatures
//!   in the registry verified by the host for the authority's identities,
//!   with the layers of keyless ones re-checked here by
//!   [`signature_layers`], because the host does not bind a layer's
//!   signature to its certificate.
//!
//! Every host call goes through [`crate::host::Calls`], the request's budget.

pub(crate) mod annotation;
pub(crate) mod registry_identities;
pub(crate) mod registry_keys;
pub mod signature_layers;
