//! Kubewarden policy manifests (`ClusterAdmissionPolicy`, `AdmissionPolicy`,
//! `policies.kubewarden.io/v1`): the settings, the module, the namespace and
//! the rules the API server uses to decide which requests reach the policy.
//!
//! The spec is checked against the CRD's fields (unknown ones are errors, so
//! a typo such as `setings:` cannot leave the policy with empty settings);
//! `metadata` is only read for `name` and `namespace`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::host::response::AdmissionResponse;
use crate::suite::yaml::read_documents;

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

/// Which kind of policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Cluster-wide.
    ClusterAdmissionPolicy,
    /// Namespaced: applies only to requests in its own namespace.
    AdmissionPolicy,
}

impl PolicyKind {
    fn parse(kind: &str) -> Option<Self> {
        match kind {
            "ClusterAdmissionPolicy" => Some(Self::ClusterAdmissionPolicy),
            "AdmissionPolicy" => Some(Self::AdmissionPolicy),
            _ => None,
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClusterAdmissionPolicy => "ClusterAdmissionPolicy",
            Self::AdmissionPolicy => "AdmissionPolicy",
        })
    }
}

/// A `RuleWithOperations` of the webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// `""` is the core group; `*` all.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// `*` all.
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// `pods`, `pods/ephemeralcontainers`, `*`, `*/*`, `pods/*`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`, `*`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// `Cluster`, `Namespaced`, `*` (default).
    #[serde(default)]
    pub scope: Option<String>,
}

impl Rule {
    /// The API server's matching (`rules.Matcher`): group, version,
    /// operation, then resource and subresource (`res/sub`, `*` wildcards).
    #[must_use]
    pub fn matches(&self, request: &RequestTarget<'_>) -> bool {
        let any_or = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        let scope_ok = match self.scope.as_deref() {
            Some("Cluster") => request.namespace.is_empty(),
            Some("Namespaced") => !request.namespace.is_empty(),
            _ => true,
        };
        scope_ok
            && any_or(&self.api_groups, request.group)
            && any_or(&self.api_versions, request.version)
            && any_or(&self.operations, request.operation)
            && self.resources.iter().any(|r| {
                let (res, sub) = r.split_once('/').unwrap_or((r, ""));
                (res == "*" || res == request.resource)
                    && (sub == "*" || sub == request.sub_resource)
            })
    }
}

/// What rules are matched against, read from an AdmissionRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    /// API version.
    pub version: &'a str,
    /// Resource (plural).
    pub resource: &'a str,
    /// Subresource, `""` when none.
    pub sub_resource: &'a str,
    /// Operation.
    pub operation: &'a str,
    /// Namespace, `""` when none.
    pub namespace: &'a str,
}

impl<'a> RequestTarget<'a> {
    /// Reads the fields of an AdmissionRequest (missing ones are `""`).
    #[must_use]
    pub fn of(request: &'a Value) -> Self {
        let s = |v: Option<&'a Value>| v.and_then(Value::as_str).unwrap_or_default();
        let resource = request.get("resource");
        Self {
            group: s(resource.and_then(|r| r.get("group"))),
            version: s(resource.and_then(|r| r.get("version"))),
            resource: s(resource.and_then(|r| r.get("resource"))),
            sub_resource: s(request.get("subResource")),
            operation: s(request.get("operation")),
            namespace: s(request.get("namespace")),
        }
    }
}

impl fmt::Display for RequestTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        write!(
            f,
            "{} {group}/{} {}",
            self.operation, self.version, self.resource
        )?;
        if !self.sub_resource.is_empty() {
            write!(f, "/{}", self.sub_resource)?;
        }
        Ok(())
    }
}

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

/// Reads the fields of one policy document; errors name the file, the
/// document and the field (`FILE: document N (KIND NAME)`).
struct Fields(String);

impl Fields {
    fn fail(&self, field: &str, message: String) -> anyhow::Error {
        anyhow::anyhow!("{}: {field}: {message}", self.0)
    }

    /// Only the known top-level fields, and a known `apiVersion`.
    fn check_top_level(&self, document: &Map<String, Value>) -> Result<()> {
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
    fn namespace(&self, kind: PolicyKind, document: &Map<String, Value>) -> Result<Option<String>> {
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
    fn spec(&self, kind: PolicyKind, document: &Map<String, Value>) -> Result<Map<String, Value>> {
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

    fn module(&self, spec: &Map<String, Value>) -> Result<Option<String>> {
        match spec.get("module") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(m)) if !m.is_empty() => Ok(Some(m.clone())),
            Some(other) => Err(self.fail(
                "spec.module",
                format!("expected a non-empty string, found {other}"),
            )),
        }
    }

    fn settings(&self, spec: &Map<String, Value>) -> Result<Value> {
        match spec.get("settings") {
            None | Some(Value::Null) => Ok(Value::Object(Map::new())),
            Some(settings @ Value::Object(_)) => Ok(settings.clone()),
            Some(other) => Err(self.fail(
                "spec.settings",
                format!("expected a mapping, found {other}"),
            )),
        }
    }

    fn mutating(&self, spec: &Map<String, Value>) -> Result<Option<bool>> {
        match spec.get("mutating") {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.fail(
                "spec.mutating",
                format!("expected true or false, found {other}"),
            )),
        }
    }

    fn mode(&self, spec: &Map<String, Value>) -> Result<Option<String>> {
        match spec.get("mode") {
            None => Ok(None),
            Some(Value::String(m)) if m == "protect" || m == "monitor" => Ok(Some(m.clone())),
            Some(other) => Err(self.fail(
                "spec.mode",
                format!("expected protect or monitor, found {other}"),
            )),
        }
    }

    fn rules(&self, spec: &Map<String, Value>) -> Result<Option<Vec<Rule>>> {
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

/// Where a policy's `spec.module` points, for the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleLocation {
    /// `registry://…` (also a module written without a scheme, which
    /// Kubewarden treats as `registry://`).
    Registry(String),
    /// `file://PATH` (relative paths resolve against the manifest's folder).
    File(PathBuf),
}

/// Resolves `spec.module` as Kubewarden does: `registry://`, `file://`, or
/// no scheme (= `registry://`).
///
/// # Errors
/// `http://`/`https://` modules and other schemes, which the harness does
/// not fetch (test against a built module with `--module`).
pub fn module_location(module: &str, manifest_dir: &Path) -> Result<ModuleLocation> {
    if module.starts_with("registry://") {
        return Ok(ModuleLocation::Registry(module.to_owned()));
    }
    if let Some(path) = module.strip_prefix("file://") {
        let path = Path::new(path);
        return Ok(ModuleLocation::File(if path.is_absolute() {
            path.to_owned()
        } else {
            manifest_dir.join(path)
        }));
    }
    if let Some((scheme, _)) = module.split_once("://") {
        bail!(
            "spec.module {module:?}: {scheme}:// modules are not fetched by policy-harness; \
             pass --module FILE (or set module: in the suite)"
        );
    }
    Ok(ModuleLocation::Registry(format!("registry://{module}")))
}

/// The manifest's folder (for relative `file://` modules).
#[must_use]
pub fn manifest_dir(manifest: &PolicyManifest) -> PathBuf {
    manifest
        .file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
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
