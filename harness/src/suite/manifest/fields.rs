//! The `Fields` checker: a policy document against the CRD's fields (unknown
//! ones are errors); separate from the manifest type it fills in.

use anyhow::Result;
use serde_json::{Map, Value};

use super::rules::{PolicyKind, Rule};

/// Fields of `PolicySpec` (both kinds), policies.kubewarden.io/v1.
const POLICY_SPEC_FIELDS: &[&str] = &[
    "policyServer",
    "mode",
    "module",
    "settings",
    "rules",
    "failurePolicy",
    "mutating",
    "backgroundAudit",
    "matchPolicy",
    "matchConditions",
    "objectSelector",
    "sideEffects",
    "timeoutSeconds",
    "timeoutEvalSeconds",
    "message",
];

/// Fields only a `ClusterAdmissionPolicy` spec has.
const CLUSTER_SPEC_FIELDS: &[&str] = &[
    "namespaceSelector",
    "contextAwareResources",
    "allowInsideAdmissionControllerNamespace",
];

const TOP_LEVEL_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

const API_VERSIONS: &[&str] = &[
    "policies.kubewarden.io/v1",
    "policies.kubewarden.io/v1alpha2",
];

/// Reads the fields of one policy document; errors name the file, the
/// document and the field (`FILE: document N (KIND NAME)`).
pub(super) struct Fields(pub(super) String);

impl Fields {
    pub(super) fn fail(&self, field: &str, message: String) -> anyhow::Error {
        anyhow::anyhow!("{}: {field}: {message}", self.0)
    }

    /// Only the known top-level fields, and a known `apiVersion`.
    pub(super) fn check_top_level(&self, document: &Map<String, Value>) -> Result<()> {
        for key in document.keys() {
            if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
                return Err(self.fail(
                    key,
                    format!(
                        "unknown field, expected one of {}",
                        TOP_LEVEL_FIELDS.join(", ")
                    ),
                ));
            }
        }
        match document.get("apiVersion").and_then(Value::as_str) {
            Some(v) if API_VERSIONS.contains(&v) => Ok(()),
            Some(v) => Err(self.fail(
                "apiVersion",
                format!("{v:?} is not {}", API_VERSIONS.join(" or ")),
            )),
            None => Err(self.fail("apiVersion", "missing".to_owned())),
        }
    }

    /// `metadata.namespace`: required by an AdmissionPolicy, refused on a
    /// ClusterAdmissionPolicy.
    pub(super) fn namespace(
        &self,
        kind: PolicyKind,
        document: &Map<String, Value>,
    ) -> Result<Option<String>> {
        let namespace = match document.get("metadata").and_then(|m| m.get("namespace")) {
            None | Some(Value::Null) => None,
            Some(Value::String(ns)) if !ns.is_empty() => Some(ns.clone()),
            Some(other) => {
                return Err(self.fail(
                    "metadata.namespace",
                    format!("expected a non-empty string, found {other}"),
                ))
            }
        };
        match (kind, &namespace) {
            (PolicyKind::AdmissionPolicy, None) => Err(self.fail(
                "metadata.namespace",
                "an AdmissionPolicy is namespaced: set the namespace it governs".to_owned(),
            )),
            (PolicyKind::ClusterAdmissionPolicy, Some(_)) => Err(self.fail(
                "metadata.namespace",
                "a ClusterAdmissionPolicy is cluster-scoped: it has no namespace".to_owned(),
            )),
            _ => Ok(namespace),
        }
    }

    /// `spec`, a mapping of the fields the CRD of `kind` has.
    pub(super) fn spec(
        &self,
        kind: PolicyKind,
        document: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let spec = match document.get("spec") {
            Some(Value::Object(spec)) => spec.clone(),
            Some(other) => {
                return Err(self.fail("spec", format!("expected a mapping, found {other}")))
            }
            None => return Err(self.fail("spec", "missing".to_owned())),
        };
        for key in spec.keys() {
            let known = POLICY_SPEC_FIELDS.contains(&key.as_str())
                || (kind == PolicyKind::ClusterAdmissionPolicy
                    && CLUSTER_SPEC_FIELDS.contains(&key.as_str()));
            if !known {
                let mut expected: Vec<&str> = POLICY_SPEC_FIELDS.to_vec();
                if kind == PolicyKind::ClusterAdmissionPolicy {
                    expected.extend_from_slice(CLUSTER_SPEC_FIELDS);
                }
                return Err(self.fail(
                    &format!("spec.{key}"),
                    format!(
                        "unknown field of a {kind}, expected one of {}",
                        expected.join(", ")
                    ),
                ));
            }
        }
        Ok(spec)
    }

    pub(super) fn module(&self, spec: &Map<String, Value>) -> Result<Option<String>> {
        match spec.get("module") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(m)) if !m.is_empty() => Ok(Some(m.clone())),
            Some(other) => Err(self.fail(
                "spec.module",
                format!("expected a non-empty string, found {other}"),
            )),
        }
    }

    pub(super) fn settings(&self, spec: &Map<String, Value>) -> Result<Value> {
        match spec.get("settings") {
            None | Some(Value::Null) => Ok(Value::Object(Map::new())),
            Some(settings @ Value::Object(_)) => Ok(settings.clone()),
            Some(other) => Err(self.fail(
                "spec.settings",
                format!("expected a mapping, found {other}"),
            )),
        }
    }

    pub(super) fn mutating(&self, spec: &Map<String, Value>) -> Result<Option<bool>> {
        match spec.get("mutating") {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.fail(
                "spec.mutating",
                format!("expected true or false, found {other}"),
            )),
        }
    }

    pub(super) fn mode(&self, spec: &Map<String, Value>) -> Result<Option<String>> {
        match spec.get("mode") {
            None => Ok(None),
            Some(Value::String(m)) if m == "protect" || m == "monitor" => Ok(Some(m.clone())),
            Some(other) => Err(self.fail(
                "spec.mode",
                format!("expected protect or monitor, found {other}"),
            )),
        }
    }

    pub(super) fn rules(&self, spec: &Map<String, Value>) -> Result<Option<Vec<Rule>>> {
        match spec.get("rules") {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let mut rules = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let rule: Rule = serde_json::from_value(item.clone())
                        .map_err(|e| self.fail(&format!("spec.rules[{i}]"), e.to_string()))?;
                    rules.push(rule);
                }
                Ok(Some(rules))
            }
            Some(other) => Err(self.fail("spec.rules", format!("expected a list, found {other}"))),
        }
    }
}
