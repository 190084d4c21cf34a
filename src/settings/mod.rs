//! Policy settings: the kritis CRDs (AttestationAuthority,
//! GenericAttestationPolicy, AdmissionAllowlist) folded into one document.
//!
//! Settings arrive with every `validate` call, so they are deserialised
//! borrowing from the request bytes and nothing costly happens here: keys
//! are decoded later, and only when a signature names them. `validate_settings`
//! (run once when policy-server loads the policy) does the full check,
//! decoding every key, and reports every problem with its path.
//!
//! This module holds the settings' types and how they are read; the checks
//! live in their own files, by when they run:
//! - `structure`: the cheap checks run on every request ([`Settings::structural_errors`]);
//! - `identity`: those of an authority's identity kinds, part of the former;
//! - `validate`: the full check of `validate_settings` ([`Settings::validate`]);
//! - `fnv`: the hasher of the indexes built from the settings on every request.

mod fnv;
mod identity;
mod structure;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::json_path;

pub(crate) use fnv::Fnv;

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

    /// Whether some settings policy applies in every namespace (the
    /// implicit one when `attestationPolicies` is absent).
    #[must_use]
    pub fn has_cluster_wide_policy(&self) -> bool {
        match &self.attestation_policies {
            None => !self.attestation_authorities.is_empty(),
            Some(list) => list.iter().any(|p| p.namespace.is_none()),
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
