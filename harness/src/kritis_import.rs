//! `policy-harness kritis-import`: turns kritis custom resources, as
//! `kubectl get -o yaml` prints them, into this policy's `settings` block.
//!
//! - `AttestationAuthority` → `attestationAuthorities[]` (name from
//!   `metadata.name`; `noteReference`, `publicKeyId`, `publicKeyData`).
//! - `GenericAttestationPolicy` → `attestationPolicies[]` (its
//!   `metadata.namespace` becomes `namespace`: kritis policies are namespaced).
//! - `AdmissionAllowlist` → `admissionAllowlists[]`.
//! - `List` (and `*List`) documents are unpacked. Any other kind is reported
//!   (on stderr and as a comment in the output), never dropped silently.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// What an import produced.
#[derive(Debug, Default)]
pub struct Import {
    /// The settings object.
    pub settings: Value,
    /// Human-readable notes on what was skipped or changed.
    pub skipped: Vec<String>,
}

/// Options of the import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Give every imported policy `require: any` (kritis 0.2 / ACK semantics).
    pub require_any: bool,
}

/// Imports every document of every given YAML text (`(source name, text)`).
///
/// # Errors
/// When a document is not YAML, or a kritis resource lacks a required field.
pub fn import(sources: &[(String, String)], options: Options) -> Result<Import> {
    let mut authorities = Vec::new();
    let mut policies = Vec::new();
    let mut allowlists = Vec::new();
    let mut skipped = Vec::new();
    for (source, text) in sources {
        for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let doc = Value::deserialize(document)
                .with_context(|| format!("{source}: document {i} is not YAML"))?;
            if doc.is_null() {
                continue;
            }
            let mut queue = vec![doc];
            while let Some(doc) = queue.pop() {
                let kind = doc
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let name = doc
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let at = format!("{source}: {kind} {name:?}");
                match kind.as_str() {
                    "AttestationAuthority" => {
                        authorities.push(authority(&doc, &name).with_context(|| at.clone())?)
                    }
                    "GenericAttestationPolicy" => {
                        policies.push(policy(&doc, &name, options).with_context(|| at.clone())?)
                    }
                    "AdmissionAllowlist" => {
                        allowlists.push(allowlist(&doc, &name).with_context(|| at.clone())?)
                    }
                    k if k == "List" || k.ends_with("List") => {
                        let items = doc
                            .get("items")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        queue.extend(items.into_iter().rev());
                    }
                    "" => skipped.push(format!("{source}: document {i} has no kind")),
                    _ => skipped.push(format!("{at}: not a kritis resource this policy imports")),
                }
            }
        }
    }
    if authorities.is_empty() {
        skipped.push(
            "no AttestationAuthority found: the settings are not valid until one is added"
                .to_owned(),
        );
    }
    let mut settings = Map::new();
    settings.insert("attestationAuthorities".into(), Value::Array(authorities));
    if !policies.is_empty() {
        settings.insert("attestationPolicies".into(), Value::Array(policies));
    }
    if !allowlists.is_empty() {
        settings.insert("admissionAllowlists".into(), Value::Array(allowlists));
    }
    Ok(Import {
        settings: Value::Object(settings),
        skipped,
    })
}

fn spec(doc: &Value) -> Result<&Map<String, Value>> {
    doc.get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("has no spec"))
}

fn text(map: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!("spec.{field} is not a string: {other}"),
    }
}

fn authority(doc: &Value, name: &str) -> Result<Value> {
    if name.is_empty() {
        bail!("has no metadata.name");
    }
    let spec = spec(doc)?;
    let data = text(spec, "publicKeyData")?.ok_or_else(|| anyhow!("has no spec.publicKeyData"))?;
    let mut a = Map::new();
    a.insert("name".into(), json!(name));
    if let Some(note) = text(spec, "noteReference")? {
        a.insert("noteReference".into(), json!(note));
    }
    if let Some(id) = text(spec, "publicKeyId")? {
        a.insert("publicKeyId".into(), json!(id));
    }
    a.insert("publicKeyData".into(), json!(data));
    Ok(Value::Object(a))
}

fn policy(doc: &Value, name: &str, options: Options) -> Result<Value> {
    if name.is_empty() {
        bail!("has no metadata.name");
    }
    let spec = spec(doc)?;
    let names = spec
        .get("attestationAuthorityNames")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("has no spec.attestationAuthorityNames"))?;
    let mut p = Map::new();
    p.insert("name".into(), json!(name));
    if let Some(ns) = doc.pointer("/metadata/namespace").and_then(Value::as_str) {
        p.insert("namespace".into(), json!(ns));
    }
    p.insert(
        "attestationAuthorityNames".into(),
        Value::Array(names.clone()),
    );
    if options.require_any {
        p.insert("require".into(), json!("any"));
    }
    Ok(Value::Object(p))
}

fn allowlist(doc: &Value, name: &str) -> Result<Value> {
    let spec = spec(doc)?;
    let patterns = spec
        .get("patterns")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("has no spec.patterns"))?;
    let mut out = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        let pattern = p
            .get("namePattern")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("spec.patterns[{i}] has no namePattern"))?;
        let mut entry = Map::new();
        entry.insert("namePattern".into(), json!(pattern));
        if let Some(ns) = p.get("namespace").and_then(Value::as_str) {
            entry.insert("namespace".into(), json!(ns));
        }
        out.push(Value::Object(entry));
    }
    let mut a = Map::new();
    if !name.is_empty() {
        a.insert("name".into(), json!(name));
    }
    a.insert("patterns".into(), Value::Array(out));
    Ok(Value::Object(a))
}

/// Renders an import as YAML: skipped items as comments, then the settings.
///
/// # Errors
/// When the settings cannot be rendered (not expected).
pub fn render_yaml(import: &Import) -> Result<String> {
    let mut out =
        String::from("# settings imported from kritis resources by policy-harness kritis-import\n");
    for s in &import.skipped {
        out.push_str(&format!("# skipped: {}\n", s.replace('\n', " ")));
    }
    out.push_str(&serde_yaml::to_string(&import.settings)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
apiVersion: kritis.grafeas.io/v1beta1
kind: AttestationAuthority
metadata:
  name: demo-aa
spec:
  noteReference: namespaces/demo-aa
  publicKeyData: LS0tLS1CRUdJTiBQ
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
"#;

    #[test]
    fn imports_the_three_kinds_and_reports_the_rest() {
        let i = import(
            &[("seed.yaml".into(), SEED.into())],
            Options { require_any: true },
        )
        .unwrap();
        assert_eq!(
            i.settings,
            json!({
                "attestationAuthorities": [{"name": "demo-aa", "noteReference": "namespaces/demo-aa",
                                            "publicKeyId": "key-4a2ef103", "publicKeyData": "LS0tLS1CRUdJTiBQ"}],
                "attestationPolicies": [{"name": "demo-gap", "namespace": "default",
                                         "attestationAuthorityNames": ["demo-aa"], "require": "any"}],
                "admissionAllowlists": [{"name": "allow-acs-images", "patterns": [
                    {"namePattern": "registry*.*.aliyuncs.com/acs/*"},
                    {"namePattern": "registry-vpc.cn-beijing.aliyuncs.com/arms-docker-repo/*", "namespace": "default"}]}]
            })
        );
        assert_eq!(
            i.skipped,
            vec!["seed.yaml: ConfigMap \"stray\": not a kritis resource this policy imports"]
        );
        assert!(render_yaml(&i)
            .unwrap()
            .contains("# skipped: seed.yaml: ConfigMap"));
    }

    #[test]
    fn missing_fields_are_errors_naming_the_resource() {
        let bad = "kind: AttestationAuthority\nmetadata: {name: x}\nspec: {publicKeyId: k}\n";
        let e = import(&[("f.yaml".into(), bad.into())], Options::default()).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "f.yaml: AttestationAuthority \"x\": has no spec.publicKeyData"
        );
        assert!(import(&[("f.yaml".into(), "a: [".into())], Options::default()).is_err());
    }
}
