//! The whole import: every source read, the cross checks, then the warnings
//! and notes.

use super::checks::{no_authority, policies_name_authorities, unique_authorities};
use super::convert::Options;
use super::error::ImportError;
use super::parse::{read_source, Found};
use super::settings::Settings;
use super::warnings::{enforcement, require_all_warning, unscoped_warning, wildcard_warnings};

/// What an import produced.
#[derive(Debug, Default)]
pub struct Import {
    /// The settings (valid for the policy).
    pub settings: Settings,
    /// What was in the input and is not in the settings, with why.
    pub skipped: Vec<String>,
    /// Where the imported settings behave differently from what a kritis
    /// user may expect, or are risky.
    pub warnings: Vec<String>,
    /// What the settings enforce (which namespaces).
    pub notes: Vec<String>,
}

/// Imports every document of every given YAML text (`(source name, text)`).
///
/// # Errors
/// An [`ImportError`] when a document is not YAML, a kritis resource lacks a
/// required field or has one the policy would refuse, a policy names an
/// authority the input does not hold, a name repeats, or the input holds no
/// AttestationAuthority at all.
pub fn import(sources: &[(String, String)], options: Options) -> Result<Import, ImportError> {
    let mut found = Found::default();
    for (source, text) in sources {
        read_source(source, text, options, &mut found)?;
    }
    finish(sources, found, options)
}

/// A policy naming an authority that lives in another namespace: kritis
/// (and the live mode, `kritisResources`) reads a policy's authorities from
/// the policy's own namespace only, and would not find it; the settings
/// link authorities by name across namespaces.
fn other_namespace_warnings(
    policies: &[(super::settings::Policy, super::fields::Loc)],
    authority_namespaces: &[(String, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (policy, loc) in policies {
        let Some(ns) = &policy.namespace else {
            continue;
        };
        for name in &policy.attestation_authority_names {
            let homes: Vec<&str> = authority_namespaces
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, home)| home.as_str())
                .collect();
            if !homes.is_empty() && !homes.contains(&ns.as_str()) {
                out.push(format!(
                    "{}: names AttestationAuthority {name:?}, which lives in {}, not in the \
                     policy's namespace {ns:?}: kritis (and this policy's kritisResources \
                     mode) reads a policy's authorities from its own namespace only and would \
                     reject the request; the imported settings use it",
                    loc.at,
                    homes.join(", ")
                ));
            }
        }
    }
    out
}

/// Cross checks, then the warnings and notes.
fn finish(
    sources: &[(String, String)],
    found: Found,
    options: Options,
) -> Result<Import, ImportError> {
    let Found {
        authorities,
        policies,
        allowlists,
        skipped,
        mut warnings,
        unscoped,
        authority_namespaces,
    } = found;
    if authorities.is_empty() {
        return Err(no_authority(sources, &policies, &allowlists, &skipped));
    }
    let by_name = unique_authorities(&authorities)?;
    policies_name_authorities(&policies, &by_name)?;

    if !options.require_any {
        warnings.extend(require_all_warning(&policies));
    }
    warnings.extend(unscoped.iter().map(|at| unscoped_warning(at)));
    warnings.extend(wildcard_warnings(&allowlists));
    warnings.extend(other_namespace_warnings(&policies, &authority_namespaces));

    let notes = enforcement(&policies, &mut warnings);
    let settings = Settings {
        attestation_authorities: authorities.into_iter().map(|(a, _)| a).collect(),
        attestation_policies: policies.into_iter().map(|(p, _)| p).collect(),
        admission_allowlists: allowlists.into_iter().map(|(a, _)| a).collect(),
    };
    Ok(Import {
        settings,
        skipped,
        warnings,
        notes,
    })
}
