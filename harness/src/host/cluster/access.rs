//! Resource types and which of them a policy may read.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Kubewarden's `contextAwareResources` name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceType {
    /// e.g. `kritis.grafeas.io/v1beta1`.
    pub api_version: String,
    /// e.g. `GenericAttestationPolicy`.
    pub kind: String,
}

impl ResourceType {
    /// A type from its two names.
    #[must_use]
    pub fn new(api_version: &str, kind: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.api_version, self.kind)
    }
}

/// Which resource types a policy may read: policy-evaluator's
/// `ctx_aware_resources_allow_list`.
///
/// Filled as Kubewarden fills it: policy-server takes a
/// ClusterAdmissionPolicy's `spec.contextAwareResources` (an
/// AdmissionPolicy has none: namespaced policies cannot read cluster
/// resources); `kwctl run --allow-context-aware` takes the module's own
/// metadata (`contextAwareResources`, embedded by `kwctl annotate`), and
/// without the flag grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextAwareAccess {
    allowed: BTreeSet<ResourceType>,
}

impl ContextAwareAccess {
    /// No access at all.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Access to exactly these types.
    #[must_use]
    pub fn to_types(types: impl IntoIterator<Item = ResourceType>) -> Self {
        Self {
            allowed: types.into_iter().collect(),
        }
    }

    /// A `contextAwareResources` list (`[{apiVersion, kind}]`), from a
    /// module's metadata or a ClusterAdmissionPolicy's spec; `null` or
    /// absent is none.
    ///
    /// # Errors
    /// A value that is not such a list, naming the entry.
    pub fn from_list(value: Option<&Value>) -> Result<Self> {
        let entries = match value {
            None | Some(Value::Null) => return Ok(Self::none()),
            Some(Value::Array(entries)) => entries,
            Some(other) => bail!("contextAwareResources: expected a list, found {other}"),
        };
        let mut allowed = BTreeSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let field = |name: &str| -> Result<String> {
                match entry.get(name) {
                    Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                    _ => bail!("contextAwareResources[{i}].{name}: a non-empty string is required"),
                }
            };
            allowed.insert(ResourceType {
                api_version: field("apiVersion")?,
                kind: field("kind")?,
            });
        }
        Ok(Self { allowed })
    }

    /// What a policy manifest grants: a ClusterAdmissionPolicy its
    /// `spec.contextAwareResources`, an AdmissionPolicy nothing. The
    /// document is found again in `file` by kind, name and namespace.
    ///
    /// # Errors
    /// An unreadable manifest, or a malformed `contextAwareResources`.
    pub fn from_manifest(manifest: &crate::suite::manifest::PolicyManifest) -> Result<Self> {
        use crate::suite::manifest::PolicyKind;
        if manifest.kind == PolicyKind::AdmissionPolicy {
            return Ok(Self::none());
        }
        let documents = crate::suite::yaml::read_documents(&manifest.file, "policy manifest")?;
        let mut found = None;
        for document in &documents {
            find_policy(
                document,
                "ClusterAdmissionPolicy",
                &manifest.name,
                &mut found,
            );
        }
        let spec = found.and_then(|d| d.get("spec"));
        Self::from_list(spec.and_then(|s| s.get("contextAwareResources")))
            .with_context(|| format!("{}: spec", manifest.describe()))
    }

    /// `true` when `api_version`/`kind` may be read.
    #[must_use]
    pub fn allows(&self, api_version: &str, kind: &str) -> bool {
        self.allowed.contains(&ResourceType::new(api_version, kind))
    }

    /// The types granted, in order.
    pub fn types(&self) -> impl Iterator<Item = &ResourceType> {
        self.allowed.iter()
    }

    /// `true` when nothing is granted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }
}

fn find_policy<'a>(document: &'a Value, kind: &str, name: &str, found: &mut Option<&'a Value>) {
    if found.is_some() {
        return;
    }
    match document.get("kind").and_then(Value::as_str) {
        Some(k)
            if k == kind
                && document.pointer("/metadata/name").and_then(Value::as_str) == Some(name) =>
        {
            *found = Some(document);
        }
        Some(k) if k.ends_with("List") => {
            if let Some(Value::Array(items)) = document.get("items") {
                for item in items {
                    find_policy(item, kind, name, found);
                }
            }
        }
        _ => {}
    }
}

/// policy-evaluator's answer to a read of a type the policy was not
/// granted (the same words, so a policy quoting host errors says the same
/// under both hosts).
#[must_use]
pub fn access_denied(api_version: &str, kind: &str) -> String {
    format!(
        "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. \
         The violation has been reported."
    )
}

/// What `run` grants, and the notes to print about it: with `--policy`,
/// what policy-server grants that manifest ([`ContextAwareAccess::from_manifest`]);
/// otherwise what `kwctl run` grants, the module's own
/// `contextAwareResources` with `--allow-context-aware` and nothing
/// without (with kwctl's warning when the module asks for resources).
///
/// # Errors
/// An unreadable manifest or module, or malformed `contextAwareResources`.
pub fn run_access(
    manifest: Option<&crate::suite::manifest::PolicyManifest>,
    allow_context_aware: bool,
    module: &Path,
    registry: &crate::oci::registry::RegistryOptions,
) -> Result<(ContextAwareAccess, Vec<String>)> {
    use crate::oci::registry::{is_registry_reference, read_module};
    let mut notes = Vec::new();
    if let Some(manifest) = manifest {
        let access = ContextAwareAccess::from_manifest(manifest)?;
        if manifest.kind == crate::suite::manifest::PolicyKind::AdmissionPolicy {
            notes.push(format!(
                "{} is an AdmissionPolicy: namespaced policies cannot read cluster resources \
                 (only a ClusterAdmissionPolicy has spec.contextAwareResources), so every \
                 Kubernetes read is refused, as policy-server refuses it",
                manifest.describe()
            ));
        } else if access.is_empty() {
            notes.push(format!(
                "{} grants no Kubernetes resource (no spec.contextAwareResources): every \
                 Kubernetes read is refused, as policy-server refuses it",
                manifest.describe()
            ));
        }
        return Ok((access, notes));
    }
    let remote = is_registry_reference(module);
    if remote && !allow_context_aware {
        return Ok((ContextAwareAccess::none(), notes));
    }
    let bytes = if remote {
        read_module(module, registry)?
    } else {
        let local = module
            .to_str()
            .and_then(|s| s.strip_prefix("file://"))
            .map_or(module, Path::new);
        std::fs::read(local)
            .with_context(|| format!("cannot read policy module {}", local.display()))?
    };
    let metadata = crate::oci::metadata::read_metadata(&bytes)?;
    let listed = match &metadata {
        Some(m) => ContextAwareAccess::from_list(m.get("contextAwareResources"))
            .context("the module's metadata")?,
        None => ContextAwareAccess::none(),
    };
    if allow_context_aware {
        if metadata.is_none() {
            notes.push(
                "the module is not annotated (kwctl annotate, policy-harness annotate): as \
                 kwctl, no Kubernetes resource is granted"
                    .to_owned(),
            );
        }
        return Ok((listed, notes));
    }
    if !listed.is_empty() {
        notes.push(
            "Policy requires access to Kubernetes resources at evaluation time. During this \
             execution the access to Kubernetes resources is denied (give \
             --allow-context-aware, as kwctl, or --policy with a ClusterAdmissionPolicy's \
             spec.contextAwareResources, as policy-server)"
                .to_owned(),
        );
    }
    Ok((ContextAwareAccess::none(), notes))
}
