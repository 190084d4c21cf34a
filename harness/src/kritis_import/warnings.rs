//! What an import changes in behaviour, or risks: the warnings (`require:
//! all`, policies without a namespace, `*` in a registry host) and the notes
//! (which namespaces the settings enforce).

use std::collections::BTreeSet;

use serde_json::Value;

use super::fields::{what, Loc};
use super::settings::{Allowlist, Policy};

/// The `require: all` warning (without `--require any`): policies that list
/// two or more authorities now need every one of them.
pub(super) fn require_all_warning(policies: &[(Policy, Loc)]) -> Option<String> {
    let several: Vec<String> = policies
        .iter()
        .filter(|(p, _)| p.attestation_authority_names.len() >= 2)
        .map(|(p, _)| describe_policy(p))
        .collect();
    (!several.is_empty()).then(|| {
        format!(
            "require: all: {} list(s) two or more authorities and now need an attestation \
             from EVERY one of them (this policy's default), where ACK's \
             kritis-validation-hook (kritis 0.2) admitted an image attested by ANY one; \
             run again with `--require any` to keep ACK's behaviour",
            several.join(", ")
        )
    })
}

/// The warning for a policy (at `at`) written without `metadata.namespace`.
pub(super) fn unscoped_warning(at: &str) -> String {
    format!(
        "{at}: no metadata.namespace, so it is imported as cluster-wide (every namespace); \
         in a cluster it would live in (and cover only) the namespace it was applied to: \
         set `namespace:` on it in the settings if that is what you meant"
    )
}

/// The warning for an AdmissionAllowlist (at `loc`) written with
/// `metadata.namespace`: in ACK the resource is cluster-scoped (the API
/// server drops the field), so its patterns apply in every namespace; what
/// scopes a pattern is the pattern's own `namespace`. Dropping the field
/// without a word would leave a user believing the allowlist is confined.
pub(super) fn allowlist_namespace_warning(loc: &Loc, namespace: &Value, a: &Allowlist) -> String {
    let (given, ns) = match namespace {
        Value::String(s) => (format!("{s:?}"), s.as_str()),
        other => (format!("({})", what(other)), "<namespace>"),
    };
    let unscoped = a.patterns.iter().filter(|p| p.namespace.is_none()).count();
    let effect = if unscoped == 0 {
        "every pattern here has its own `namespace`, so each stays confined to it".to_owned()
    } else {
        format!(
            "{unscoped} of its {} pattern(s) have no `namespace` of their own and are imported \
             for EVERY namespace: set `namespace: {ns}` on each pattern meant only for it",
            a.patterns.len()
        )
    };
    format!(
        "{}: {}: {given} is not imported: an AdmissionAllowlist is \
         cluster-scoped in ACK (the API server ignores metadata.namespace), and a pattern is \
         scoped only by its own `namespace` field (spec.patterns[].namespace, imported as \
         admissionAllowlists[].patterns[].namespace); {effect}",
        loc.at,
        loc.path("metadata.namespace"),
    )
}

/// The warnings for allowlist patterns with `*` in the registry host.
pub(super) fn wildcard_warnings(allowlists: &[(Allowlist, Loc)]) -> Vec<String> {
    let mut warnings = Vec::new();
    for (a, _) in allowlists {
        for p in &a.patterns {
            if let Some(w) = wildcard_host_warning(&p.name_pattern) {
                warnings.push(w);
            }
        }
    }
    warnings
}

/// `policy "NAME" (NAMESPACE: AUTHORITIES)`.
fn describe_policy(p: &Policy) -> String {
    let ns = p.namespace.as_deref().unwrap_or("every namespace");
    format!(
        "policy {:?} ({ns}: {})",
        p.name,
        p.attestation_authority_names.join(", ")
    )
}

/// Which namespaces the settings enforce.
pub(super) fn enforcement(policies: &[(Policy, Loc)], warnings: &mut Vec<String>) -> Vec<String> {
    if policies.is_empty() {
        warnings.push(
            "no GenericAttestationPolicy in the input: without attestationPolicies the policy \
             requires an attestation from any one imported authority in EVERY namespace, where \
             kritis enforces no namespace that has no GenericAttestationPolicy; import the \
             policies too, or add attestationPolicies to the settings"
                .to_owned(),
        );
        return vec!["enforced in: every namespace (no attestationPolicies)".to_owned()];
    }
    let cluster_wide: Vec<&str> = policies
        .iter()
        .filter(|(p, _)| p.namespace.is_none())
        .map(|(p, _)| p.name.as_str())
        .collect();
    let namespaces: BTreeSet<&str> = policies
        .iter()
        .filter_map(|(p, _)| p.namespace.as_deref())
        .collect();
    let listed = namespaces.iter().copied().collect::<Vec<_>>().join(", ");
    if cluster_wide.is_empty() {
        vec![format!(
            "enforced in: {listed} (the namespaces of the imported policies); every other \
             namespace is admitted WITHOUT checks, as with kritis: add a policy without \
             `namespace` to the settings to enforce the rest of the cluster"
        )]
    } else if namespaces.is_empty() {
        vec![format!(
            "enforced in: every namespace (cluster-wide policies: {})",
            cluster_wide.join(", ")
        )]
    } else {
        // A namespace with policies of its own uses only those (the
        // cluster-wide ones do not apply there): say so in a sentence that
        // reads right for one namespace and for several.
        let (which, uses) = if namespaces.len() == 1 {
            ("namespace", "uses only its own policies")
        } else {
            ("namespaces", "each use only their own policies")
        };
        vec![format!(
            "enforced in: every namespace (cluster-wide policies: {}); {which} {listed} {uses}, \
             not the cluster-wide ones",
            cluster_wide.join(", ")
        )]
    }
}

/// A warning when the registry host of a pattern (what precedes the first
/// `/`) has a `*`: it then matches hosts the user does not control.
fn wildcard_host_warning(pattern: &str) -> Option<String> {
    let (host, _) = pattern.split_once('/')?;
    if !host.contains('*') {
        return None;
    }
    if !host.contains('.') && !host.contains(':') && host != "localhost" {
        return Some(format!(
            "allowlist pattern {pattern:?}: `*` in {host:?}, which is a Docker Hub account, \
             so it also matches images anyone can publish under an account of that shape, and \
             an allowlisted image is admitted with no verification: list exact names instead"
        ));
    }
    let example = lookalike(host);
    let whose = if example.ends_with(".aliyuncs.com") && example.contains(".oss-") {
        ", an OSS bucket domain anyone can create by naming a bucket"
    } else {
        ", which need not be a registry you trust"
    };
    let instead = if host.ends_with(".aliyuncs.com") {
        "registry.cn-hangzhou.aliyuncs.com/acs/*, registry-vpc.cn-hangzhou.aliyuncs.com/acs/*"
    } else {
        "registry.example.com/team/*, one pattern per host"
    };
    Some(format!(
        "allowlist pattern {pattern:?}: `*` in the registry host {host:?} also matches hosts \
         such as {example:?}{whose}, and an allowlisted image is admitted with no verification: \
         list each registry host exactly (e.g. {instead}) and keep `*` for the end of the path"
    ))
}

/// A host that `host` (a pattern with `*`) matches and that is not a
/// registry: an OSS bucket domain when one fits, else `*` → `evil`.
fn lookalike(host: &str) -> String {
    for candidate in [
        "registry-evil.oss-cn-hangzhou.aliyuncs.com",
        "evil.oss-cn-hangzhou.aliyuncs.com",
    ] {
        if host_matches(host.as_bytes(), candidate.as_bytes()) {
            return candidate.to_owned();
        }
    }
    let mut out = String::new();
    for (i, part) in host.split('*').enumerate() {
        if i > 0 {
            let glue = if out.ends_with(|c: char| c.is_ascii_alphanumeric()) {
                "-evil"
            } else {
                "evil"
            };
            out.push_str(glue);
        }
        out.push_str(part);
    }
    out
}

/// ACK's rule for a `*` that is not at the end of the pattern: it matches
/// letters, digits, `-` and `_` (possibly none).
fn host_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            let run = text
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'_')
                .count();
            (0..=run).any(|n| host_matches(rest, &text[n..]))
        }
        Some((c, rest)) => text.first() == Some(c) && host_matches(rest, &text[1..]),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_are_flagged_with_a_lookalike() {
        assert_eq!(
            wildcard_host_warning("registry.cn-hangzhou.aliyuncs.com/acs/*"),
            None
        );
        assert_eq!(wildcard_host_warning("nginx*"), None);
        let w = wildcard_host_warning("registry-*.ack.aliyuncs.com/acs/*").unwrap();
        assert!(
            w.contains(
                "hosts such as \"registry-evil.ack.aliyuncs.com\", which need not be a registry you trust"
            ),
            "{w}"
        );
        let w = wildcard_host_warning("*.oss-cn-hangzhou.aliyuncs.com/x").unwrap();
        assert!(
            w.contains("\"registry-evil.oss-cn-hangzhou.aliyuncs.com\", an OSS bucket domain"),
            "{w}"
        );
        let w = wildcard_host_warning("x*.oss-cn-hangzhou.aliyuncs.com/x").unwrap();
        assert!(
            w.contains("\"x-evil.oss-cn-hangzhou.aliyuncs.com\", an OSS bucket domain"),
            "{w}"
        );
        let w = wildcard_host_warning("team-*/app").unwrap();
        assert!(w.contains("a Docker Hub account"), "{w}");
        assert!(host_matches(
            b"registry*.*.aliyuncs.com",
            b"registry-evil.oss-cn-hangzhou.aliyuncs.com"
        ));
        assert!(!host_matches(
            b"registry*.aliyuncs.com",
            b"registry.evil.aliyuncs.com"
        ));
    }
}
