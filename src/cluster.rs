//! The live mode (`kritisResources`): the cluster's kritis resources read
//! through Kubernetes' context-aware host calls and added to the request's
//! settings, so that the engine judges them exactly as settings entries.
//!
//! At most three host calls per request, each list read once, all within
//! the request's budget ([`crate::host::MAX_HOST_CALLS`]): the
//! GenericAttestationPolicies of the namespace; the AttestationAuthorities
//! of the namespace, only when it has a policy; the AdmissionAllowlists,
//! unless `kritisResources.allowlists` is false.

use crate::host::Calls;
use crate::kritis::{self, ResourceError};
use crate::settings::{KritisResourcesSpec, Require, Settings};

/// The host's answers, kept for the request: the settings borrow from them.
pub(crate) struct Fetched {
    policies: Option<Vec<u8>>,
    authorities: Option<Vec<u8>>,
    allowlists: Option<Vec<u8>>,
}

/// Reads the lists the request needs.
///
/// # Errors
/// Why a list could not be read, naming it (a host error fails closed).
pub(crate) fn fetch(
    calls: Calls<'_>,
    namespace: &str,
    spec: &KritisResourcesSpec,
) -> Result<Fetched, String> {
    let read_error =
        |what: String, e: crate::host::HostFailure| format!("cannot read the {what}: {e}");
    let policies = if namespace.is_empty() {
        None
    } else {
        Some(
            calls
                .list_resources_by_namespace(kritis::API_VERSION, kritis::POLICY_KIND, namespace)
                .map_err(|e| {
                    read_error(
                        format!("GenericAttestationPolicies of namespace {namespace}"),
                        e,
                    )
                })?,
        )
    };
    let has_policies = match &policies {
        Some(bytes) => !kritis::is_empty(bytes, kritis::POLICY_KIND).map_err(|e| e.to_string())?,
        None => false,
    };
    let authorities = if has_policies {
        Some(
            calls
                .list_resources_by_namespace(kritis::API_VERSION, kritis::AUTHORITY_KIND, namespace)
                .map_err(|e| {
                    read_error(
                        format!("AttestationAuthorities of namespace {namespace}"),
                        e,
                    )
                })?,
        )
    } else {
        None
    };
    let allowlists = if spec.allowlists.unwrap_or(true) {
        Some(
            calls
                .list_resources_all(kritis::API_VERSION, kritis::ALLOWLIST_KIND)
                .map_err(|e| read_error("AdmissionAllowlists".to_owned(), e))?,
        )
    } else {
        None
    };
    Ok(Fetched {
        policies,
        authorities,
        allowlists,
    })
}

/// Adds what the resources mean to `settings`: the namespace's policies
/// (which then govern it, most specific winning), their authorities, and
/// the allowlists.
///
/// # Errors
/// A resource that is malformed or names what does not exist, as text.
pub(crate) fn extend<'b>(
    settings: &mut Settings<'b>,
    fetched: &'b Fetched,
    namespace: &str,
    spec: &KritisResourcesSpec,
) -> Result<(), String> {
    let describe = |e: ResourceError| e.to_string();
    if let Some(bytes) = &fetched.allowlists {
        let lists = kritis::allowlists(bytes).map_err(describe)?;
        settings.admission_allowlists.extend(lists);
    }
    let Some(bytes) = &fetched.policies else {
        return Ok(());
    };
    let require = spec.require.unwrap_or(Require::All);
    let found = kritis::policies(bytes, namespace, require, spec.enforcement).map_err(describe)?;
    if found.policies.is_empty() {
        return Ok(());
    }
    let authorities = match &fetched.authorities {
        Some(bytes) => kritis::authorities(bytes, namespace, &found.named).map_err(describe)?,
        None => Vec::new(),
    };
    settings.attestation_authorities.extend(authorities);
    settings.admission_allowlists.extend(found.allowlists);
    settings
        .attestation_policies
        .get_or_insert_with(Vec::new)
        .extend(found.policies);
    Ok(())
}
