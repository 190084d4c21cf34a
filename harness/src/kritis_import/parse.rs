//! Reading the input: YAML documents, `List`s unpacked, each object sent by
//! its kind to `convert`, everything else reported as skipped.

use serde::Deserialize;
use serde_json::Value;

use super::convert::{allowlist, authority, policy, policy_allowlist, Options};
use super::error::ImportError;
use super::fields::{required_string, what, Loc};
use super::settings::{Allowlist, Authority, Policy};
use super::warnings::allowlist_namespace_warning;

/// Every resource read, with where it came from, before the cross checks.
#[derive(Default)]
pub(super) struct Found {
    pub(super) authorities: Vec<(Authority, Loc)>,
    pub(super) policies: Vec<(Policy, Loc)>,
    pub(super) allowlists: Vec<(Allowlist, Loc)>,
    pub(super) skipped: Vec<String>,
    pub(super) warnings: Vec<String>,
    /// Policies written without `metadata.namespace`.
    pub(super) unscoped: Vec<String>,
    /// (name, `metadata.namespace`) of the authorities that have one.
    pub(super) authority_namespaces: Vec<(String, String)>,
}

/// Reads every document of `text` (from `source`) into `found`. A document
/// that is not YAML fails the whole source before any of it is read.
pub(super) fn read_source(
    source: &str,
    text: &str,
    options: Options,
    found: &mut Found,
) -> Result<(), ImportError> {
    let mut documents = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let doc = Value::deserialize(document).map_err(|e| ImportError::Syntax {
            source: source.to_owned(),
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
            source.to_owned()
        };
        visit(doc, &prefix, String::new(), None, options, found)?;
    }
    Ok(())
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
            if let Some(ns) = metadata.get("namespace").and_then(Value::as_str) {
                found
                    .authority_namespaces
                    .push((name.clone(), ns.to_owned()));
            }
            let authority = authority(&loc, doc, name, &mut found.skipped)?;
            found.authorities.push((authority, loc));
        }
        "GenericAttestationPolicy" => {
            let name = named()?;
            let policy = policy(&loc, doc, name, options, &mut found.skipped)?;
            if policy.namespace.is_none() {
                found.unscoped.push(loc.at.clone());
            }
            if let Some(list) = policy_allowlist(&loc, doc, &policy, &mut found.skipped)? {
                found.allowlists.push((list, loc.clone()));
            }
            found.policies.push((policy, loc));
        }
        "AdmissionAllowlist" => {
            let allowlist = allowlist(&loc, doc, name, &mut found.skipped)?;
            if let Some(namespace) = metadata.get("namespace").filter(|v| !v.is_null()) {
                found
                    .warnings
                    .push(allowlist_namespace_warning(&loc, namespace, &allowlist));
            }
            found.allowlists.push((allowlist, loc));
        }
        k if k.ends_with("List") => visit_items(doc, k, prefix, &loc, options, found)?,
        other => {
            let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            found
                .skipped
                .push(format!("{}: {}", loc.at, not_imported(other, api_version)));
        }
    }
    Ok(())
}

/// Reads the items of a `List` (`kind` ends with `List`): the kind of an
/// item without one is what precedes `List`.
fn visit_items(
    doc: &Value,
    kind: &str,
    prefix: &str,
    loc: &Loc,
    options: Options,
    found: &mut Found,
) -> Result<(), ImportError> {
    let items = match doc.get("items") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(loc.error("items", format!("not a list ({})", what(other)))),
    };
    let item_kind = kind.strip_suffix("List").filter(|s| !s.is_empty());
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
