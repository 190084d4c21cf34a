//! Policy settings: the kritis CRDs (AttestationAuthority,
//! GenericAttestationPolicy, AdmissionAllowlist) folded into one document.
//!
//! Settings arrive with every `validate` call, so they are deserialised
//! borrowing from the request bytes and nothing costly happens here: keys
//! are decoded later, and only when a signature names them. `validate_settings`
//! (run once when policy-server loads the policy) does the full check,
//! decoding every key, and reports every problem with its path.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::Deserialize;

use crate::allowlist::MAX_PATTERN_LEN;
use crate::json_path;
use crate::keys::{self, KeyError};

/// Days before an expiry during which a warning is given, by default.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 7;
/// Longest warning window accepted.
pub const MAX_EXPIRY_WARNING_DAYS: u32 = 366;

/// Where an authority's proof for an image may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", expecting = "`annotation` or `registry`")]
pub enum Source {
    /// Attestations in the object's `kritis.grafeas.io/attestations`
    /// annotation, verified inside the policy.
    Annotation,
    /// cosign signatures stored next to the image in its OCI registry,
    /// verified by Kubewarden's host (`oci`/`v2/verify`).
    Registry,
}

impl Source {
    /// The name in the settings.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Source::Annotation => "annotation",
            Source::Registry => "registry",
        }
    }
}

/// The enabled sources, as flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// The annotation is read.
    pub annotation: bool,
    /// The registry is asked.
    pub registry: bool,
}

pub use crate::text::Text;

/// The `settings` object of the policy.
#[derive(Debug, Default, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "the policy's settings (an object)"
)]
pub struct Settings<'a> {
    /// The trusted signers.
    #[serde(borrow, default)]
    pub attestation_authorities: Vec<AuthoritySpec<'a>>,
    /// Which authorities each namespace requires. Absent: one implicit policy,
    /// in every namespace, satisfied by any one authority.
    #[serde(borrow, default)]
    pub attestation_policies: Option<Vec<PolicySpec<'a>>>,
    /// Images exempt from verification.
    #[serde(borrow, default)]
    pub admission_allowlists: Vec<AllowlistSpec<'a>>,
    /// Honour the `kritis.grafeas.io/breakglass` annotation.
    #[serde(default)]
    pub allow_breakglass: bool,
    /// RFC 3339 UTC time after which break-glass is refused.
    #[serde(borrow, default)]
    pub breakglass_expires: Option<Text<'a>>,
    /// Days before an expiry during which what it admits carries a warning
    /// (default 7).
    #[serde(default)]
    pub expiry_warning_days: Option<u32>,
    /// Resolve tags to digests through the host (`oci/v1/manifest_digest`).
    #[serde(default)]
    pub resolve_tags: bool,
    /// With `resolveTags` or the registry source, pin tag images to the
    /// digest that was verified (default true).
    #[serde(default)]
    pub mutate_to_digest: Option<bool>,
    /// Where proofs come from; absent means `[annotation]`.
    #[serde(default)]
    pub attestation_sources: Option<Vec<Source>>,
    /// Read the kritis resources of the cluster live (GenericAttestationPolicy,
    /// AttestationAuthority, AdmissionAllowlist), as kritis-validation-hook did.
    #[serde(default)]
    pub kritis_resources: Option<KritisResourcesSpec>,
}

/// What a namespace without a GenericAttestationPolicy of its own (or any
/// namespace while policy-server's watch cache is still empty) is judged by.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "`settings` or `admit`")]
pub enum WhenNoPolicy {
    /// The settings' cluster-wide policies (default): never admitted
    /// unverified because the cache was empty.
    #[default]
    Settings,
    /// Admitted unverified, as ACK's hook admits a namespace without a
    /// policy; an explicit opt-out with a start-up window (README).
    Admit,
}

/// `kritisResources`: the live mode.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "kritisResources (an object)"
)]
pub struct KritisResourcesSpec {
    /// How a GenericAttestationPolicy listing several authorities is read:
    /// `any` (ACK's hook) or `all` (grafeas/kritis). Mandatory.
    #[serde(default)]
    pub require: Option<Require>,
    /// Read the cluster's AdmissionAllowlists (default true).
    #[serde(default)]
    pub allowlists: Option<bool>,
    /// Namespaces without a GenericAttestationPolicy: `settings` (default)
    /// or `admit`.
    #[serde(default)]
    pub when_no_policy: WhenNoPolicy,
    /// What the GenericAttestationPolicies do when they fail: `deny`
    /// (default) or `warn`.
    #[serde(default)]
    pub enforcement: Enforcement,
}

/// An AttestationAuthority.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an attestation authority (an object)"
)]
pub struct AuthoritySpec<'a> {
    /// Unique name, referred to by policies.
    #[serde(borrow)]
    pub name: Text<'a>,
    /// Kept for kritis parity (`namespaces/<note>`); not used to verify.
    #[serde(borrow, default)]
    pub note_reference: Option<Text<'a>>,
    /// The id signatures by the primary key name.
    #[serde(borrow, default)]
    pub public_key_id: Option<Text<'a>>,
    /// Base64 of a PEM public key, or the PEM itself.
    #[serde(borrow, default)]
    pub public_key_data: Option<Text<'a>>,
    /// Restricts the primary key to one scheme.
    #[serde(borrow, default)]
    pub signature_algorithm: Option<Text<'a>>,
    /// More keys (rotation): any one of them satisfies the authority.
    #[serde(borrow, default)]
    pub public_keys: Vec<KeySpec<'a>>,
    /// With the registry source: annotations the cosign signature must
    /// carry in its payload's `optional` map (`cosign sign -a key=value`).
    #[serde(borrow, default)]
    pub registry_annotations: Option<BTreeMap<Text<'a>, Text<'a>>>,
    /// Keyless identities (Sigstore: OIDC issuer and certificate subject,
    /// exact or by URL prefix); any one satisfies the authority.
    #[serde(borrow, default)]
    pub keyless: Option<Vec<KeylessSpec<'a>>>,
    /// Keyless signatures made by GitHub Actions workflows of an owner
    /// (and repository). Boxed, as `certificate`: rarely set, and every
    /// request deserialises every authority, so a smaller spec is less
    /// memory to fill and move.
    #[serde(borrow, default)]
    pub github_actions: Option<Box<GithubActionsSpec<'a>>>,
    /// Signatures by a key certified by a given certificate.
    #[serde(borrow, default)]
    pub certificate: Option<Box<CertificateSpec<'a>>>,
}

/// One keyless identity: the OIDC issuer and the subject, exact or by
/// URL prefix (exactly one of the two).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "a keyless identity (an object)"
)]
pub struct KeylessSpec<'a> {
    /// The OIDC issuer URL (e.g. `https://token.actions.githubusercontent.com`).
    #[serde(borrow)]
    pub issuer: Text<'a>,
    /// The exact certificate subject: an email or a URI.
    #[serde(borrow, default)]
    pub subject: Option<Text<'a>>,
    /// A URL the subject must start with; must end in `/`.
    #[serde(borrow, default)]
    pub subject_prefix: Option<Text<'a>>,
}

/// GitHub Actions workflows of one owner, optionally of one repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "a githubActions identity (an object)"
)]
pub struct GithubActionsSpec<'a> {
    /// The GitHub user or organisation.
    #[serde(borrow)]
    pub owner: Text<'a>,
    /// The repository (without the owner).
    #[serde(borrow, default)]
    pub repo: Option<Text<'a>>,
}

/// A certificate that certifies the signing key, optionally chained to CAs.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "a certificate authority (an object)"
)]
pub struct CertificateSpec<'a> {
    /// PEM, or base64 of PEM.
    #[serde(borrow)]
    pub certificate: Text<'a>,
    /// The CAs the certificate must chain to (PEM, or base64 of PEM, each).
    #[serde(borrow, default)]
    pub certificate_chain: Option<Vec<Text<'a>>>,
    /// Whether a signature layer must carry a Rekor bundle (default true:
    /// it lets the host check the signature was made while the certificate
    /// was valid).
    #[serde(default)]
    pub require_rekor_bundle: Option<bool>,
}

/// How an authority is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofKind {
    /// Public keys (`publicKeyData`, `publicKeys`).
    Keys,
    /// `keyless` identities.
    Keyless,
    /// `githubActions`.
    GithubActions,
    /// `certificate`.
    Certificate,
}

impl ProofKind {
    /// The settings field that configures it.
    #[must_use]
    pub fn field(self) -> &'static str {
        match self {
            ProofKind::Keys => "publicKeyData",
            ProofKind::Keyless => "keyless",
            ProofKind::GithubActions => "githubActions",
            ProofKind::Certificate => "certificate",
        }
    }
}

/// One more key of an authority.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "a public key (an object)"
)]
pub struct KeySpec<'a> {
    /// The id signatures by this key name.
    #[serde(borrow, default)]
    pub public_key_id: Option<Text<'a>>,
    /// Base64 of a PEM public key, or the PEM itself.
    #[serde(borrow)]
    pub public_key_data: Text<'a>,
    /// Restricts the key to one scheme.
    #[serde(borrow, default)]
    pub signature_algorithm: Option<Text<'a>>,
}

/// How many of a policy's authorities must attest.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", expecting = "`all` or `any`")]
pub enum Require {
    /// Every listed authority (Binary Authorization, current kritis).
    #[default]
    All,
    /// Any one listed authority (kritis 0.2, ACK's hook).
    Any,
}

/// A GenericAttestationPolicy.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an attestation policy (an object)"
)]
pub struct PolicySpec<'a> {
    /// Name, shown in rejection messages.
    #[serde(borrow)]
    pub name: Text<'a>,
    /// The namespace it applies to; absent means every namespace.
    #[serde(borrow, default)]
    pub namespace: Option<Text<'a>>,
    /// The authorities it requires.
    #[serde(borrow)]
    pub attestation_authority_names: Vec<Text<'a>>,
    /// `all` (default) or `any`.
    #[serde(default)]
    pub require: Require,
    /// `deny` (default) or `warn`.
    #[serde(default)]
    pub enforcement: Enforcement,
}

/// What a failing policy does.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", expecting = "`deny` or `warn`")]
pub enum Enforcement {
    /// Reject the object (default).
    #[default]
    Deny,
    /// Admit it, with a warning for each image saying what the rejection
    /// would have said, and an audit annotation.
    Warn,
}

/// An AdmissionAllowlist.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an admission allowlist (an object)"
)]
pub struct AllowlistSpec<'a> {
    /// Name, for the operator's benefit.
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    /// The patterns.
    #[serde(borrow)]
    pub patterns: Vec<PatternSpec<'a>>,
}

/// One allowlist entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an allowlist pattern (an object)"
)]
pub struct PatternSpec<'a> {
    /// The image pattern (ACK wildcard rules, see `allowlist`).
    #[serde(borrow)]
    pub name_pattern: Text<'a>,
    /// The namespace it applies to; absent means every namespace.
    #[serde(borrow, default)]
    pub namespace: Option<Text<'a>>,
    /// RFC 3339 UTC time from which the pattern matches nothing.
    #[serde(borrow, default)]
    pub expires: Option<Text<'a>>,
}

/// One key of an authority, wherever it was written.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'s> {
    /// Its explicit `publicKeyId`, if any.
    pub id: Option<&'s str>,
    /// Its `publicKeyData`.
    pub data: &'s str,
    /// Its `signatureAlgorithm`.
    pub algorithm: Option<&'s str>,
    /// Its settings path, e.g. `attestationAuthorities[0].publicKeys[1]`.
    pub index: Option<usize>,
}

impl<'a> AuthoritySpec<'a> {
    /// The ways this authority is configured to be proven, in field order
    /// (valid settings have exactly one).
    pub fn proof_kinds(&self) -> impl Iterator<Item = ProofKind> {
        let keys = self.public_key_data.is_some() || !self.public_keys.is_empty();
        [
            (keys, ProofKind::Keys),
            (self.keyless.is_some(), ProofKind::Keyless),
            (self.github_actions.is_some(), ProofKind::GithubActions),
            (self.certificate.is_some(), ProofKind::Certificate),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .map(|(_, kind)| kind)
    }

    /// Whether the authority is proven by an identity (keyless, GitHub
    /// Actions, certificate) rather than by keys.
    #[must_use]
    pub fn is_identity(&self) -> bool {
        self.keyless.is_some() || self.github_actions.is_some() || self.certificate.is_some()
    }

    /// Every key of the authority: the primary one, then `publicKeys`.
    pub fn keys(&self) -> impl Iterator<Item = KeyRef<'_>> {
        let primary = self.public_key_data.as_deref().map(|data| KeyRef {
            id: self.public_key_id.as_deref(),
            data,
            algorithm: self.signature_algorithm.as_deref(),
            index: None,
        });
        primary
            .into_iter()
            .chain(self.public_keys.iter().enumerate().map(|(i, k)| KeyRef {
                id: k.public_key_id.as_deref(),
                data: &k.public_key_data,
                algorithm: k.signature_algorithm.as_deref(),
                index: Some(i),
            }))
    }
}

impl<'a> Settings<'a> {
    /// Deserialises settings, naming the path of the first field that does
    /// not fit (`attestationAuthorities[0]: unknown field `publicKeyDta``).
    ///
    /// # Errors
    /// Not UTF-8, or the deserialisation error with its path.
    pub fn from_slice(bytes: &'a [u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "the settings are not UTF-8 text")?;
        Self::from_str(text)
    }

    /// [`Settings::from_slice`] for text. The path is recovered from the
    /// error's position, only on failure (`json_path`).
    ///
    /// # Errors
    /// The deserialisation error with its path.
    #[allow(clippy::should_implement_trait)] // borrows from the text, which `FromStr` cannot
    pub fn from_str(text: &'a str) -> Result<Self, String> {
        crate::json::from_str(text).map_err(|e| describe(&json_path::path_of(text, &e), &e))
    }

    /// The enabled attestation sources.
    #[must_use]
    pub fn sources(&self) -> Sources {
        match &self.attestation_sources {
            None => Sources {
                annotation: true,
                registry: false,
            },
            Some(list) => Sources {
                annotation: list.contains(&Source::Annotation),
                registry: list.contains(&Source::Registry),
            },
        }
    }

    /// Whether tag images are pinned, in the admitted object, to the digest
    /// that was verified (resolved by `resolveTags`, or verified by the
    /// registry source).
    #[must_use]
    pub fn mutate(&self) -> bool {
        (self.resolve_tags || self.sources().registry) && self.mutate_to_digest.unwrap_or(true)
    }

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

    /// Whether some settings policy applies in every namespace (the
    /// implicit one when `attestationPolicies` is absent).
    #[must_use]
    pub fn has_cluster_wide_policy(&self) -> bool {
        match &self.attestation_policies {
            None => !self.attestation_authorities.is_empty(),
            Some(list) => list.iter().any(|p| p.namespace.is_none()),
        }
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

    /// The expiry warning window, in seconds.
    #[must_use]
    pub fn expiry_warning_seconds(&self) -> i64 {
        i64::from(
            self.expiry_warning_days
                .unwrap_or(DEFAULT_EXPIRY_WARNING_DAYS),
        ) * 86_400
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

    /// The full check run by `validate_settings`: structure, then every key
    /// decoded, its algorithm checked, and key ids (explicit or kritis's
    /// default) unique across all authorities.
    ///
    /// # Errors
    /// Every problem found, each with its settings path, joined by `; `.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = self.structural_errors();
        let registry = self.sources().registry;
        let mut ids: HashMap<String, String> = HashMap::new();
        for (i, a) in self.attestation_authorities.iter().enumerate() {
            let at = format!("attestationAuthorities[{i}]");
            if let Some(c) = &a.certificate {
                let check = |text: &str| {
                    crate::certificate::der(text).and_then(|d| crate::certificate::check(&d))
                };
                if let Err(e) = check(&c.certificate) {
                    errors.push(format!(
                        "{at}.certificate.certificate: authority {:?}: {e}",
                        a.name
                    ));
                }
                for (k, ca) in c.certificate_chain.iter().flatten().enumerate() {
                    if let Err(e) = check(ca) {
                        errors.push(format!(
                            "{at}.certificate.certificateChain[{k}]: authority {:?}: {e}",
                            a.name
                        ));
                    }
                }
            }
            for k in a.keys() {
                let path = key_path(&at, k);
                match keys::parse_key(k.data, k.algorithm) {
                    Ok(key) if registry => {
                        if let Some(why) = keys::registry_incompatibility(&key) {
                            errors.push(format!(
                                "{path}.signatureAlgorithm: authority {:?}, key {}: the registry source cannot check it: {why}",
                                a.name,
                                k.id.map_or_else(|| "(default id)".to_owned(), |id| format!("{id:?}"))
                            ));
                        }
                    }
                    Ok(_) => {}
                    Err(e @ (KeyError::UnknownAlgorithm | KeyError::AlgorithmMismatch(..))) => {
                        errors.push(format!("{path}.signatureAlgorithm: {e}"));
                    }
                    Err(e) => {
                        errors.push(format!("{path}.publicKeyData: {e}"));
                        continue;
                    }
                }
                let id = match k.id {
                    Some(id) => id.to_owned(),
                    None => match keys::default_key_id(k.data) {
                        Ok(id) => id,
                        Err(_) => continue,
                    },
                };
                if let Some(other) = ids.insert(id.clone(), path.clone()) {
                    errors.push(format!(
                        "{path}.publicKeyId: duplicate key id {id:?} (also {other})"
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// The authorities' names that policies may refer to, with their index.
type Names<'s> = HashMap<&'s str, usize, BuildHasherDefault<Fnv>>;

/// FNV-1a (64 bits), the hasher of the indexes built for every authority or
/// key on every request (names here, key ids in the keyring). Written here,
/// in a few lines, because std offers only SipHash, whose keyed rounds cost
/// several times more on these short strings. Its keys are the settings'
/// names and ids, which the cluster's administrator writes, and in live mode
/// those of the namespace's kritis resources (at most
/// [`crate::kritis::MAX_ITEMS`] of each kind): crafted collisions could at
/// worst make a lookup linear in that bound, which the request's other
/// bounds already allow; a request's key ids are only looked up.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Whether `url` is an `http(s)://` URL with a host.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.contains(char::is_whitespace)
    })
}

/// The checks of an authority's identity kinds (keyless, githubActions,
/// certificate): one kind at most, never beside keys, only with the
/// registry source, and well-formed. Cheap: runs on every request.
fn identity_errors(
    a: &AuthoritySpec<'_>,
    at: &dyn Fn() -> String,
    registry: bool,
    errors: &mut Vec<String>,
) {
    // Runs on every request: the list is built only for the error.
    if a.proof_kinds().nth(1).is_some() {
        let fields: Vec<&str> = a.proof_kinds().map(ProofKind::field).collect();
        errors.push(format!(
            "{}: authority {:?} sets {}: an authority is proven by its keys or by exactly one identity kind (keyless, githubActions, certificate); split it into several authorities and list them in a policy",
            at(),
            a.name,
            fields.join(" and ")
        ));
    }
    let Some(kind) = a.proof_kinds().find(|k| *k != ProofKind::Keys) else {
        return;
    };
    let field = || format!("{}.{}", at(), kind.field());
    if !registry {
        errors.push(format!(
            "{}: authority {:?}: only the registry source can prove an identity (keyless and certificate signatures live next to the image in its registry); add \"registry\" to attestationSources",
            field(),
            a.name
        ));
    }
    if let Some(list) = &a.keyless {
        if list.is_empty() {
            errors.push(format!("{}: must list at least one identity", field()));
        }
        for (k, id) in list.iter().enumerate() {
            let at = || format!("{}[{k}]", field());
            if id.issuer.is_empty() {
                errors.push(format!("{}.issuer: must not be empty", at()));
            } else if !is_http_url(&id.issuer) {
                errors.push(format!(
                    "{}.issuer: {:?} is not an https:// (or http://) URL; OIDC issuers are URLs, e.g. https://token.actions.githubusercontent.com",
                    at(),
                    id.issuer
                ));
            }
            match (&id.subject, &id.subject_prefix) {
                (Some(_), Some(_)) => errors.push(format!(
                    "{}: set subject or subjectPrefix, not both",
                    at()
                )),
                (None, None) => errors.push(format!(
                    "{}: set subject (exact) or subjectPrefix (a URL prefix)",
                    at()
                )),
                (Some(s), None) if s.is_empty() => {
                    errors.push(format!("{}.subject: must not be empty", at()));
                }
                (None, Some(p)) if !is_http_url(p) => errors.push(format!(
                    "{}.subjectPrefix: {:?} is not an https:// (or http://) URL",
                    at(),
                    p
                )),
                (None, Some(p)) if !p.ends_with('/') => errors.push(format!(
                    "{}.subjectPrefix: {:?} must end with '/': Kubewarden's host appends one to a prefix that lacks it, so {:?} would also match {:?}; write the '/' so the setting means what it says",
                    at(),
                    p,
                    p,
                    format!("{p}-other/")
                )),
                _ => {}
            }
        }
    }
    if let Some(gh) = &a.github_actions {
        let at = || format!("{}.githubActions", at());
        if gh.owner.is_empty() {
            errors.push(format!("{}.owner: must not be empty", at()));
        } else if gh.owner.contains('/') {
            errors.push(format!(
                "{}.owner: {:?} must be a GitHub user or organisation, without '/'; put the repository in repo",
                at(),
                gh.owner
            ));
        }
        if let Some(repo) = &gh.repo {
            if repo.is_empty() {
                errors.push(format!(
                    "{}.repo: must not be empty; omit it for every repository of the owner",
                    at()
                ));
            } else if repo.contains('/') {
                errors.push(format!(
                    "{}.repo: {:?} must be the repository name alone, without the owner",
                    at(),
                    repo
                ));
            }
        }
    }
    if let Some(c) = &a.certificate {
        if c.certificate.is_empty() {
            errors.push(format!(
                "{}.certificate.certificate: must not be empty",
                at()
            ));
        }
        if c.certificate_chain.as_ref().is_some_and(Vec::is_empty) {
            errors.push(format!(
                "{}.certificate.certificateChain: must not be empty; omit it to trust the certificate itself",
                at()
            ));
        }
    }
}

/// A deserialisation error with its settings path, if it has one.
fn describe(path: &str, e: &serde_json::Error) -> String {
    if path.is_empty() {
        e.to_string()
    } else {
        format!("{path}: {e}")
    }
}

fn key_path(authority: &str, k: KeyRef<'_>) -> String {
    match k.index {
        None => authority.to_owned(),
        Some(i) => format!("{authority}.publicKeys[{i}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkeys;
    use serde_json::json;

    fn check(v: serde_json::Value) -> Result<(), String> {
        let bytes = serde_json::to_vec(&v).unwrap();
        Settings::from_slice(&bytes)?.validate()
    }

    fn authority(name: &str, id: &str) -> serde_json::Value {
        json!({"name": name, "publicKeyId": id, "publicKeyData": testkeys::rsa(2048).spki_b64()})
    }

    #[test]
    fn minimal_settings_are_valid() {
        check(json!({"attestationAuthorities": [authority("demo-aa", "k1")]})).unwrap();
    }

    #[test]
    fn the_full_contract_is_valid() {
        check(json!({
            "attestationAuthorities": [{
                "name": "demo-aa",
                "noteReference": "namespaces/demo-aa",
                "publicKeyId": "key-1",
                "publicKeyData": testkeys::rsa(2048).spki_b64(),
                "signatureAlgorithm": "RSA_PKCS1_SHA_256",
                "publicKeys": [
                    {"publicKeyId": "key-2", "publicKeyData": testkeys::rsa(4096).pkcs1_pem},
                    {"publicKeyData": testkeys::p256().spki_pem, "signatureAlgorithm": "ECDSA_SHA_256"}
                ]
            }],
            "attestationPolicies": [{"name": "demo-gap", "namespace": "default", "attestationAuthorityNames": ["demo-aa"], "require": "any"}],
            "admissionAllowlists": [{"name": "allow-acs-images", "patterns": [
                {"namePattern": "registry*.*.aliyuncs.com/acs/*"},
                {"namePattern": "registry-vpc.cn-beijing.aliyuncs.com/arms-docker-repo/*", "namespace": "default"}
            ]}],
            "allowBreakglass": true,
            "resolveTags": true,
            "mutateToDigest": false
        }))
        .unwrap();
    }

    fn err(v: serde_json::Value) -> String {
        check(v).unwrap_err()
    }

    #[test]
    fn every_error_names_its_field() {
        assert_eq!(
            err(json!({})),
            "attestationAuthorities: at least one authority is required"
        );
        assert!(err(json!({"attestationAuthorities": [], "bogus": 1}))
            .contains("unknown field `bogus`"));
        let e = err(json!({"attestationAuthorities": [{"name": "a", "publicKeyDta": "x"}]}));
        assert!(
            e.starts_with("attestationAuthorities[0].publicKeyDta: unknown field `publicKeyDta`"),
            "{e}"
        );
        // An authority written as an array is not read field by field.
        let e = err(json!({"attestationAuthorities": [["a", "a-key"]]}));
        assert!(
            e.starts_with(
                "attestationAuthorities[0]: invalid type: sequence, expected an attestation authority (an object)"
            ),
            "{e}"
        );
        let e = err(json!({
            "attestationAuthorities": [authority("a", "k1")],
            "attestationSources": ["annotation", 2],
        }));
        assert!(
            e.starts_with(
                "attestationSources[1]: invalid type: integer `2`, expected `annotation` or `registry`"
            ),
            "{e}"
        );
        let e = err(json!({"attestationAuthorities": [{"name": {"x": 1}}]}));
        assert!(
            e.starts_with("attestationAuthorities[0].name: invalid type: map, expected a string"),
            "{e}"
        );
        let e =
            err(json!({"attestationAuthorities": [authority("a", "k1"), authority("a", "k1")]}));
        assert!(
            e.contains("attestationAuthorities[1].name: duplicate authority name \"a\""),
            "{e}"
        );
        assert!(
            e.contains("attestationAuthorities[1].publicKeyId: duplicate key id \"k1\""),
            "{e}"
        );
        let e = err(
            json!({"attestationAuthorities": [{"name": "a", "publicKeyData": "bm90IHBlbQ=="}]}),
        );
        assert_eq!(
            e,
            "attestationAuthorities[0].publicKeyData: not a PEM public key, nor base64 of one"
        );
        let e = err(
            json!({"attestationAuthorities": [{"name": "a", "publicKeyData": testkeys::rsa(1024).spki_pem}]}),
        );
        assert!(
            e.contains("attestationAuthorities[0].publicKeyData: the RSA key has 1024 bits"),
            "{e}"
        );
        let e = err(
            json!({"attestationAuthorities": [{"name": "a", "publicKeyData": testkeys::rsa(2048).spki_pem, "signatureAlgorithm": "RSA_PSS"}]}),
        );
        assert!(
            e.starts_with(
                "attestationAuthorities[0].signatureAlgorithm: unknown signatureAlgorithm"
            ),
            "{e}"
        );
        let e = err(
            json!({"attestationAuthorities": [{"name": "a", "publicKeys": [{"publicKeyData": testkeys::p256().spki_pem, "signatureAlgorithm": "RSA_PSS_SHA_256"}]}]}),
        );
        assert!(e.starts_with("attestationAuthorities[0].publicKeys[0].signatureAlgorithm: signatureAlgorithm RSA_PSS_SHA_256 does not fit an EC P-256 key"), "{e}");
        let e = err(json!({"attestationAuthorities": [{"name": "a"}]}));
        assert_eq!(
            e,
            "attestationAuthorities[0]: no public key: set publicKeyData or publicKeys (or one identity: keyless, githubActions or certificate)"
        );
    }

    #[test]
    fn policy_errors() {
        let base = || json!([authority("a", "k1")]);
        let e = err(json!({"attestationAuthorities": base(), "attestationPolicies": []}));
        assert!(
            e.starts_with("attestationPolicies: must not be empty"),
            "{e}"
        );
        let e = err(
            json!({"attestationAuthorities": base(), "attestationPolicies": [{"name": "p", "attestationAuthorityNames": []}]}),
        );
        assert!(e.starts_with("attestationPolicies[0].attestationAuthorityNames: must list at least one authority"), "{e}");
        let e = err(
            json!({"attestationAuthorities": base(), "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a", "b", "a"]}]}),
        );
        assert!(
            e.contains(
                "attestationPolicies[0].attestationAuthorityNames[1]: no authority named \"b\""
            ),
            "{e}"
        );
        assert!(e.contains("attestationPolicies[0].attestationAuthorityNames[2]: authority \"a\" is listed twice"), "{e}");
        let e = err(
            json!({"attestationAuthorities": base(), "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"], "require": "some"}]}),
        );
        assert!(
            e.starts_with("attestationPolicies[0].require: unknown variant `some`"),
            "{e}"
        );
    }

    #[test]
    fn allowlist_errors() {
        let e = err(
            json!({"attestationAuthorities": [authority("a", "k1")], "admissionAllowlists": [{"patterns": [{"namePattern": ""}, {"namePattern": "x", "namespace": ""}]}]}),
        );
        assert!(
            e.contains("admissionAllowlists[0].patterns[0].namePattern: must not be empty"),
            "{e}"
        );
        assert!(
            e.contains("admissionAllowlists[0].patterns[1].namespace: must not be empty"),
            "{e}"
        );
        let e = err(
            json!({"attestationAuthorities": [authority("a", "k1")], "admissionAllowlists": [{"patterns": [{"name": "x"}]}]}),
        );
        assert!(
            e.starts_with("admissionAllowlists[0].patterns[0].name: unknown field `name`"),
            "{e}"
        );
    }

    #[test]
    fn a_repeated_name_names_the_nearest_authority_before_it() {
        let text = json!({
            "attestationAuthorities": [
                authority("a", "k1"), authority("b", "k2"), authority("a", "k3"),
                authority("", "k4"), authority("a", "k5"), authority("b", "k6"),
            ],
            "attestationPolicies": [
                {"name": "p", "attestationAuthorityNames": ["a", "b", "c", ""]},
            ]
        })
        .to_string();
        let settings = Settings::from_str(&text).unwrap();
        assert_eq!(
            settings.structural_errors(),
            [
                "attestationAuthorities[2].name: duplicate authority name \"a\" (also attestationAuthorities[0])",
                "attestationAuthorities[3].name: must not be empty",
                "attestationAuthorities[4].name: duplicate authority name \"a\" (also attestationAuthorities[2])",
                "attestationAuthorities[5].name: duplicate authority name \"b\" (also attestationAuthorities[1])",
                "attestationPolicies[0].attestationAuthorityNames[2]: no authority named \"c\"",
                "attestationPolicies[0].attestationAuthorityNames[3]: no authority named \"\"",
            ]
        );
    }

    #[test]
    fn default_key_ids_collide_too() {
        let k = testkeys::rsa(2048);
        let e = err(json!({"attestationAuthorities": [
            {"name": "a", "publicKeyData": k.spki_pem},
            {"name": "b", "publicKeyData": k.pkcs1_b64()}
        ]}));
        assert!(
            e.contains("attestationAuthorities[1].publicKeyId: duplicate key id \"ni:///sha-256;"),
            "{e}"
        );
    }
}
