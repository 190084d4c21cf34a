//! kritis's own resources (`kritis.grafeas.io/v1beta1`), read live from the
//! cluster as kritis-validation-hook read them, turned into the settings
//! entries they mean:
//!
//! - the GenericAttestationPolicies of the request's namespace become
//!   policies of that namespace (`{namespace}/{name}`), with the
//!   `kritisResources.require` rule, and their `admissionAllowlistPatterns`
//!   (kritis: `admissionWhitelistPatterns`) allowlist patterns of that
//!   namespace;
//! - each AttestationAuthority they name, from their own namespace, becomes
//!   an authority `{namespace}/{name}` with its `publicKeyData` (base64 of
//!   PEM, or PEM) and `publicKeyId`, checked as settings keys are;
//! - the AdmissionAllowlists (cluster-scoped, ACK) become allowlists, each
//!   pattern scoped by its own `namespace`.
//!
//! A GenericAttestationPolicy reads its authorities from its own namespace
//! only (kritis's `Auths(gap.Namespace, name)`): an authority of another
//! namespace is never used. Everything malformed fails the request, naming
//! the resource.

use core::fmt;
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::allowlist::MAX_PATTERN_LEN;
use crate::keys;
use crate::settings::{
    AllowlistSpec, AuthoritySpec, Enforcement, PatternSpec, PolicySpec, Require, Text,
};

/// The group and version of every kritis resource.
pub const API_VERSION: &str = "kritis.grafeas.io/v1beta1";
/// The namespaced policy kind.
pub const POLICY_KIND: &str = "GenericAttestationPolicy";
/// The namespaced authority kind.
pub const AUTHORITY_KIND: &str = "AttestationAuthority";
/// ACK's cluster-scoped allowlist kind.
pub const ALLOWLIST_KIND: &str = "AdmissionAllowlist";
/// Resources of one kind read per request; a longer list is refused (each
/// is parsed, and its keys checked).
pub const MAX_ITEMS: usize = 1000;

/// Why the cluster's kritis resources cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceError {
    /// The host's answer is not a Kubernetes list.
    List {
        /// The kind listed.
        kind: &'static str,
        /// The parser's words.
        error: String,
    },
    /// More items than [`MAX_ITEMS`].
    TooMany {
        /// The kind listed.
        kind: &'static str,
        /// How many.
        count: usize,
    },
    /// One resource is malformed.
    Malformed {
        /// `Kind namespace/name` (or `Kind name`).
        resource: String,
        /// The field and what is wrong with it.
        problem: String,
    },
    /// A policy names an authority its namespace does not hold.
    MissingAuthority {
        /// `namespace/name` of the policy.
        policy: String,
        /// The authority's name.
        authority: String,
        /// The namespace searched.
        namespace: String,
    },
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::Quoted;
        match self {
            ResourceError::List { kind, error } => write!(
                f,
                "the host's list of {kind} resources cannot be read ({})",
                Quoted(error)
            ),
            ResourceError::TooMany { kind, count } => write!(
                f,
                "the cluster holds {count} {kind} resources here, more than the {MAX_ITEMS} this \
                 policy reads"
            ),
            ResourceError::Malformed { resource, problem } => {
                write!(f, "{} is malformed: {}", Quoted(resource), Quoted(problem))
            }
            ResourceError::MissingAuthority {
                policy,
                authority,
                namespace,
            } => write!(
                f,
                "{POLICY_KIND} {} names {AUTHORITY_KIND} {}, which does not exist in {}",
                Quoted(policy),
                Quoted(authority),
                Quoted(namespace)
            ),
        }
    }
}

#[derive(Deserialize)]
struct List<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Resource<'a, S> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(default = "Option::default")]
    spec: Option<S>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyFields<'a> {
    #[serde(borrow, default)]
    attestation_authority_names: Option<Vec<Text<'a>>>,
    #[serde(borrow, default)]
    admission_allowlist_patterns: Option<Vec<PatternFields<'a>>>,
    #[serde(borrow, default)]
    admission_whitelist_patterns: Option<Vec<PatternFields<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorityFields<'a> {
    #[serde(borrow, default)]
    note_reference: Option<Text<'a>>,
    #[serde(borrow, default)]
    public_key_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    public_key_data: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct AllowlistFields<'a> {
    #[serde(borrow, default)]
    patterns: Option<Vec<PatternFields<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatternFields<'a> {
    #[serde(borrow, default)]
    name_pattern: Option<Text<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
}

/// The items of a Kubernetes list answer.
fn items<'a>(bytes: &'a [u8], kind: &'static str) -> Result<Vec<&'a RawValue>, ResourceError> {
    let list: List<'a> = std::str::from_utf8(bytes)
        .map_err(|e| e.to_string())
        .and_then(|t| crate::json::from_str(t).map_err(|e| e.to_string()))
        .map_err(|error| ResourceError::List { kind, error })?;
    let items = list.items.unwrap_or_default();
    if items.len() > MAX_ITEMS {
        return Err(ResourceError::TooMany {
            kind,
            count: items.len(),
        });
    }
    Ok(items)
}

/// Whether a list answer holds any item (to skip reading authorities for a
/// namespace without policies).
///
/// # Errors
/// [`ResourceError::List`] when it is not a list.
pub fn is_empty(bytes: &[u8], kind: &'static str) -> Result<bool, ResourceError> {
    items(bytes, kind).map(|i| i.is_empty())
}

/// One resource of a list: its name and its spec.
fn resource<'a, S: Deserialize<'a>>(
    raw: &'a RawValue,
    kind: &'static str,
    namespace: Option<&str>,
    index: usize,
) -> Result<(Text<'a>, Option<S>), ResourceError> {
    let r: Resource<'a, S> =
        crate::json::from_str(raw.get()).map_err(|e| ResourceError::Malformed {
            resource: format!("{kind} #{index} of the list"),
            problem: e.to_string(),
        })?;
    let name = r.metadata.unwrap_or_default().name;
    match name {
        Some(n) if !n.is_empty() => Ok((n, r.spec)),
        _ => Err(ResourceError::Malformed {
            resource: match namespace {
                Some(ns) => format!("{kind} #{index} of namespace {ns}"),
                None => format!("{kind} #{index}"),
            },
            problem: "metadata.name: missing".to_owned(),
        }),
    }
}

fn owned(s: String) -> Text<'static> {
    Text(Cow::Owned(s))
}

fn patterns<'a>(
    list: Vec<PatternFields<'a>>,
    field: &str,
    scope: Option<&str>,
    malformed: &dyn Fn(String) -> ResourceError,
) -> Result<Vec<PatternSpec<'a>>, ResourceError> {
    list.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let pattern = match p.name_pattern {
                Some(n) if !n.is_empty() && n.len() <= MAX_PATTERN_LEN => n,
                Some(n) if !n.is_empty() => {
                    return Err(malformed(format!(
                        "{field}[{i}].namePattern: longer than {MAX_PATTERN_LEN} characters"
                    )))
                }
                _ => {
                    return Err(malformed(format!(
                        "{field}[{i}].namePattern: missing or empty"
                    )))
                }
            };
            let namespace = match (scope, p.namespace) {
                (Some(ns), _) => Some(owned(ns.to_owned())),
                (None, Some(n)) if n.is_empty() => None,
                (None, n) => n,
            };
            Ok(PatternSpec {
                name_pattern: pattern,
                namespace,
                expires: None,
            })
        })
        .collect()
}

/// What the GenericAttestationPolicies of a namespace add: policies, the
/// allowlist patterns they carry, and the authorities they name (policy,
/// authority), in order.
pub struct Policies<'a> {
    /// One policy per GenericAttestationPolicy.
    pub policies: Vec<PolicySpec<'a>>,
    /// Their allowlist patterns, scoped to the namespace.
    pub allowlists: Vec<AllowlistSpec<'a>>,
    /// (policy `namespace/name`, authority name) for every name listed.
    pub named: Vec<(String, Text<'a>)>,
}

/// Reads the GenericAttestationPolicies of `namespace` (a list answer).
///
/// # Errors
/// A [`ResourceError`] naming the list or the policy.
pub fn policies<'a>(
    bytes: &'a [u8],
    namespace: &str,
    require: Require,
    enforcement: Enforcement,
) -> Result<Policies<'a>, ResourceError> {
    let mut out = Policies {
        policies: Vec::new(),
        allowlists: Vec::new(),
        named: Vec::new(),
    };
    for (i, raw) in items(bytes, POLICY_KIND)?.into_iter().enumerate() {
        let (name, spec) = resource::<PolicyFields<'a>>(raw, POLICY_KIND, Some(namespace), i)?;
        let full = format!("{namespace}/{name}");
        let malformed = |problem: String| ResourceError::Malformed {
            resource: format!("{POLICY_KIND} {full}"),
            problem,
        };
        let Some(spec) = spec else {
            return Err(malformed("spec: missing".to_owned()));
        };
        let names = spec.attestation_authority_names.unwrap_or_default();
        if names.is_empty() {
            return Err(malformed(
                "spec.attestationAuthorityNames: must list at least one authority".to_owned(),
            ));
        }
        let mut authority_names = Vec::with_capacity(names.len());
        for (k, n) in names.into_iter().enumerate() {
            if n.is_empty() {
                return Err(malformed(format!(
                    "spec.attestationAuthorityNames[{k}]: empty"
                )));
            }
            let qualified = owned(format!("{namespace}/{n}"));
            if !authority_names.contains(&qualified) {
                authority_names.push(qualified);
                out.named.push((full.clone(), n));
            }
        }
        let mut allowed = Vec::new();
        for (field, list) in [
            (
                "spec.admissionAllowlistPatterns",
                spec.admission_allowlist_patterns,
            ),
            (
                "spec.admissionWhitelistPatterns",
                spec.admission_whitelist_patterns,
            ),
        ] {
            if let Some(list) = list {
                allowed.extend(patterns(list, field, Some(namespace), &malformed)?);
            }
        }
        if !allowed.is_empty() {
            out.allowlists.push(AllowlistSpec {
                name: Some(owned(full.clone())),
                patterns: allowed,
            });
        }
        out.policies.push(PolicySpec {
            name: owned(full),
            namespace: Some(owned(namespace.to_owned())),
            attestation_authority_names: authority_names,
            require,
            enforcement,
        });
    }
    Ok(out)
}

/// The AttestationAuthorities `named` by the policies, from the list of
/// their namespace, as authorities `namespace/name`; each key is decoded
/// and checked as `validate_settings` checks settings keys.
///
/// # Errors
/// A [`ResourceError`]: an authority missing, malformed, or with a key that
/// does not decode.
pub fn authorities<'a>(
    bytes: &'a [u8],
    namespace: &str,
    named: &[(String, Text<'_>)],
) -> Result<Vec<AuthoritySpec<'a>>, ResourceError> {
    let mut found: Vec<(Text<'a>, Option<AuthorityFields<'a>>)> = Vec::new();
    for (i, raw) in items(bytes, AUTHORITY_KIND)?.into_iter().enumerate() {
        found.push(resource::<AuthorityFields<'a>>(
            raw,
            AUTHORITY_KIND,
            Some(namespace),
            i,
        )?);
    }
    let mut out: Vec<AuthoritySpec<'a>> = Vec::new();
    for (policy, name) in named {
        let qualified = format!("{namespace}/{name}");
        if out.iter().any(|a| a.name.as_ref() == qualified) {
            continue;
        }
        let Some(index) = found.iter().position(|(n, _)| n == name) else {
            return Err(ResourceError::MissingAuthority {
                policy: policy.clone(),
                authority: name.to_string(),
                namespace: namespace.to_owned(),
            });
        };
        let (_, spec) = found.swap_remove(index);
        let malformed = |problem: String| ResourceError::Malformed {
            resource: format!("{AUTHORITY_KIND} {qualified}"),
            problem,
        };
        let spec = spec.ok_or_else(|| malformed("spec: missing".to_owned()))?;
        let data = spec
            .public_key_data
            .filter(|d| !d.is_empty())
            .ok_or_else(|| malformed("spec.publicKeyData: missing".to_owned()))?;
        keys::parse_key(&data, None).map_err(|e| malformed(format!("spec.publicKeyData: {e}")))?;
        if spec.public_key_id.as_deref() == Some("") {
            return Err(malformed("spec.publicKeyId: empty".to_owned()));
        }
        out.push(AuthoritySpec {
            name: owned(qualified),
            note_reference: spec.note_reference,
            public_key_id: spec.public_key_id,
            public_key_data: Some(data),
            signature_algorithm: None,
            public_keys: Vec::new(),
            registry_annotations: None,
            keyless: None,
            github_actions: None,
            certificate: None,
        });
    }
    Ok(out)
}

/// The cluster's AdmissionAllowlists (a list answer).
///
/// # Errors
/// A [`ResourceError`] naming the list or the allowlist.
pub fn allowlists(bytes: &[u8]) -> Result<Vec<AllowlistSpec<'_>>, ResourceError> {
    let mut out = Vec::new();
    for (i, raw) in items(bytes, ALLOWLIST_KIND)?.into_iter().enumerate() {
        let (name, spec) = resource::<AllowlistFields<'_>>(raw, ALLOWLIST_KIND, None, i)?;
        let malformed = |problem: String| ResourceError::Malformed {
            resource: format!("{ALLOWLIST_KIND} {name}"),
            problem,
        };
        let list = spec
            .and_then(|s| s.patterns)
            .ok_or_else(|| malformed("spec.patterns: missing".to_owned()))?;
        out.push(AllowlistSpec {
            patterns: patterns(list, "spec.patterns", None, &malformed)?,
            name: Some(name),
        });
    }
    Ok(out)
}
