//! The structural checks of the settings: everything that needs no key
//! decoding. Separate from `validate` because they run on every request
//! (`evaluate` refuses settings they fault), so they must stay cheap: paths
//! are formatted only for an error, and names are indexed with [`Fnv`].

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::identity::identity_errors;
use super::{key_path, Fnv, Settings, WhenNoPolicy, MAX_EXPIRY_WARNING_DAYS};
use crate::allowlist::MAX_PATTERN_LEN;

impl Settings<'_> {
    /// Structural checks that need no key decoding: cheap enough to run on
    /// every request, so a policy never evaluates settings it would refuse.
    #[must_use]
    pub fn structural_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let live_admit = self
            .kritis_resources
            .is_some_and(|k| k.when_no_policy == WhenNoPolicy::Admit);
        if self.attestation_authorities.is_empty() && !live_admit {
            errors.push("attestationAuthorities: at least one authority is required".to_owned());
        }
        self.kritis_resources_errors(&mut errors);
        self.source_errors(&mut errors);
        let names = self.authority_errors(&mut errors);
        self.policy_errors(&names, &mut errors);
        self.allowlist_errors(&mut errors);
        errors
    }

    fn kritis_resources_errors(&self, errors: &mut Vec<String>) {
        let Some(k) = &self.kritis_resources else {
            return;
        };
        if k.require.is_none() {
            errors.push(
                "kritisResources.require: must be set: \"any\" reads a GenericAttestationPolicy listing several authorities as ACK's kritis-validation-hook does (any one of them attests), \"all\" as grafeas/kritis does (every one of them)"
                    .to_owned(),
            );
        }
        if k.when_no_policy == WhenNoPolicy::Settings && !self.has_cluster_wide_policy() {
            errors.push(
                "kritisResources.whenNoPolicy: a namespace without a GenericAttestationPolicy (and every namespace while policy-server's cache of the cluster is still empty after a restart) is judged by the settings' cluster-wide policies, and there is none: add an attestationPolicies entry without namespace (or omit attestationPolicies to require any settings authority), or set whenNoPolicy: admit to admit such namespaces unverified as ACK's hook does (see the README on the start-up window)"
                    .to_owned(),
            );
        }
    }

    fn source_errors(&self, errors: &mut Vec<String>) {
        if let Some(sources) = &self.attestation_sources {
            if sources.is_empty() {
                errors.push(
                    "attestationSources: must not be empty; omit it to read the annotation only"
                        .to_owned(),
                );
            }
            for (i, s) in sources.iter().enumerate() {
                if sources[..i].contains(s) {
                    errors.push(format!(
                        "attestationSources[{i}]: {:?} is listed twice",
                        s.name()
                    ));
                }
            }
        }
    }

    /// Checks the authorities; returns their names (name → index).
    fn authority_errors(&self, errors: &mut Vec<String>) -> Names<'_> {
        let registry = self.sources().registry;
        let live = self.kritis_resources.is_some();
        // Runs on every request for every authority: sized once, and
        // hashed with FNV rather than SipHash (see [`Fnv`]).
        let mut names: Names<'_> = Names::with_capacity_and_hasher(
            self.attestation_authorities.len(),
            BuildHasherDefault::default(),
        );
        for (i, a) in self.attestation_authorities.iter().enumerate() {
            // Runs on every request: paths are formatted only for an error.
            let at = || format!("attestationAuthorities[{i}]");
            if let Some(annotations) = &a.registry_annotations {
                if !registry {
                    errors.push(format!("{}.registryAnnotations: only the registry source checks them; add \"registry\" to attestationSources", at()));
                }
                if annotations.keys().any(|k| k.is_empty()) {
                    errors.push(format!(
                        "{}.registryAnnotations: keys must not be empty",
                        at()
                    ));
                }
            }
            if a.name.is_empty() {
                errors.push(format!("{}.name: must not be empty", at()));
            } else if live && a.name.contains('/') {
                errors.push(format!(
                    "{}.name: {:?}: with kritisResources, names with '/' are the cluster's AttestationAuthorities (namespace/name); rename this one",
                    at(),
                    a.name
                ));
            } else if let Some(j) = names.insert(&a.name, i) {
                errors.push(format!(
                    "{}.name: duplicate authority name {:?} (also attestationAuthorities[{j}])",
                    at(),
                    a.name
                ));
            }
            identity_errors(a, &at, registry, errors);
            if a.public_key_data.is_none() {
                if a.public_keys.is_empty() && !a.is_identity() {
                    errors.push(format!(
                        "{}: no public key: set publicKeyData or publicKeys (or one identity: keyless, githubActions or certificate)",
                        at()
                    ));
                }
                if a.public_key_id.is_some() {
                    errors.push(format!("{}.publicKeyId: given without publicKeyData", at()));
                }
                if a.signature_algorithm.is_some() {
                    errors.push(format!(
                        "{}.signatureAlgorithm: given without publicKeyData",
                        at()
                    ));
                }
            }
            for k in a.keys() {
                if k.id == Some("") {
                    errors.push(format!(
                        "{}.publicKeyId: must not be empty",
                        key_path(&at(), k)
                    ));
                }
            }
        }
        names
    }

    fn policy_errors(&self, names: &Names<'_>, errors: &mut Vec<String>) {
        if let Some(policies) = &self.attestation_policies {
            if policies.is_empty() {
                errors.push(
                    "attestationPolicies: must not be empty; omit it to require any authority in every namespace"
                        .to_owned(),
                );
            }
            let mut seen: HashMap<(Option<&str>, &str), usize> = HashMap::new();
            for (i, p) in policies.iter().enumerate() {
                let at = || format!("attestationPolicies[{i}]");
                if p.name.is_empty() {
                    errors.push(format!("{}.name: must not be empty", at()));
                } else if let Some(j) = seen.insert((p.namespace.as_deref(), &p.name), i) {
                    errors.push(format!("{}.name: duplicate policy name {:?} in the same namespace (also attestationPolicies[{j}])", at(), p.name));
                }
                if p.namespace.as_deref() == Some("") {
                    errors.push(format!(
                        "{}.namespace: must not be empty; omit it for every namespace",
                        at()
                    ));
                }
                if p.attestation_authority_names.is_empty() {
                    errors.push(format!("{}.attestationAuthorityNames: must list at least one authority (kritis treats an empty list as malformed)", at()));
                }
                for (k, name) in p.attestation_authority_names.iter().enumerate() {
                    let field = || format!("{}.attestationAuthorityNames[{k}]", at());
                    if !names.contains_key(name.as_ref()) {
                        errors.push(format!("{}: no authority named {name:?}", field()));
                    } else if p.attestation_authority_names[..k].contains(name) {
                        errors.push(format!("{}: authority {name:?} is listed twice", field()));
                    }
                }
            }
        }
    }

    fn allowlist_errors(&self, errors: &mut Vec<String>) {
        if let Some(e) = &self.breakglass_expires {
            if let Err(why) = crate::clock::parse_rfc3339(e) {
                errors.push(format!("breakglassExpires: {e:?} {why}"));
            }
        }
        if self
            .expiry_warning_days
            .is_some_and(|d| d > MAX_EXPIRY_WARNING_DAYS)
        {
            errors.push(format!(
                "expiryWarningDays: at most {MAX_EXPIRY_WARNING_DAYS} days"
            ));
        }
        for (i, list) in self.admission_allowlists.iter().enumerate() {
            for (k, pattern) in list.patterns.iter().enumerate() {
                if let Some(e) = &pattern.expires {
                    if let Err(why) = crate::clock::parse_rfc3339(e) {
                        errors.push(format!(
                            "admissionAllowlists[{i}].patterns[{k}].expires: {e:?} {why}"
                        ));
                    }
                }
                let empty_namespace = pattern.namespace.as_deref() == Some("");
                let length = pattern.name_pattern.len();
                // Runs on every request: the path is formatted only for an
                // error, never for each of thousands of valid patterns.
                if length != 0 && length <= MAX_PATTERN_LEN && !empty_namespace {
                    continue;
                }
                let at = format!("admissionAllowlists[{i}].patterns[{k}]");
                if pattern.name_pattern.is_empty() {
                    errors.push(format!("{at}.namePattern: must not be empty"));
                } else if pattern.name_pattern.len() > MAX_PATTERN_LEN {
                    errors.push(format!(
                        "{at}.namePattern: longer than {MAX_PATTERN_LEN} characters"
                    ));
                }
                if empty_namespace {
                    errors.push(format!(
                        "{at}.namespace: must not be empty; omit it for every namespace"
                    ));
                }
            }
        }
    }
}

/// The authorities' names that policies may refer to, with their index.
type Names<'s> = HashMap<&'s str, usize, BuildHasherDefault<Fnv>>;
