//! The cross checks of an import, the way the policy's `validate_settings`
//! checks settings: at least one authority, unique names and key ids,
//! policies naming existing authorities.

use std::collections::HashMap;

use super::error::ImportError;
use super::fields::Loc;
use super::settings::{Allowlist, Authority, Policy};

/// The error when the input holds no AttestationAuthority: what it holds
/// instead.
pub(super) fn no_authority(
    sources: &[(String, String)],
    policies: &[(Policy, Loc)],
    allowlists: &[(Allowlist, Loc)],
    skipped: &[String],
) -> ImportError {
    let mut found = Vec::new();
    for (n, kind) in [
        (policies.len(), "GenericAttestationPolicy"),
        (allowlists.len(), "AdmissionAllowlist"),
    ] {
        if n > 0 {
            found.push(format!("{n} {kind}"));
        }
    }
    if !skipped.is_empty() {
        found.push(format!("{} resource(s) not imported", skipped.len()));
    }
    ImportError::NoAuthority {
        sources: sources.iter().map(|(s, _)| s.clone()).collect(),
        found,
    }
}

/// Authority names and key ids are unique. Returns where each authority is,
/// by name.
pub(super) fn unique_authorities(
    authorities: &[(Authority, Loc)],
) -> Result<HashMap<&str, &Loc>, ImportError> {
    let mut by_name: HashMap<&str, &Loc> = HashMap::new();
    let mut key_ids: HashMap<&str, &Loc> = HashMap::new();
    for (a, loc) in authorities {
        if let Some(first) = by_name.insert(&a.name, loc) {
            return Err(loc.error(
                "metadata.name",
                format!(
                    "a second AttestationAuthority named {:?} (the first: {})",
                    a.name, first.at
                ),
            ));
        }
        if let Some(id) = &a.public_key_id {
            if let Some(first) = key_ids.insert(id, loc) {
                return Err(loc.error(
                    "spec.publicKeyId",
                    format!(
                        "key id {id:?} is also the id of {}: signatures name keys by id, so \
                         ids must be unique",
                        first.at
                    ),
                ));
            }
        }
    }
    Ok(by_name)
}

/// Policy names are unique in a namespace, and every authority a policy
/// names is in `by_name`.
pub(super) fn policies_name_authorities(
    policies: &[(Policy, Loc)],
    by_name: &HashMap<&str, &Loc>,
) -> Result<(), ImportError> {
    let mut policy_names: HashMap<(Option<&str>, &str), &Loc> = HashMap::new();
    for (p, loc) in policies {
        if let Some(first) = policy_names.insert((p.namespace.as_deref(), &p.name), loc) {
            return Err(loc.error(
                "metadata.name",
                format!(
                    "a second GenericAttestationPolicy named {:?} in the same namespace (the \
                     first: {})",
                    p.name, first.at
                ),
            ));
        }
        for (i, n) in p.attestation_authority_names.iter().enumerate() {
            if !by_name.contains_key(n.as_str()) {
                return Err(loc.error(
                    &format!("spec.attestationAuthorityNames[{i}]"),
                    format!(
                        "no AttestationAuthority named {n:?} in the input: add it (kubectl get \
                         attestationauthorities -o yaml) or the policy could never be satisfied"
                    ),
                ));
            }
        }
    }
    Ok(())
}
