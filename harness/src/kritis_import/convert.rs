//! One kritis resource → one settings entry: its fields read and checked the
//! way the policy checks settings; fields with no equivalent reported.

use base64::Engine as _;
use serde_json::Value;

use super::error::ImportError;
use super::fields::{optional_string, required_string, spec, unknown_fields, what, Loc};
use super::settings::{Allowlist, Authority, Pattern, Policy, Require, MAX_PATTERN_LEN};

/// Options of the import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Give every imported policy `require: any` (kritis 0.2 / ACK semantics).
    pub require_any: bool,
}

/// An `AttestationAuthority` → an `attestationAuthorities` entry.
pub(super) fn authority(
    loc: &Loc,
    doc: &Value,
    name: String,
    skipped: &mut Vec<String>,
) -> Result<Authority, ImportError> {
    let spec = spec(loc, doc)?;
    unknown_fields(
        loc,
        spec,
        "spec",
        &["noteReference", "publicKeyId", "publicKeyData"],
        skipped,
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
pub(super) fn check_public_key(data: &str) -> Result<(), String> {
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

/// A `GenericAttestationPolicy` → an `attestationPolicies` entry.
pub(super) fn policy(
    loc: &Loc,
    doc: &Value,
    name: String,
    options: Options,
    skipped: &mut Vec<String>,
) -> Result<Policy, ImportError> {
    let metadata = doc.get("metadata").unwrap_or(&Value::Null);
    let namespace = optional_string(loc, metadata, "namespace", "metadata.namespace")?;
    let spec = spec(loc, doc)?;
    unknown_fields(
        loc,
        spec,
        "spec",
        &[
            "attestationAuthorityNames",
            "admissionAllowlistPatterns",
            "admissionWhitelistPatterns",
        ],
        skipped,
    );
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
    Ok(Policy {
        name,
        namespace,
        attestation_authority_names: names,
        require: options.require_any.then_some(Require::Any),
    })
}

/// An `AdmissionAllowlist` → an `admissionAllowlists` entry.
pub(super) fn allowlist(
    loc: &Loc,
    doc: &Value,
    name: Option<String>,
    skipped: &mut Vec<String>,
) -> Result<Allowlist, ImportError> {
    let spec = spec(loc, doc)?;
    unknown_fields(loc, spec, "spec", &["patterns"], skipped);
    let list = match spec.get("patterns") {
        None | Some(Value::Null) => return Err(loc.error("spec.patterns", "missing")),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(loc.error("spec.patterns", format!("not a list ({})", what(other))))
        }
    };
    Ok(Allowlist {
        name,
        patterns: patterns(loc, list, "spec.patterns", None, skipped)?,
    })
}

/// A `GenericAttestationPolicy`'s own allowlist patterns
/// (`admissionAllowlistPatterns`, kritis's `admissionWhitelistPatterns`) →
/// an `admissionAllowlists` entry named `namespace/name`, every pattern
/// scoped to the policy's namespace: what the live mode
/// (`kritisResources`, the policy's `kritis` module) makes of them.
/// `None` when it has none.
pub(super) fn policy_allowlist(
    loc: &Loc,
    doc: &Value,
    policy: &Policy,
    skipped: &mut Vec<String>,
) -> Result<Option<Allowlist>, ImportError> {
    let spec = spec(loc, doc)?;
    let mut all = Vec::new();
    for field in ["admissionAllowlistPatterns", "admissionWhitelistPatterns"] {
        let path = format!("spec.{field}");
        match spec.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => all.extend(patterns(
                loc,
                list,
                &path,
                policy.namespace.as_deref(),
                skipped,
            )?),
            Some(other) => return Err(loc.error(&path, format!("not a list ({})", what(other)))),
        }
    }
    if all.is_empty() {
        return Ok(None);
    }
    let name = match &policy.namespace {
        Some(ns) => format!("{ns}/{}", policy.name),
        None => policy.name.clone(),
    };
    Ok(Some(Allowlist {
        name: Some(name),
        patterns: all,
    }))
}

/// Allowlist patterns (`namePattern`, `namespace`) at `path`; with a
/// `scope`, each is scoped to it (a policy's patterns cover its namespace),
/// otherwise by its own `namespace` (empty: every namespace, as the live
/// mode reads it).
fn patterns(
    loc: &Loc,
    list: &[Value],
    path: &str,
    scope: Option<&str>,
    skipped: &mut Vec<String>,
) -> Result<Vec<Pattern>, ImportError> {
    let mut patterns = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if !entry.is_object() {
            return Err(loc.error(&at, format!("not a mapping ({})", what(entry))));
        }
        unknown_fields(loc, entry, &at, &["namePattern", "namespace"], skipped);
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
        let namespace = match (scope, entry.get("namespace")) {
            (Some(scope), _) => Some(scope.to_owned()),
            (None, Some(Value::String(s))) if s.is_empty() => None,
            (None, _) => optional_string(loc, entry, "namespace", &format!("{at}.namespace"))?,
        };
        patterns.push(Pattern {
            name_pattern,
            namespace,
        });
    }
    Ok(patterns)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::kritis_import::tests::KEY;

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
}
