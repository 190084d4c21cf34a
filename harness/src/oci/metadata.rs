//! Kubewarden policy metadata embedded in the module, as `kwctl annotate`
//! writes it and policy-server's policy-evaluator reads it:
//! a wasm custom section named `io.kubewarden.metadata` whose bytes are the
//! JSON of policy-evaluator's `Metadata` (camelCase fields).
//!
//! `policy-harness annotate` builds that JSON from `policy-metadata.yml` the
//! way `kwctl annotate` does: the YAML's fields, the defaults policy-evaluator
//! serializes (`backgroundAudit: true`, `executionMode: kubewarden-wapc`,
//! `policyType: kubernetes`, `contextAwareResources: []`), the
//! `protocolVersion` the module itself answers to `protocol_version`, and,
//! with a usage file, the annotation `io.kubewarden.policy.usage`. The known
//! fields are checked as policy-evaluator checks them; other fields (e.g. the
//! legacy `contextAware` flag) are kept as written (policy-evaluator ignores
//! them). An existing `io.kubewarden.metadata` section is replaced, never
//! duplicated; every other section is copied unchanged.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::sync::Arc;

use crate::oci::sha256_digest;
use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{Map, Value};
use wasmparser::{Encoding, Parser, Payload};

use crate::host::cache::CacheMode;
use crate::host::capabilities::{HostCapabilities, HostEnvironment};
use crate::host::runtime::{Limits, PolicyModule};

/// Name of the custom section (policy-evaluator's
/// `KUBEWARDEN_CUSTOM_SECTION_METADATA`).
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";
/// Annotation holding the usage text (`KUBEWARDEN_ANNOTATION_POLICY_USAGE`).
pub const USAGE_ANNOTATION: &str = "io.kubewarden.policy.usage";
/// Annotation holding the policy's source URL (`KUBEWARDEN_ANNOTATION_POLICY_SOURCE`).
pub const SOURCE_ANNOTATION: &str = "io.kubewarden.policy.source";
/// The only execution mode the harness runs (and annotates).
pub const EXECUTION_MODE_WAPC: &str = "kubewarden-wapc";

const EXECUTION_MODES: [&str; 4] = ["kubewarden-wapc", "opa", "gatekeeper", "wasi"];
const POLICY_TYPES: [&str; 2] = ["kubernetes", "raw"];
const OPERATIONS: [&str; 5] = ["CREATE", "UPDATE", "DELETE", "CONNECT", "*"];

// ---------------------------------------------------------------------------
// Custom sections

/// Contents of every custom section named `name`, in module order.
pub fn custom_sections<'a>(module: &'a [u8], name: &str) -> Result<Vec<&'a [u8]>> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload.context("invalid wasm module")? {
            Payload::Version { encoding, .. } => ensure_core_module(encoding)?,
            Payload::CustomSection(reader) if reader.name() == name => found.push(reader.data()),
            _ => {}
        }
    }
    Ok(found)
}

fn ensure_core_module(encoding: Encoding) -> Result<()> {
    ensure!(
        encoding == Encoding::Module,
        "this is a wasm component, not a core module: Kubewarden policies are core modules"
    );
    Ok(())
}

/// Returns `module` with every custom section named `name` removed and one
/// custom section `name` holding `data` appended (as walrus, which `kwctl`
/// uses, emits custom sections after the module's other sections). All the
/// other sections are copied byte for byte, in order.
pub fn replace_custom_section(module: &[u8], name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.context("invalid wasm module")?;
        match &payload {
            Payload::Version { encoding, .. } => ensure_core_module(*encoding)?,
            Payload::CustomSection(reader) if reader.name() == name => continue,
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            out.section(&wasm_encoder::RawSection {
                id,
                data: &module[range],
            });
        }
    }
    out.section(&wasm_encoder::CustomSection {
        name: Cow::Borrowed(name),
        data: Cow::Borrowed(data),
    });
    Ok(out.finish())
}

/// The metadata embedded in `module`: `None` when it has no
/// `io.kubewarden.metadata` section. With several sections (which
/// `kwctl annotate` run twice produces), the first one is the one
/// policy-evaluator reads, and so is this.
pub fn read_metadata(module: &[u8]) -> Result<Option<Value>> {
    let sections = custom_sections(module, METADATA_SECTION)?;
    let Some(first) = sections.first() else {
        return Ok(None);
    };
    let value: Value = serde_json::from_slice(first)
        .with_context(|| format!("the {METADATA_SECTION} section is not valid JSON"))?;
    ensure!(
        value.is_object(),
        "the {METADATA_SECTION} section is not a JSON object"
    );
    Ok(Some(value))
}

// ---------------------------------------------------------------------------
// Building the metadata

fn string_list<'a>(
    rule: &'a Map<String, Value>,
    field: &str,
    index: usize,
) -> Result<Vec<&'a str>> {
    let list = rule
        .get(field)
        .ok_or_else(|| anyhow!("rules[{index}]: `{field}` is missing"))?
        .as_array()
        .ok_or_else(|| anyhow!("rules[{index}]: `{field}` must be a list"))?;
    ensure!(
        !list.is_empty(),
        "rules[{index}]: `{field}` must not be empty"
    );
    list.iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| anyhow!("rules[{index}]: `{field}` must hold strings, found {v}"))
        })
        .collect()
}

fn check_rule(rule: &Value, index: usize) -> Result<()> {
    let rule = rule
        .as_object()
        .ok_or_else(|| anyhow!("rules[{index}] must be a mapping"))?;
    for field in ["apiGroups", "apiVersions", "resources", "operations"] {
        let list = string_list(rule, field, index)?;
        if list.contains(&"*") && list.len() > 1 {
            bail!("rules[{index}]: `{field}`: no other element can be listed with '*'");
        }
        if field == "resources" && list.iter().any(|r| r.is_empty()) {
            bail!("rules[{index}]: `resources`: an empty resource is not allowed");
        }
        if field == "operations" {
            if let Some(op) = list.iter().find(|op| !OPERATIONS.contains(op)) {
                bail!("rules[{index}]: unknown operation {op:?} (expected one of {OPERATIONS:?})");
            }
        }
    }
    Ok(())
}

fn check_enum(metadata: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<()> {
    match metadata.get(field) {
        None => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(other) => bail!("`{field}` must be one of {allowed:?}, found {other}"),
    }
}

/// Builds the metadata JSON from the YAML text of `policy-metadata.yml`,
/// the usage text and the module's protocol version.
pub fn build_metadata(yaml: &str, usage: Option<&str>, protocol_version: &str) -> Result<Value> {
    let document: serde_yaml::Value = serde_yaml::from_str(yaml).context("invalid YAML")?;
    let value = serde_json::to_value(document)
        .context("the metadata cannot be represented as JSON (non-string keys?)")?;
    let Value::Object(mut metadata) = value else {
        bail!("the metadata must be a YAML mapping");
    };

    let rules = metadata
        .get("rules")
        .ok_or_else(|| anyhow!("`rules` is missing"))?
        .as_array()
        .ok_or_else(|| anyhow!("`rules` must be a list"))?;
    for (index, rule) in rules.iter().enumerate() {
        check_rule(rule, index)?;
    }
    match metadata.get("mutating") {
        Some(Value::Bool(_)) => {}
        Some(other) => bail!("`mutating` must be true or false, found {other}"),
        None => bail!("`mutating` is missing"),
    }
    for field in ["backgroundAudit", "contextAware"] {
        if let Some(v) = metadata.get(field) {
            ensure!(v.is_boolean(), "`{field}` must be true or false, found {v}");
        }
    }
    check_enum(&metadata, "executionMode", &EXECUTION_MODES)?;
    check_enum(&metadata, "policyType", &POLICY_TYPES)?;
    if let Some(resources) = metadata.get("contextAwareResources") {
        let list = resources
            .as_array()
            .ok_or_else(|| anyhow!("`contextAwareResources` must be a list"))?;
        for (i, r) in list.iter().enumerate() {
            for field in ["apiVersion", "kind"] {
                match r.get(field) {
                    Some(Value::String(s)) if !s.is_empty() => {}
                    _ => bail!("contextAwareResources[{i}]: `{field}` must be a non-empty string"),
                }
            }
        }
    }
    if let Some(version) = metadata.get("minimumKubewardenVersion") {
        let ok = version.as_str().is_some_and(|v| {
            let core = v.split(['-', '+']).next().unwrap_or_default();
            let parts: Vec<&str> = core.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
        ensure!(
            ok,
            "`minimumKubewardenVersion` must be a semantic version, found {version}"
        );
    }

    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    match metadata.remove("annotations") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let Value::String(text) = value else {
                    bail!("annotation {key:?} must be a string, found {value} (quote it)");
                };
                annotations.insert(key, text);
            }
        }
        Some(other) => bail!("`annotations` must be a mapping, found {other}"),
    }
    if let Some(usage) = usage {
        annotations.insert(USAGE_ANNOTATION.to_owned(), usage.to_owned());
    }

    // What policy-evaluator's `Metadata` serializes when the YAML omits it.
    metadata
        .entry("backgroundAudit")
        .or_insert(Value::Bool(true));
    metadata
        .entry("executionMode")
        .or_insert_with(|| Value::String(EXECUTION_MODE_WAPC.to_owned()));
    metadata
        .entry("policyType")
        .or_insert_with(|| Value::String("kubernetes".to_owned()));
    metadata
        .entry("contextAwareResources")
        .or_insert_with(|| Value::Array(Vec::new()));
    metadata.insert(
        "protocolVersion".to_owned(),
        Value::String(protocol_version.to_owned()),
    );
    if !annotations.is_empty() {
        metadata.insert(
            "annotations".to_owned(),
            Value::Object(
                annotations
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
        );
    }
    Ok(Value::Object(metadata))
}

/// Asks the module for its waPC protocol version (what `kwctl annotate`
/// does for a `kubewarden-wapc` policy).
pub fn module_protocol_version(module: &[u8]) -> Result<String> {
    let policy = PolicyModule::from_bytes(module, Limits::default(), &CacheMode::from_env())?;
    let instance = policy.instantiate(Arc::new(HostEnvironment::new(HostCapabilities::none())))?;
    let bytes = instance
        .call("protocol_version", &[])?
        .map_err(|e| anyhow!("the policy returned an error from `protocol_version`: {e}"))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "`protocol_version` answered {:?}, expected a JSON string like \"v1\"",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// Writes `module` annotated with `metadata` to `output`.
pub fn annotate_module(module: &[u8], metadata: &Value) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(metadata).context("cannot serialize the metadata")?;
    replace_custom_section(module, METADATA_SECTION, &json)
}

// ---------------------------------------------------------------------------
// Inspecting

fn field_text(metadata: &Value, field: &str) -> String {
    match metadata.get(field) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The human-readable report of `policy-harness inspect` (after kwctl's).
pub fn render_inspection(module: &[u8], metadata: &Value, sections: usize) -> Result<String> {
    let annotations: BTreeMap<String, String> = metadata
        .get("annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    let annotation = |key: &str| {
        annotations
            .get(&format!("io.kubewarden.policy.{key}"))
            .cloned()
            .unwrap_or_else(|| "-".to_owned())
    };
    let context_aware = match metadata
        .get("contextAwareResources")
        .and_then(Value::as_array)
    {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|r| format!("{}/{}", field_text(r, "apiVersion"), field_text(r, "kind")))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "no".to_owned(),
    };

    let mut out = String::new();
    out.push_str("Details\n");
    let rows = [
        ("title", annotation("title")),
        ("version", annotation("version")),
        ("description", annotation("description")),
        ("author", annotation("author")),
        ("url", annotation("url")),
        ("source", annotation("source")),
        ("license", annotation("license")),
        ("mutating", field_text(metadata, "mutating")),
        ("background audit", field_text(metadata, "backgroundAudit")),
        ("context aware resources", context_aware),
        ("execution mode", field_text(metadata, "executionMode")),
        ("policy type", field_text(metadata, "policyType")),
        ("protocol version", field_text(metadata, "protocolVersion")),
        (
            "minimum kubewarden version",
            field_text(metadata, "minimumKubewardenVersion"),
        ),
        (
            "module",
            format!("{} ({} bytes)", sha256_digest(module), module.len()),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "{:<28}{value}", format!("{name}:"));
    }
    if sections > 1 {
        let _ = writeln!(
            out,
            "warning: {sections} {METADATA_SECTION} sections; Kubewarden reads the first one (shown)"
        );
    }

    out.push_str("\nAnnotations\n");
    let shown: Vec<_> = annotations
        .iter()
        .filter(|(k, _)| k.as_str() != USAGE_ANNOTATION)
        .collect();
    if shown.is_empty() {
        out.push_str("(none)\n");
    }
    for (key, value) in shown {
        let _ = writeln!(out, "{key:<44} {value}");
    }

    out.push_str("\nRules\n");
    let rules = metadata.get("rules").cloned().unwrap_or(Value::Null);
    out.push_str(&serde_yaml::to_string(&rules).context("cannot render the rules")?);

    if let Some(usage) = annotations.get(USAGE_ANNOTATION) {
        out.push_str("\nUsage\n");
        out.push_str(usage);
        if !usage.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const YAML: &str = r#"
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE", "UPDATE"]
mutating: true
contextAware: false
annotations:
  io.kubewarden.policy.title: demo
  io.kubewarden.policy.version: 0.1.0
"#;

    /// Smallest valid module: header only.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn builds_kwctl_shaped_metadata() {
        let m = build_metadata(YAML, Some("# usage\n"), "v1").expect("valid");
        assert_eq!(
            m,
            json!({
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                           "operations": ["CREATE", "UPDATE"]}],
                "mutating": true,
                "contextAware": false,
                "backgroundAudit": true,
                "executionMode": "kubewarden-wapc",
                "policyType": "kubernetes",
                "contextAwareResources": [],
                "protocolVersion": "v1",
                "annotations": {
                    "io.kubewarden.policy.title": "demo",
                    "io.kubewarden.policy.version": "0.1.0",
                    "io.kubewarden.policy.usage": "# usage\n"
                }
            })
        );
    }

    #[test]
    fn rejects_what_policy_evaluator_rejects() {
        for bad in [
            "mutating: true",
            "rules: []",
            "rules: [{apiGroups: [''], apiVersions: [v1], resources: [pods], operations: [CREATE]}]",
            "rules: [{apiGroups: [], apiVersions: [v1], resources: [pods], operations: [CREATE]}]\nmutating: false",
            "rules: [{apiGroups: ['', '*'], apiVersions: [v1], resources: [pods], operations: [CREATE]}]\nmutating: false",
            "rules: [{apiGroups: [''], apiVersions: [v1], resources: [pods], operations: [PATCH]}]\nmutating: false",
            "rules: []\nmutating: yes-please",
            "rules: []\nmutating: false\nexecutionMode: docker",
            "rules: []\nmutating: false\nannotations: {a: 1.5}",
            "rules: []\nmutating: false\nminimumKubewardenVersion: one",
            "- a list",
        ] {
            assert!(build_metadata(bad, None, "v1").is_err(), "{bad}");
        }
        assert!(build_metadata("rules: []\nmutating: false", None, "v1").is_ok());
    }

    #[test]
    fn replaces_the_section_instead_of_duplicating_it() {
        let once = replace_custom_section(EMPTY_MODULE, METADATA_SECTION, b"{\"a\":1}").unwrap();
        let twice = replace_custom_section(&once, METADATA_SECTION, b"{\"a\":2}").unwrap();
        assert_eq!(
            custom_sections(&twice, METADATA_SECTION).unwrap(),
            vec![&b"{\"a\":2}"[..]]
        );
        assert_eq!(read_metadata(&twice).unwrap(), Some(json!({"a": 2})));
        // Same section content: same bytes.
        let again = replace_custom_section(&twice, METADATA_SECTION, b"{\"a\":2}").unwrap();
        assert_eq!(again, twice);
        assert_eq!(read_metadata(EMPTY_MODULE).unwrap(), None);
    }

    #[test]
    fn keeps_other_sections_byte_for_byte() {
        let original = wat::parse_str(
            r#"(module
                 (memory (export "memory") 1)
                 (func (export "f") (result i32) i32.const 7)
                 (data (i32.const 0) "hello"))"#,
        )
        .unwrap();
        let with_other = replace_custom_section(&original, "other", b"keep me").unwrap();
        let annotated = replace_custom_section(&with_other, METADATA_SECTION, b"{}").unwrap();
        // The annotated module is the input followed by the new section.
        assert!(annotated.starts_with(&with_other));
        assert_eq!(
            custom_sections(&annotated, "other").unwrap(),
            vec![&b"keep me"[..]]
        );
        wasmparser::validate(&annotated).expect("still a valid module");
    }

    #[test]
    fn rejects_what_is_not_a_module() {
        assert!(replace_custom_section(b"not wasm", METADATA_SECTION, b"{}").is_err());
        assert!(read_metadata(b"\0asm\x0d\0\x01\0").is_err(), "component");
    }
}
