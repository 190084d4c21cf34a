//! The policy's settings an import produces, in the order the README
//! documents them. A leaf.

use serde::{Deserialize, Serialize};

/// Longest allowlist pattern the policy accepts.
pub const MAX_PATTERN_LEN: usize = 1024;

/// The policy's settings, in the order the README documents them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// One per AttestationAuthority.
    pub attestation_authorities: Vec<Authority>,
    /// One per GenericAttestationPolicy; omitted when there is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestation_policies: Vec<Policy>,
    /// One per AdmissionAllowlist; omitted when there is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub admission_allowlists: Vec<Allowlist>,
}

/// An `attestationAuthorities` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authority {
    /// `metadata.name`.
    pub name: String,
    /// `spec.noteReference`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note_reference: Option<String>,
    /// `spec.publicKeyId`; absent: kritis's default PKIX id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_id: Option<String>,
    /// `spec.publicKeyData`, as written.
    pub public_key_data: String,
}

/// `require` of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Require {
    /// Every authority of the policy (the policy's default).
    All,
    /// Any one authority (kritis 0.2, ACK's kritis-validation-hook).
    Any,
}

/// An `attestationPolicies` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; absent: every namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `spec.attestationAuthorityNames`.
    pub attestation_authority_names: Vec<String>,
    /// Written only with `--require any` (`all` is the policy's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require: Option<Require>,
}

/// An `admissionAllowlists` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allowlist {
    /// `metadata.name`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `spec.patterns`.
    pub patterns: Vec<Pattern>,
}

/// One allowlist pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pattern {
    /// ACK's wildcard pattern.
    pub name_pattern: String,
    /// The namespace it applies to; absent: every namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
