//! `policy-harness kritis-import`: turns kritis custom resources, as
//! `kubectl get attestationauthorities,genericattestationpolicies,admissionallowlists -A -o yaml`
//! prints them, into this policy's `settings`, or into a whole
//! ClusterAdmissionPolicy.
//!
//! - `AttestationAuthority` → `attestationAuthorities[]` (name from
//!   `metadata.name`; `noteReference`, `publicKeyId`, `publicKeyData`).
//! - `GenericAttestationPolicy` → `attestationPolicies[]` (its
//!   `metadata.namespace` becomes `namespace`: kritis policies are namespaced).
//! - `AdmissionAllowlist` → `admissionAllowlists[]`.
//! - `List` (and `*List`) documents are unpacked. Any other kind, and any
//!   field the policy has no equivalent for, is reported in
//!   [`Import::skipped`], never dropped silently.
//!
//! The result is checked the way the policy's `validate_settings` checks
//! settings (at least one authority, every policy naming existing
//! authorities, no duplicates, keys that are PEM public keys), so what is
//! printed is accepted as is. Every error names the source, the document and
//! the YAML path (`seed.yaml: document 3, AttestationAuthority "demo-aa":
//! items[2].spec.publicKeyData: missing`). What the import changes in
//! behaviour (`require: all`, namespaces left unenforced, `*` in a registry
//! host) is in [`Import::warnings`] and [`Import::notes`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest allowlist pattern the policy accepts.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Name of the generated ClusterAdmissionPolicy unless told otherwise.
pub const DEFAULT_POLICY_NAME: &str = "kritis-attestations";

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

/// Options of the import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Give every imported policy `require: any` (kritis 0.2 / ACK semantics).
    pub require_any: bool,
}

/// Why an input cannot become settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// A document is not YAML at all.
    Syntax {
        /// The file (`stdin` for `-`).
        source: String,
        /// 1-based document number in the file.
        document: usize,
        /// The YAML parser's message.
        message: String,
    },
    /// A field of a resource is missing, of the wrong type or refused.
    Field {
        /// Where the resource is: `seed.yaml: document 3, AttestationAuthority "demo-aa"`.
        at: String,
        /// The YAML path from the document's root: `items[2].spec.publicKeyData`.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// No AttestationAuthority anywhere in the input.
    NoAuthority {
        /// Every source read.
        sources: Vec<String>,
        /// What was found instead (`1 GenericAttestationPolicy`…).
        found: Vec<String>,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Syntax {
                source,
                document,
                message,
            } => write!(
                f,
                "{source}: document {document} is not valid YAML: {message}"
            ),
            ImportError::Field { at, path, problem } => write!(f, "{at}: {path}: {problem}"),
            ImportError::NoAuthority { sources, found } => {
                write!(
                    f,
                    "no AttestationAuthority in {}: the policy needs at least one trusted \
                     authority, so there are no valid settings to print",
                    sources.join(", ")
                )?;
                if found.is_empty() {
                    write!(f, " (the input holds no kritis resource at all)")?;
                } else {
                    write!(f, " (the input holds {})", found.join(", "))?;
                }
                write!(
                    f,
                    "; import them together: kubectl get \
                     attestationauthorities,genericattestationpolicies,admissionallowlists \
                     -A -o yaml | policy-harness kritis-import -"
                )
            }
        }
    }
}

impl std::error::Error for ImportError {}

/// Where a resource sits in the input.
#[derive(Debug, Clone)]
struct Loc {
    /// `seed.yaml: document 3, AttestationAuthority "demo-aa"`.
    at: String,
    /// Path of the resource from the document's root (`items[2]`), or empty.
    base: String,
}

impl Loc {
    fn path(&self, field: &str) -> String {
        match (self.base.is_empty(), field.is_empty()) {
            (true, _) => field.to_owned(),
            (false, true) => self.base.clone(),
            (false, false) => format!("{}.{field}", self.base),
        }
    }

    fn error(&self, field: &str, problem: impl Into<String>) -> ImportError {
        ImportError::Field {
            at: self.at.clone(),
            path: self.path(field),
            problem: problem.into(),
        }
    }
}

fn what(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A field that may be absent: `Ok(None)` when absent or null.
fn optional_string(
    loc: &Loc,
    parent: &Value,
    key: &str,
    path: &str,
) -> Result<Option<String>, ImportError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(loc.error(path, "empty")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(loc.error(path, format!("not a string ({})", what(other)))),
    }
}

fn required_string(
    loc: &Loc,
    parent: &Value,
    key: &str,
    path: &str,
) -> Result<String, ImportError> {
    optional_string(loc, parent, key, path)?.ok_or_else(|| loc.error(path, "missing"))
}

fn spec<'v>(loc: &Loc, doc: &'v Value) -> Result<&'v Value, ImportError> {
    match doc.get("spec") {
        None | Some(Value::Null) => Err(loc.error("spec", "missing")),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(other) => Err(loc.error("spec", format!("not a mapping ({})", what(other)))),
    }
}

/// Every resource read, with where it came from, before the cross checks.
#[derive(Default)]
struct Found {
    authorities: Vec<(Authority, Loc)>,
    policies: Vec<(Policy, Loc)>,
    allowlists: Vec<(Allowlist, Loc)>,
    skipped: Vec<String>,
    warnings: Vec<String>,
    /// Policies written without `metadata.namespace`.
    unscoped: Vec<String>,
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
        let mut documents = Vec::new();
        for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let doc = Value::deserialize(document).map_err(|e| ImportError::Syntax {
                source: source.clone(),
                document: i + 1,
                message: e.to_string(),
            })?;
            documents.push(doc);
        }
        let numbered = documents.len() > 1;
        for (i, doc) in documents.iter().enumerate() {
            if doc.is_null() {
                continue;
            }
            let prefix = if numbered {
                format!("{source}: document {}", i + 1)
            } else {
                source.clone()
            };
            visit(doc, &prefix, String::new(), None, options, &mut found)?;
        }
    }
    finish(sources, found, options)
}

/// Reads one object (a document or a List item).
fn visit(
    doc: &Value,
    prefix: &str,
    base: String,
    inherited_kind: Option<&str>,
    options: Options,
    found: &mut Found,
) -> Result<(), ImportError> {
    let plain = Loc {
        at: prefix.to_owned(),
        base: base.clone(),
    };
    if !doc.is_object() {
        return Err(plain.error("", format!("not a Kubernetes object ({})", what(doc))));
    }
    let kind = match doc.get("kind") {
        None | Some(Value::Null) => inherited_kind.map(str::to_owned),
        Some(Value::String(k)) => Some(k.clone()),
        Some(other) => return Err(plain.error("kind", format!("not a string ({})", what(other)))),
    };
    let Some(kind) = kind else {
        let at = if base.is_empty() {
            String::new()
        } else {
            format!(" ({base})")
        };
        found.skipped.push(format!(
            "{prefix}{at}: has no kind, so it is not a kritis resource"
        ));
        return Ok(());
    };
    let metadata = doc.get("metadata").unwrap_or(&Value::Null);
    let name = match metadata.get("name") {
        Some(Value::String(n)) if !n.is_empty() => Some(n.clone()),
        _ => None,
    };
    let at = match &name {
        Some(n) => format!("{prefix}, {kind} {n:?}"),
        None => format!("{prefix}, {kind}"),
    };
    let loc = Loc { at, base };
    let named = || -> Result<String, ImportError> {
        if !matches!(metadata, Value::Object(_) | Value::Null) {
            return Err(loc.error("metadata", format!("not a mapping ({})", what(metadata))));
        }
        required_string(&loc, metadata, "name", "metadata.name")
    };
    match kind.as_str() {
        "AttestationAuthority" => {
            let name = named()?;
            let authority = authority(&loc, doc, name, found)?;
            found.authorities.push((authority, loc));
        }
        "GenericAttestationPolicy" => {
            let name = named()?;
            let policy = policy(&loc, doc, name, options, found)?;
            found.policies.push((policy, loc));
        }
        "AdmissionAllowlist" => {
            let allowlist = allowlist(&loc, doc, name, found)?;
            found.allowlists.push((allowlist, loc));
        }
        k if k.ends_with("List") => {
            let items = match doc.get("items") {
                None | Some(Value::Null) => return Ok(()),
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(loc.error("items", format!("not a list ({})", what(other))))
                }
            };
            let item_kind = k.strip_suffix("List").filter(|s| !s.is_empty());
            for (j, item) in items.iter().enumerate() {
                visit(
                    item,
                    prefix,
                    loc.path(&format!("items[{j}]")),
                    item_kind,
                    options,
                    found,
                )?;
            }
        }
        other => {
            let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            found
                .skipped
                .push(format!("{}: {}", loc.at, not_imported(other, api_version)));
        }
    }
    Ok(())
}

/// Why a kind is not imported.
fn not_imported(kind: &str, api_version: &str) -> String {
    const READS: &str =
        "kritis-import reads AttestationAuthority, GenericAttestationPolicy and AdmissionAllowlist";
    match kind {
        "ImageSecurityPolicy" => "a kritis resource this policy does not import: an \
            ImageSecurityPolicy admits images by their vulnerability scan results (Grafeas \
            occurrences against packageVulnerabilityRequirements), which this policy never reads: \
            it only verifies signed attestations. Require signatures with a \
            GenericAttestationPolicy (imported as attestationPolicies), sign only images that \
            passed your vulnerability scan so the attestation carries that verdict, and copy its \
            imageWhitelist into admissionAllowlists patterns by hand if you need it"
            .to_owned(),
        "BuildPolicy" => "a kritis resource this policy does not import: a BuildPolicy tells \
            kritis's signer which builds to attest; it plays no part at admission"
            .to_owned(),
        "KritisConfig" => "a kritis resource this policy does not import: it configures the \
            kritis deployment itself (Grafeas address, cron), nothing this policy uses"
            .to_owned(),
        _ if api_version.starts_with("kritis.grafeas.io/") => {
            format!("a kritis resource this policy does not import ({READS})")
        }
        _ => format!("not a kritis resource ({READS})"),
    }
}

/// Reports the fields of `map` (at `path`) that are not in `known`.
fn unknown_fields(loc: &Loc, map: &Value, path: &str, known: &[&str], found: &mut Found) {
    let Some(map) = map.as_object() else {
        return;
    };
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        let why = match key.as_str() {
            "admissionWhitelistPatterns" => {
                "not imported: upstream kritis's per-policy exemptions have no equivalent; \
                 add them to admissionAllowlists (with `namespace:` of this policy) if you \
                 need them"
            }
            "publicKeys" | "policyType" => {
                "not imported: this is upstream kritis's newer key format, the import reads \
                 ACK's publicKeyData / publicKeyId; write PKIX keys as publicKeyData or \
                 publicKeys in the settings by hand (PGP keys are not supported)"
            }
            _ => "not imported: the policy has no such field",
        };
        found.skipped.push(format!(
            "{}: {}: {why}",
            loc.at,
            loc.path(&format!("{path}.{key}"))
        ));
    }
}

fn authority(
    loc: &Loc,
    doc: &Value,
    name: String,
    found: &mut Found,
) -> Result<Authority, ImportError> {
    let spec = spec(loc, doc)?;
    unknown_fields(
        loc,
        spec,
        "spec",
        &["noteReference", "publicKeyId", "publicKeyData"],
        found,
    );
    let note_reference = optional_string(loc, spec, "noteReference", "spec.noteReference")?;
    let public_key_id = optional_string(loc, spec, "publicKeyId", "spec.publicKeyId")?;
    let public_key_data = required_string(loc, spec, "publicKeyData", "spec.publicKeyData")?;
    check_public_key(&public_key_data).map_err(|p| loc.error("spec.publicKeyData", p))?;
    Ok(Authority {
        name,
        note_reference,
        public_key_id,
        public_key_data,
    })
}

/// Checks that `publicKeyData` is what the policy reads: a PEM public key,
/// or base64 of one (either alphabet, padded or not, wrapped or not). The
/// key itself (algorithm, size) is checked by the policy.
fn check_public_key(data: &str) -> Result<(), String> {
    let pem = if data.trim_start().starts_with("-----BEGIN ") {
        data.to_owned()
    } else {
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let trimmed = compact.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
            .map_err(|_| "neither a PEM public key nor base64 of one".to_owned())?;
        String::from_utf8(bytes)
            .map_err(|_| "base64 of binary data, not of a PEM public key".to_owned())?
    };
    let label = pem
        .trim_start()
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label.to_owned())
        .ok_or_else(|| "decodes to text that is not a PEM block".to_owned())?;
    match label.as_str() {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => Ok(()),
        "PGP PUBLIC KEY BLOCK" => Err("a PGP public key: the policy verifies PKIX keys only \
             (PEM `PUBLIC KEY`, as ACK's KMS keys are)"
            .to_owned()),
        other => Err(format!(
            "a PEM {other:?} block, not a public key (expected `PUBLIC KEY` or `RSA PUBLIC KEY`)"
        )),
    }
}

fn policy(
    loc: &Loc,
    doc: &Value,
    name: String,
    options: Options,
    found: &mut Found,
) -> Result<Policy, ImportError> {
    let metadata = doc.get("metadata").unwrap_or(&Value::Null);
    let namespace = optional_string(loc, metadata, "namespace", "metadata.namespace")?;
    let spec = spec(loc, doc)?;
    unknown_fields(loc, spec, "spec", &["attestationAuthorityNames"], found);
    let path = "spec.attestationAuthorityNames";
    let list = match spec.get("attestationAuthorityNames") {
        None | Some(Value::Null) => return Err(loc.error(path, "missing")),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(loc.error(path, format!("not a list ({})", what(other)))),
    };
    if list.is_empty() {
        return Err(loc.error(path, "empty: a policy needs at least one authority"));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let n = match entry {
            Value::String(s) if s.is_empty() => return Err(loc.error(&at, "empty")),
            Value::String(s) => s.clone(),
            other => return Err(loc.error(&at, format!("not a string ({})", what(other)))),
        };
        if let Some(j) = names.iter().position(|m| *m == n) {
            return Err(loc.error(
                &at,
                format!("authority {n:?} listed twice (also {path}[{j}])"),
            ));
        }
        names.push(n);
    }
    if namespace.is_none() {
        found.unscoped.push(loc.at.clone());
    }
    Ok(Policy {
        name,
        namespace,
        attestation_authority_names: names,
        require: options.require_any.then_some(Require::Any),
    })
}

fn allowlist(
    loc: &Loc,
    doc: &Value,
    name: Option<String>,
    found: &mut Found,
) -> Result<Allowlist, ImportError> {
    let spec = spec(loc, doc)?;
    unknown_fields(loc, spec, "spec", &["patterns"], found);
    let list = match spec.get("patterns") {
        None | Some(Value::Null) => return Err(loc.error("spec.patterns", "missing")),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(loc.error("spec.patterns", format!("not a list ({})", what(other))))
        }
    };
    let mut patterns = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("spec.patterns[{i}]");
        if !entry.is_object() {
            return Err(loc.error(&at, format!("not a mapping ({})", what(entry))));
        }
        unknown_fields(loc, entry, &at, &["namePattern", "namespace"], found);
        let name_pattern =
            required_string(loc, entry, "namePattern", &format!("{at}.namePattern"))?;
        if name_pattern.len() > MAX_PATTERN_LEN {
            return Err(loc.error(
                &format!("{at}.namePattern"),
                format!(
                    "{} characters, over the policy's limit of {MAX_PATTERN_LEN}",
                    name_pattern.len()
                ),
            ));
        }
        let namespace = optional_string(loc, entry, "namespace", &format!("{at}.namespace"))?;
        patterns.push(Pattern {
            name_pattern,
            namespace,
        });
    }
    Ok(Allowlist { name, patterns })
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
    } = found;
    if authorities.is_empty() {
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
        return Err(ImportError::NoAuthority {
            sources: sources.iter().map(|(s, _)| s.clone()).collect(),
            found,
        });
    }

    let mut by_name: HashMap<&str, &Loc> = HashMap::new();
    let mut key_ids: HashMap<&str, &Loc> = HashMap::new();
    for (a, loc) in &authorities {
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
    let mut policy_names: HashMap<(Option<&str>, &str), &Loc> = HashMap::new();
    for (p, loc) in &policies {
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

    if !options.require_any {
        let several: Vec<String> = policies
            .iter()
            .filter(|(p, _)| p.attestation_authority_names.len() >= 2)
            .map(|(p, _)| describe_policy(p))
            .collect();
        if !several.is_empty() {
            warnings.push(format!(
                "require: all: {} list(s) two or more authorities and now need an attestation \
                 from EVERY one of them (this policy's default), where ACK's \
                 kritis-validation-hook (kritis 0.2) admitted an image attested by ANY one; \
                 run again with `--require any` to keep ACK's behaviour",
                several.join(", ")
            ));
        }
    }
    for at in &unscoped {
        warnings.push(format!(
            "{at}: no metadata.namespace, so it is imported as cluster-wide (every namespace); \
             in a cluster it would live in (and cover only) the namespace it was applied to: \
             set `namespace:` on it in the settings if that is what you meant"
        ));
    }
    for (a, _) in &allowlists {
        for p in &a.patterns {
            if let Some(w) = wildcard_host_warning(&p.name_pattern) {
                warnings.push(w);
            }
        }
    }

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

fn describe_policy(p: &Policy) -> String {
    let ns = p.namespace.as_deref().unwrap_or("every namespace");
    format!(
        "policy {:?} ({ns}: {})",
        p.name,
        p.attestation_authority_names.join(", ")
    )
}

/// Which namespaces the settings enforce.
fn enforcement(policies: &[(Policy, Loc)], warnings: &mut Vec<String>) -> Vec<String> {
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
        vec![format!(
            "enforced in: every namespace (cluster-wide policies: {}); {listed} use only \
             their own policies",
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

/// The ClusterAdmissionPolicy `--output manifest` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAdmissionPolicy {
    /// `policies.kubewarden.io/v1`.
    pub api_version: &'static str,
    /// `ClusterAdmissionPolicy`.
    pub kind: &'static str,
    /// Its name.
    pub metadata: Metadata,
    /// Module, rules, mode and settings.
    pub spec: PolicySpec,
}

/// `metadata` of the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// The policy's name.
    pub name: String,
}

/// `spec` of the manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// The module reference (`registry://…`).
    pub module: String,
    /// `protect`.
    pub mode: &'static str,
    /// `false`: the imported settings never mutate.
    pub mutating: bool,
    /// Every kind that runs images, CREATE and UPDATE.
    pub rules: Vec<Rule>,
    /// The imported settings.
    pub settings: Settings,
}

/// One admission rule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// API groups.
    pub api_groups: Vec<&'static str>,
    /// API versions.
    pub api_versions: Vec<&'static str>,
    /// Resources.
    pub resources: Vec<&'static str>,
    /// Operations.
    pub operations: Vec<&'static str>,
}

/// Wraps imported settings into a ClusterAdmissionPolicy for `module`: the
/// rules of README's "Deploying" (every kind that runs images, CREATE and
/// UPDATE), `mode: protect`, `mutating: false`.
///
/// # Errors
/// When `module` is empty or has no scheme (`registry://`, `https://`,
/// `file://`), or `name` is empty.
pub fn manifest(
    settings: Settings,
    module: &str,
    name: &str,
) -> Result<ClusterAdmissionPolicy, String> {
    if !module.contains("://") {
        return Err(format!(
            "--module {module:?}: give the module reference with its scheme, e.g. \
             registry://ghcr.io/your-org/policies/kritis-attestation-policy:v0.1.0"
        ));
    }
    if name.is_empty() {
        return Err("--name: must not be empty".to_owned());
    }
    let ops = || vec!["CREATE", "UPDATE"];
    let rules = vec![
        Rule {
            api_groups: vec![""],
            api_versions: vec!["v1"],
            resources: vec!["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
            operations: ops(),
        },
        Rule {
            api_groups: vec!["apps"],
            api_versions: vec!["v1"],
            resources: vec!["deployments", "replicasets", "statefulsets", "daemonsets"],
            operations: ops(),
        },
        Rule {
            api_groups: vec!["batch"],
            api_versions: vec!["v1"],
            resources: vec!["jobs", "cronjobs"],
            operations: ops(),
        },
    ];
    Ok(ClusterAdmissionPolicy {
        api_version: "policies.kubewarden.io/v1",
        kind: "ClusterAdmissionPolicy",
        metadata: Metadata {
            name: name.to_owned(),
        },
        spec: PolicySpec {
            module: module.to_owned(),
            mode: "protect",
            mutating: false,
            rules,
            settings,
        },
    })
}

/// Renders `value` as YAML after a header comment and the import's
/// skipped items, warnings and notes as comments.
///
/// # Errors
/// When the value cannot be rendered (not expected).
pub fn render_yaml<T: Serialize>(
    header: &str,
    import: &Import,
    value: &T,
) -> Result<String, serde_yaml::Error> {
    let mut out = format!("# {header}\n");
    for (label, items) in [
        ("skipped", &import.skipped),
        ("warning", &import.warnings),
        ("note", &import.notes),
    ] {
        for s in items {
            out.push_str(&format!("# {label}: {}\n", s.replace('\n', " ")));
        }
    }
    out.push_str(&serde_yaml::to_string(value)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFCi0tLS0tRU5EIFBVQkxJQyBLRVktLS0tLQo=";

    fn seed() -> String {
        format!(
            r#"
apiVersion: kritis.grafeas.io/v1beta1
kind: AttestationAuthority
metadata:
  name: demo-aa
spec:
  noteReference: namespaces/demo-aa
  publicKeyData: {KEY}
  publicKeyId: key-4a2ef103
---
apiVersion: kritis.grafeas.io/v1beta1
kind: GenericAttestationPolicy
metadata:
  name: demo-gap
  namespace: default
spec:
  attestationAuthorityNames:
  - demo-aa
---
apiVersion: v1
kind: List
items:
- apiVersion: kritis.grafeas.io/v1beta1
  kind: AdmissionAllowlist
  metadata:
    name: allow-acs-images
  spec:
    patterns:
    - namePattern: 'registry*.*.aliyuncs.com/acs/*'
    - namePattern: 'registry-vpc.cn-beijing.aliyuncs.com/arms-docker-repo/*'
      namespace: default
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: stray
"#
        )
    }

    fn run(text: &str, options: Options) -> Result<Import, ImportError> {
        import(&[("seed.yaml".into(), text.into())], options)
    }

    fn err(text: &str) -> String {
        run(text, Options::default()).unwrap_err().to_string()
    }

    #[test]
    fn imports_the_three_kinds_and_reports_the_rest() {
        let i = run(&seed(), Options { require_any: true }).unwrap();
        assert_eq!(
            serde_json::to_value(&i.settings).unwrap(),
            json!({
                "attestationAuthorities": [{"name": "demo-aa", "noteReference": "namespaces/demo-aa",
                                            "publicKeyId": "key-4a2ef103", "publicKeyData": KEY}],
                "attestationPolicies": [{"name": "demo-gap", "namespace": "default",
                                         "attestationAuthorityNames": ["demo-aa"], "require": "any"}],
                "admissionAllowlists": [{"name": "allow-acs-images", "patterns": [
                    {"namePattern": "registry*.*.aliyuncs.com/acs/*"},
                    {"namePattern": "registry-vpc.cn-beijing.aliyuncs.com/arms-docker-repo/*", "namespace": "default"}]}]
            })
        );
        assert_eq!(
            i.skipped,
            vec!["seed.yaml: document 3, ConfigMap \"stray\": not a kritis resource (kritis-import reads AttestationAuthority, GenericAttestationPolicy and AdmissionAllowlist)"]
        );
        assert_eq!(
            i.notes,
            vec!["enforced in: default (the namespaces of the imported policies); every other namespace is admitted WITHOUT checks, as with kritis: add a policy without `namespace` to the settings to enforce the rest of the cluster"]
        );
        assert_eq!(i.warnings.len(), 1, "{:?}", i.warnings);
        assert!(i.warnings[0].starts_with("allowlist pattern \"registry*.*.aliyuncs.com/acs/*\": `*` in the registry host \"registry*.*.aliyuncs.com\" also matches hosts such as \"registry-evil.oss-cn-hangzhou.aliyuncs.com\", an OSS bucket domain"), "{}", i.warnings[0]);
        let yaml = render_yaml("settings", &i, &i.settings).unwrap();
        assert!(yaml.contains("# skipped: seed.yaml: document 3, ConfigMap"));
        assert!(yaml.contains("# warning: allowlist pattern"));
        // The README's order, not alphabetical.
        assert!(
            yaml.find("attestationAuthorities").unwrap()
                < yaml.find("attestationPolicies").unwrap()
        );
        assert!(
            yaml.find("attestationPolicies").unwrap() < yaml.find("admissionAllowlists").unwrap()
        );
    }

    #[test]
    fn require_all_warns_about_every_policy_with_several_authorities() {
        let text = format!(
            "kind: AttestationAuthority\nmetadata: {{name: a}}\nspec: {{publicKeyData: {KEY}, publicKeyId: ka}}\n---\n\
             kind: AttestationAuthority\nmetadata: {{name: b}}\nspec: {{publicKeyData: {KEY}, publicKeyId: kb}}\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: two, namespace: prod}}\nspec: {{attestationAuthorityNames: [a, b]}}\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: one, namespace: dev}}\nspec: {{attestationAuthorityNames: [a]}}\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: also, namespace: qa}}\nspec: {{attestationAuthorityNames: [b, a]}}\n"
        );
        let i = run(&text, Options::default()).unwrap();
        assert_eq!(i.warnings.len(), 1, "{:?}", i.warnings);
        assert!(i.warnings[0].starts_with(
            "require: all: policy \"two\" (prod: a, b), policy \"also\" (qa: b, a) list(s) two or more authorities"
        ), "{}", i.warnings[0]);
        assert!(i.warnings[0].ends_with("run again with `--require any` to keep ACK's behaviour"));
        assert!(i.notes[0].starts_with("enforced in: dev, prod, qa (the namespaces"));
        let any = run(&text, Options { require_any: true }).unwrap();
        assert!(any.warnings.is_empty(), "{:?}", any.warnings);
    }

    #[test]
    fn errors_name_the_document_the_kind_and_the_yaml_path() {
        let aa = format!(
            "kind: AttestationAuthority\nmetadata: {{name: ok}}\nspec: {{publicKeyData: {KEY}}}\n"
        );
        assert_eq!(
            err("kind: AttestationAuthority\nmetadata: {name: x}\nspec: {publicKeyId: k}\n"),
            "seed.yaml, AttestationAuthority \"x\": spec.publicKeyData: missing"
        );
        assert_eq!(
            err(&format!(
                "{aa}---\nkind: List\nitems:\n- kind: ConfigMap\n- kind: AttestationAuthority\n  metadata: {{name: demo-aa}}\n  spec: {{publicKeyData: 42}}\n"
            )),
            "seed.yaml: document 2, AttestationAuthority \"demo-aa\": items[1].spec.publicKeyData: not a string (a number)"
        );
        assert_eq!(
            err(&format!("{aa}---\nkind: AttestationAuthorityList\nitems:\n- metadata: {{name: y}}\n  spec: {{publicKeyData: bm90IGEga2V5}}\n")),
            "seed.yaml: document 2, AttestationAuthority \"y\": items[0].spec.publicKeyData: decodes to text that is not a PEM block"
        );
        assert_eq!(
            err(&format!("{aa}---\nkind: GenericAttestationPolicy\nmetadata: {{name: p}}\nspec: {{attestationAuthorityNames: [ok, nope]}}\n")),
            "seed.yaml: document 2, GenericAttestationPolicy \"p\": spec.attestationAuthorityNames[1]: no AttestationAuthority named \"nope\" in the input: add it (kubectl get attestationauthorities -o yaml) or the policy could never be satisfied"
        );
        assert_eq!(
            err(&format!("{aa}---\nkind: GenericAttestationPolicy\nmetadata: {{name: p}}\nspec: {{attestationAuthorityNames: [ok, ok]}}\n")),
            "seed.yaml: document 2, GenericAttestationPolicy \"p\": spec.attestationAuthorityNames[1]: authority \"ok\" listed twice (also spec.attestationAuthorityNames[0])"
        );
        assert_eq!(
            err(&format!("{aa}---\n{aa}")),
            "seed.yaml: document 2, AttestationAuthority \"ok\": metadata.name: a second AttestationAuthority named \"ok\" (the first: seed.yaml: document 1, AttestationAuthority \"ok\")"
        );
        assert_eq!(
            err(&format!(
                "{aa}---\nkind: AdmissionAllowlist\nspec:\n  patterns:\n  - namePattern: ''\n"
            )),
            "seed.yaml: document 2, AdmissionAllowlist: spec.patterns[0].namePattern: empty"
        );
        assert_eq!(
            err("kind: AttestationAuthority\nspec: {}\n"),
            "seed.yaml, AttestationAuthority: metadata.name: missing"
        );
        let syntax = err(&format!("{aa}---\nkind: [\n"));
        assert!(
            syntax.starts_with("seed.yaml: document 2 is not valid YAML: "),
            "{syntax}"
        );
    }

    #[test]
    fn keys_must_be_pem_public_keys() {
        assert_eq!(check_public_key(KEY), Ok(()));
        assert_eq!(
            check_public_key(
                "-----BEGIN RSA PUBLIC KEY-----\nAA==\n-----END RSA PUBLIC KEY-----\n"
            ),
            Ok(())
        );
        let pgp = base64::engine::general_purpose::STANDARD.encode(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nx\n-----END PGP PUBLIC KEY BLOCK-----\n",
        );
        assert!(check_public_key(&pgp)
            .unwrap_err()
            .starts_with("a PGP public key"));
        assert_eq!(
            check_public_key("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----").unwrap_err(),
            "a PEM \"CERTIFICATE\" block, not a public key (expected `PUBLIC KEY` or `RSA PUBLIC KEY`)"
        );
        assert_eq!(
            check_public_key("%%%").unwrap_err(),
            "neither a PEM public key nor base64 of one"
        );
    }

    #[test]
    fn no_authority_is_an_error() {
        let e = err("kind: GenericAttestationPolicy\nmetadata: {name: p, namespace: default}\nspec: {attestationAuthorityNames: [a]}\n");
        assert!(e.starts_with("no AttestationAuthority in seed.yaml: the policy needs at least one trusted authority, so there are no valid settings to print (the input holds 1 GenericAttestationPolicy)"), "{e}");
        assert!(err("").contains("(the input holds no kritis resource at all)"));
    }

    #[test]
    fn image_security_policy_is_named_as_a_kritis_resource_not_imported() {
        let text = format!("kind: AttestationAuthority\nmetadata: {{name: a}}\nspec: {{publicKeyData: {KEY}}}\n---\napiVersion: kritis.grafeas.io/v1beta1\nkind: ImageSecurityPolicy\nmetadata: {{name: isp}}\nspec: {{}}\n---\napiVersion: kritis.grafeas.io/v1beta1\nkind: VulnzSigningPolicy\nmetadata: {{name: v}}\n");
        let i = run(&text, Options::default()).unwrap();
        assert!(i.skipped[0].starts_with("seed.yaml: document 2, ImageSecurityPolicy \"isp\": a kritis resource this policy does not import: an ImageSecurityPolicy admits images by their vulnerability scan results"), "{}", i.skipped[0]);
        assert!(i.skipped[0].contains("GenericAttestationPolicy"));
        assert!(
            i.skipped[1].contains(
                "VulnzSigningPolicy \"v\": a kritis resource this policy does not import ("
            ),
            "{}",
            i.skipped[1]
        );
        // No policy at all: enforced everywhere, which kritis would not do.
        assert_eq!(
            i.notes,
            vec!["enforced in: every namespace (no attestationPolicies)"]
        );
        assert!(i
            .warnings
            .iter()
            .any(|w| w.starts_with("no GenericAttestationPolicy in the input")));
    }

    #[test]
    fn unknown_fields_and_unscoped_policies_are_reported() {
        let text = format!("kind: AttestationAuthority\nmetadata: {{name: a}}\nspec: {{publicKeyData: {KEY}, publicKeys: []}}\n---\nkind: GenericAttestationPolicy\nmetadata: {{name: p}}\nspec:\n  attestationAuthorityNames: [a]\n  admissionWhitelistPatterns: [{{namePattern: x}}]\n");
        let i = run(&text, Options::default()).unwrap();
        assert!(i.skipped[0].starts_with("seed.yaml: document 1, AttestationAuthority \"a\": spec.publicKeys: not imported: this is upstream kritis's newer key format"), "{:?}", i.skipped);
        assert!(i.skipped[1].starts_with("seed.yaml: document 2, GenericAttestationPolicy \"p\": spec.admissionWhitelistPatterns: not imported"), "{:?}", i.skipped);
        assert!(i.warnings[0].starts_with("seed.yaml: document 2, GenericAttestationPolicy \"p\": no metadata.namespace, so it is imported as cluster-wide"), "{:?}", i.warnings);
        assert_eq!(
            i.notes,
            vec!["enforced in: every namespace (cluster-wide policies: p)"]
        );
    }

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

    #[test]
    fn the_manifest_wraps_the_settings() {
        let i = run(&seed(), Options::default()).unwrap();
        let m = manifest(
            i.settings.clone(),
            "registry://ghcr.io/your-org/policies/kritis-attestation-policy:v0.1.0",
            DEFAULT_POLICY_NAME,
        )
        .unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["apiVersion"], "policies.kubewarden.io/v1");
        assert_eq!(v["kind"], "ClusterAdmissionPolicy");
        assert_eq!(v["metadata"]["name"], "kritis-attestations");
        assert_eq!(v["spec"]["mode"], "protect");
        assert_eq!(v["spec"]["mutating"], false);
        assert_eq!(
            v["spec"]["settings"],
            serde_json::to_value(&i.settings).unwrap()
        );
        assert_eq!(
            v["spec"]["rules"][2],
            json!({"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"], "operations": ["CREATE", "UPDATE"]})
        );
        assert!(manifest(Settings::default(), "ghcr.io/x:1", "n")
            .unwrap_err()
            .contains("with its scheme"));
    }
}
