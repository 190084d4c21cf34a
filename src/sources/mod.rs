//! Where an authority's proof for an image comes from. One file per
//! source, each answering "does authority `a` prove this image?":
//!
//! - `annotation`: attestations in the object's
//!   `kritis.grafeas.io/attestations` annotation, verified in the module;
//! - `registry_keys`: cosign signatures in the registry verified by the
//!   host with the authority's public keys;
//! - `registry_identities`: keyless (Sigstore) and certificate signatures
//!   in the registry verified by the host for the authority's identities,
//!   with the layers of keyless ones re-checked here by
//!   [`signature_layers`], because the host does not bind a layer's
//!   signature to its certificate.
//!
//! Every host call goes through `crate::host::Calls`, the request's budget.

pub(crate) mod annotation;
pub(crate) mod registry_identities;
pub(crate) mod registry_keys;
pub mod signature_layers;

use std::collections::BTreeMap;

use crate::settings::Settings;

/// Per authority, the annotations its registry signatures must carry, as
/// the host's requests take them (both registry sources send them).
pub(crate) fn registry_annotations(
    settings: &Settings<'_>,
) -> Vec<Option<BTreeMap<String, String>>> {
    settings
        .attestation_authorities
        .iter()
        .map(|a| {
            a.registry_annotations.as_ref().map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
        })
        .collect()
}

/// The host's answer for the digest being judged: with `expected`, an
/// answer for another digest (the tag moved during the admission) is a
/// failure.
pub(crate) fn judged(
    answer: Result<String, String>,
    expected: Option<&str>,
) -> Result<String, String> {
    match (answer, expected) {
        (Ok(d), Some(e)) if d != e => Err(format!(
            "the host verified {d} instead of the digest judged (did the tag move?)"
        )),
        (r, _) => r,
    }
}
