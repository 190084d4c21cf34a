//! Where a field sits in the input ([`Loc`]: the document, the resource,
//! the YAML path) and reading typed fields there.

use serde_json::Value;

use super::error::ImportError;

/// Where a resource sits in the input.
#[derive(Debug, Clone)]
pub(super) struct Loc {
    /// `seed.yaml: document 3, AttestationAuthority "demo-aa"`.
    pub(super) at: String,
    /// Path of the resource from the document's root (`items[2]`), or empty.
    pub(super) base: String,
}

impl Loc {
    pub(super) fn path(&self, field: &str) -> String {
        match (self.base.is_empty(), field.is_empty()) {
            (true, _) => field.to_owned(),
            (false, true) => self.base.clone(),
            (false, false) => format!("{}.{field}", self.base),
        }
    }

    pub(super) fn error(&self, field: &str, problem: impl Into<String>) -> ImportError {
        ImportError::Field {
            at: self.at.clone(),
            path: self.path(field),
            problem: problem.into(),
        }
    }
}

/// What kind of YAML value `value` is, for messages.
pub(super) fn what(value: &Value) -> &'static str {
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
pub(super) fn optional_string(
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

/// A field that must be present.
pub(super) fn required_string(
    loc: &Loc,
    parent: &Value,
    key: &str,
    path: &str,
) -> Result<String, ImportError> {
    optional_string(loc, parent, key, path)?.ok_or_else(|| loc.error(path, "missing"))
}

/// `spec`, a mapping.
pub(super) fn spec<'v>(loc: &Loc, doc: &'v Value) -> Result<&'v Value, ImportError> {
    match doc.get("spec") {
        None | Some(Value::Null) => Err(loc.error("spec", "missing")),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(other) => Err(loc.error("spec", format!("not a mapping ({})", what(other)))),
    }
}

/// Reports the fields of `map` (at `path`) that are not in `known`, in
/// `skipped`.
pub(super) fn unknown_fields(
    loc: &Loc,
    map: &Value,
    path: &str,
    known: &[&str],
    skipped: &mut Vec<String>,
) {
    let Some(map) = map.as_object() else {
        return;
    };
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        let why = match key.as_str() {
            "admissionWhitelistPatterns" | "admissionAllowlistPatterns" => {
                "not imported: only a GenericAttestationPolicy carries allowlist patterns \
                 (imported scoped to its namespace)"
            }
            "publicKeys" | "policyType" => {
                "not imported: this is upstream kritis's newer key format, the import reads \
                 ACK's publicKeyData / publicKeyId; write PKIX keys as publicKeyData or \
                 publicKeys in the settings by hand (PGP keys are not supported)"
            }
            _ => "not imported: the policy has no such field",
        };
        skipped.push(format!(
            "{}: {}: {why}",
            loc.at,
            loc.path(&format!("{path}.{key}"))
        ));
    }
}
