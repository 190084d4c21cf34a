//! Kubewarden policy manifests (`ClusterAdmissionPolicy`, `AdmissionPolicy`,
//! `policies.kubewarden.io/v1`): the settings, the module, the namespace and
//! the rules the API server uses to decide which requests reach the policy.
//!
//! The spec is checked against the CRD's fields (unknown ones are errors, so
//! a typo such as `setings:` cannot leave the policy with empty settings);
//! `metadata` is only read for `name` and `namespace`.
//!
//! The parts: `rules.rs` (request routing), `fields.rs` (the CRD field
//! checks), `location.rs` (where `spec.module` points).

mod fields;
mod location;
mod rules;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use crate::host::response::AdmissionResponse;
use crate::suite::yaml::read_documents;

use fields::Fields;
pub use location::{manifest_dir, module_location, ModuleLocation};
pub use rules::{PolicyKind, RequestTarget, Rule};

/// A parsed policy manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyManifest {
    /// The file it was read from.
    pub file: PathBuf,
    /// Which document of the file (0-based).
    pub document: usize,
    /// Its kind.
    pub kind: PolicyKind,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (an AdmissionPolicy's scope).
    pub namespace: Option<String>,
    /// `spec.module`, as written.
    pub module: Option<String>,
    /// `spec.settings` (`{}` when absent).
    pub settings: Value,
    /// `spec.mutating`.
    pub mutating: Option<bool>,
    /// `spec.mode` (`protect` or `monitor`).
    pub mode: Option<String>,
    /// `spec.rules`; `None` when absent (then every request is sent).
    pub rules: Option<Vec<Rule>>,
}

impl PolicyManifest {
    /// Reads the policy of `file`: the only ClusterAdmissionPolicy or
    /// AdmissionPolicy document of it, or the one named `name`. Other kinds
    /// of documents (a Namespace, a PolicyServer…) are skipped, and a
    /// `List` is looked into.
    ///
    /// # Errors
    /// An unreadable file, no policy or several without `name`, or an
    /// invalid policy, each naming the file, the document and the field.
    pub fn from_file(file: &Path, name: Option<&str>) -> Result<Self> {
        let documents = read_documents(file, "policy manifest")?;
        let mut candidates: Vec<(usize, Map<String, Value>)> = Vec::new();
        for (index, document) in documents.into_iter().enumerate() {
            collect_policies(index, document, &mut candidates);
        }
        let names: Vec<String> = candidates
            .iter()
            .map(|(_, d)| metadata_name(d).unwrap_or("<no name>").to_owned())
            .collect();
        let chosen = match name {
            Some(wanted) => candidates
                .into_iter()
                .find(|(_, d)| metadata_name(d) == Some(wanted)),
            None if candidates.len() > 1 => bail!(
                "{}: holds {} policies ({}); name the one to test (policyName)",
                file.display(),
                names.len(),
                names.join(", ")
            ),
            None => candidates.into_iter().next(),
        };
        let Some((index, document)) = chosen else {
            match name {
                Some(wanted) => bail!(
                    "{}: no ClusterAdmissionPolicy or AdmissionPolicy named {wanted:?} (found: {})",
                    file.display(),
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
                None => bail!(
                    "{}: no ClusterAdmissionPolicy or AdmissionPolicy document",
                    file.display()
                ),
            }
        };
        Self::from_document(file, index, document)
    }

    fn from_document(file: &Path, index: usize, document: Map<String, Value>) -> Result<Self> {
        let kind_text = document
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(kind) = PolicyKind::parse(&kind_text) else {
            bail!("{}: document {index}: not a policy", file.display());
        };
        let name = metadata_name(&document).map(str::to_owned);
        let at = Fields(format!(
            "{}: document {index} ({kind} {})",
            file.display(),
            name.as_deref().unwrap_or("<no name>")
        ));
        at.check_top_level(&document)?;
        let Some(name) = name else {
            return Err(at.fail("metadata.name", "missing".to_owned()));
        };
        let namespace = at.namespace(kind, &document)?;
        let spec = at.spec(kind, &document)?;
        let module = at.module(&spec)?;
        let settings = at.settings(&spec)?;
        let mutating = at.mutating(&spec)?;
        let mode = at.mode(&spec)?;
        let rules = at.rules(&spec)?;
        Ok(Self {
            file: file.to_owned(),
            document: index,
            kind,
            name,
            namespace,
            module,
            settings,
            mutating,
            mode,
            rules,
        })
    }

    /// Why the API server would *not* send `request` to this policy (its
    /// rules match nothing of it, or an AdmissionPolicy of another
    /// namespace); `None` when it would.
    #[must_use]
    pub fn skip_reason(&self, request: &Value) -> Option<String> {
        let target = RequestTarget::of(request);
        if let (PolicyKind::AdmissionPolicy, Some(ns)) = (self.kind, &self.namespace) {
            if target.namespace != ns {
                return Some(format!(
                    "AdmissionPolicy {} governs namespace {ns} only, the request is in {:?}",
                    self.name, target.namespace
                ));
            }
        }
        match &self.rules {
            Some(rules) if !rules.iter().any(|r| r.matches(&target)) => {
                Some(format!("no rule of spec.rules matches {target}"))
            }
            _ => None,
        }
    }

    /// The policy's key in policy-server's `policies.yml`, which
    /// policy-server names in its messages: what the Kubewarden controller
    /// (1.31) writes, `clusterwide-NAME` or `namespaced-NAMESPACE-NAME`.
    #[must_use]
    pub fn policy_server_id(&self) -> String {
        match (self.kind, &self.namespace) {
            (PolicyKind::AdmissionPolicy, Some(ns)) => format!("namespaced-{ns}-{}", self.name),
            _ => format!("clusterwide-{}", self.name),
        }
    }

    /// `spec.mutating`; a manifest without it is not mutating (the CRD's
    /// field is a plain `bool`: Go's zero value, `false`).
    #[must_use]
    pub fn allowed_to_mutate(&self) -> bool {
        self.mutating.unwrap_or(false)
    }

    /// What policy-server does with `response` before answering the API
    /// server: in `protect` mode (the default), a patch from a policy that
    /// is not allowed to mutate rejects the request
    /// ([`AdmissionResponse::refuse_mutation`]). Returns the response to
    /// check, and when it was refused, how to fix the manifest (for the
    /// user, not part of policy-server's answer). `monitor` mode is left
    /// alone: policy-server does not apply this check there.
    #[must_use]
    pub fn apply_policy_server(
        &self,
        response: AdmissionResponse,
    ) -> (AdmissionResponse, Option<String>) {
        if self.allowed_to_mutate() || self.mode.as_deref() == Some("monitor") {
            return (response, None);
        }
        match response.refuse_mutation(&self.policy_server_id()) {
            Some(refused) => (refused, Some(self.mutation_fix())),
            None => (response, None),
        }
    }

    /// How to fix a manifest whose non-mutating policy returned a patch.
    #[must_use]
    pub fn mutation_fix(&self) -> String {
        let mutating = match self.mutating {
            Some(false) => "spec.mutating: false",
            _ => "no spec.mutating (false)",
        };
        format!(
            "{} has {mutating}, so policy-server refuses the patch the policy returned \
             (with resolveTags or the registry source it pins tag images to their \
             verified digest). Fix: set spec.mutating: true in the manifest, or set \
             spec.settings.mutateToDigest: false (tags are still resolved and checked, \
             nothing is patched), or reference the workload's images by digest",
            self.describe()
        )
    }

    /// `<file> (<kind> <name>)`, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{} ({} {})", self.file.display(), self.kind, self.name)
    }
}

fn metadata_name(document: &Map<String, Value>) -> Option<&str> {
    document
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
}

fn collect_policies(index: usize, document: Value, out: &mut Vec<(usize, Map<String, Value>)>) {
    let Value::Object(map) = document else {
        return;
    };
    match map.get("kind").and_then(Value::as_str) {
        Some(kind) if PolicyKind::parse(kind).is_some() => out.push((index, map)),
        Some(kind) if kind.ends_with("List") => {
            if let Some(Value::Array(items)) = map.get("items") {
                for item in items {
                    collect_policies(index, item.clone(), out);
                }
            }
        }
        _ => {}
    }
}

/// Reads a policy manifest; see [`PolicyManifest::from_file`].
///
/// # Errors
/// As [`PolicyManifest::from_file`].
pub fn read_manifest(file: &Path, name: Option<&str>) -> Result<PolicyManifest> {
    PolicyManifest::from_file(file, name)
        .with_context(|| format!("invalid policy manifest {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "manifest-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).expect("dir");
            Self(dir)
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write");
            path
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const CLUSTER: &str = "apiVersion: policies.kubewarden.io/v1
kind: ClusterAdmissionPolicy
metadata:
  name: attestations
spec:
  module: registry://ghcr.io/org/policy:v1
  mode: protect
  mutating: false
  namespaceSelector: {}
  rules:
    - apiGroups: [\"\"]
      apiVersions: [v1]
      resources: [pods, pods/ephemeralcontainers]
      operations: [CREATE, UPDATE]
    - apiGroups: [apps]
      apiVersions: [v1]
      resources: [\"*\"]
      operations: [\"*\"]
  settings:
    attestationAuthorities: [{name: a}]
";

    const NAMESPACED: &str = "apiVersion: policies.kubewarden.io/v1
kind: AdmissionPolicy
metadata:
  name: prod-tight
  namespace: prod
spec:
  module: file://../policy.wasm
  rules:
    - apiGroups: [\"*\"]
      apiVersions: [\"*\"]
      resources: [\"*/*\"]
      operations: [CREATE]
  settings: {resolveTags: true}
";

    fn request(group: &str, resource: &str, sub: &str, op: &str, ns: &str) -> Value {
        let mut r = json!({"resource": {"group": group, "version": "v1", "resource": resource},
                           "operation": op, "namespace": ns});
        if !sub.is_empty() {
            r["subResource"] = json!(sub);
        }
        r
    }

    #[test]
    fn cluster_admission_policy() {
        let dir = Dir::new("cluster");
        let m = PolicyManifest::from_file(&dir.write("p.yaml", CLUSTER), None).expect("valid");
        assert_eq!(m.kind, PolicyKind::ClusterAdmissionPolicy);
        assert_eq!(m.name, "attestations");
        assert_eq!(m.namespace, None);
        assert_eq!(
            m.module.as_deref(),
            Some("registry://ghcr.io/org/policy:v1")
        );
        assert_eq!(
            m.settings,
            json!({"attestationAuthorities": [{"name": "a"}]})
        );
        assert_eq!(m.mutating, Some(false));
        assert_eq!(m.rules.as_ref().map(Vec::len), Some(2));
        assert_eq!(m.skip_reason(&request("", "pods", "", "CREATE", "x")), None);
        assert_eq!(
            m.skip_reason(&request("", "pods", "ephemeralcontainers", "UPDATE", "x")),
            None
        );
        assert_eq!(
            m.skip_reason(&request("apps", "deployments", "", "DELETE", "x")),
            None
        );
        assert_eq!(
            m.skip_reason(&request("", "pods", "", "DELETE", "x"))
                .as_deref(),
            Some("no rule of spec.rules matches DELETE core/v1 pods")
        );
        assert!(m
            .skip_reason(&request("", "pods", "status", "UPDATE", "x"))
            .is_some());
        assert!(m
            .skip_reason(&request("apps", "deployments", "scale", "UPDATE", "x"))
            .is_some());
    }

    #[test]
    fn admission_policy_governs_its_namespace_only() {
        let dir = Dir::new("namespaced");
        let m = PolicyManifest::from_file(&dir.write("p.yaml", NAMESPACED), None).expect("valid");
        assert_eq!(m.kind, PolicyKind::AdmissionPolicy);
        assert_eq!(m.namespace.as_deref(), Some("prod"));
        assert_eq!(
            m.skip_reason(&request("batch", "jobs", "", "CREATE", "prod")),
            None
        );
        assert_eq!(
            m.skip_reason(&request(
                "",
                "pods",
                "ephemeralcontainers",
                "CREATE",
                "prod"
            )),
            None
        );
        assert!(m
            .skip_reason(&request("batch", "jobs", "", "CREATE", "dev"))
            .is_some_and(|r| r.contains("governs namespace prod only")));
        assert_eq!(
            module_location(m.module.as_deref().unwrap_or_default(), &dir.0).expect("file"),
            ModuleLocation::File(dir.0.join("../policy.wasm"))
        );
    }

    #[test]
    fn multi_document_files_and_lists() {
        let dir = Dir::new("multi");
        let text = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: prod}}\n---\n{CLUSTER}---\n{NAMESPACED}---\n"
        );
        let file = dir.write("all.yaml", &text);
        let e = PolicyManifest::from_file(&file, None).expect_err("two policies");
        assert!(
            e.to_string()
                .contains("holds 2 policies (attestations, prod-tight)"),
            "{e}"
        );
        let m = PolicyManifest::from_file(&file, Some("prod-tight")).expect("named");
        assert_eq!(m.document, 2);
        assert_eq!(m.kind, PolicyKind::AdmissionPolicy);
        let e = PolicyManifest::from_file(&file, Some("nope")).expect_err("missing");
        assert!(
            e.to_string()
                .contains("no ClusterAdmissionPolicy or AdmissionPolicy named \"nope\""),
            "{e}"
        );

        let list = dir.write(
            "list.json",
            &json!({"apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "policies.kubewarden.io/v1", "kind": "ClusterAdmissionPolicy",
                 "metadata": {"name": "l"}, "spec": {"module": "ghcr.io/o/p:1"}}]})
            .to_string(),
        );
        let m = PolicyManifest::from_file(&list, None).expect("list");
        assert_eq!(m.name, "l");
        assert_eq!(m.settings, json!({}));
        assert_eq!(
            module_location("ghcr.io/o/p:1", &dir.0).expect("registry"),
            ModuleLocation::Registry("registry://ghcr.io/o/p:1".to_owned())
        );
        assert!(module_location("https://example.com/p.wasm", &dir.0).is_err());
        let none = dir.write("none.yaml", "apiVersion: v1\nkind: ConfigMap\n");
        assert!(PolicyManifest::from_file(&none, None)
            .expect_err("no policy")
            .to_string()
            .contains("no ClusterAdmissionPolicy or AdmissionPolicy document"));
    }

    #[test]
    fn unknown_and_invalid_fields_name_file_document_and_path() {
        let dir = Dir::new("invalid");
        for (text, needle) in [
            (
                CLUSTER.replace("  settings:", "  setings:"),
                "document 0 (ClusterAdmissionPolicy attestations): spec.setings: unknown field of a ClusterAdmissionPolicy",
            ),
            (
                NAMESPACED.replace("  rules:", "  namespaceSelector: {}\n  rules:"),
                "spec.namespaceSelector: unknown field of a AdmissionPolicy",
            ),
            (
                CLUSTER.replace("      operations: [CREATE, UPDATE]", "      operation: [CREATE]"),
                "spec.rules[0]: unknown field `operation`",
            ),
            (
                CLUSTER.replace("mode: protect", "mode: audit"),
                "spec.mode: expected protect or monitor",
            ),
            (
                CLUSTER.replace("policies.kubewarden.io/v1", "policies.kubewarden.io/v2"),
                "apiVersion: \"policies.kubewarden.io/v2\" is not",
            ),
            (
                NAMESPACED.replace("  namespace: prod\n", ""),
                "metadata.namespace: an AdmissionPolicy is namespaced",
            ),
            (
                CLUSTER.replace(
                    "  settings:\n    attestationAuthorities: [{name: a}]\n",
                    "  settings: [1]\n",
                ),
                "spec.settings: expected a mapping",
            ),
            (format!("{CLUSTER}extra: 1\n"), "extra: unknown field"),
        ] {
            let file = dir.write("p.yaml", &text);
            let e = PolicyManifest::from_file(&file, None).expect_err(needle);
            let msg = format!("{e:#}");
            assert!(msg.contains(needle), "{needle}\n{msg}");
            assert!(msg.contains("p.yaml"), "{msg}");
        }
    }
}
