//! Kubernetes resources read from files, served to context-aware policies
//! as if they were the cluster (`run --cluster-resources`, a suite's
//! `clusterResources`).
//!
//! The three read calls of the Kubewarden SDK (0.17) are answered the way
//! policy-server / `kwctl run` answer them (policy-evaluator 0.30.4,
//! `src/runtimes/callback.rs` and `src/callback_handler/kubernetes/client.rs`):
//!
//! - `kubernetes`/`list_resources_by_namespace` `{api_version, kind,
//!   namespace, label_selector, field_selector, field_masks}`: the objects of
//!   that type in that namespace;
//! - `kubernetes`/`list_resources_all` (the same without `namespace`): the
//!   objects of that type in every namespace, or the cluster-scoped ones;
//! - `kubernetes`/`get_resource` `{api_version, kind, name, namespace,
//!   disable_cache, field_masks}`: one object.
//!
//! A list is a Kubernetes list, `{"apiVersion", "kind": "<Kind>List",
//! "metadata": {}, "items": [...]}` (kube's `ObjectList` as policy-evaluator
//! serialises it), each item the object as written in the files.
//! `field_masks` is ignored, as policy-evaluator 0.30.4 ignores it (its
//! request types have no such field): whole objects are returned.
//!
//! Access is gated first, as policy-evaluator gates it: a call for a type the
//! policy was not granted fails with policy-evaluator's text (see
//! [`ContextAwareAccess`]). Every other failure is a callback failure, with
//! policy-evaluator's `Callback evaluation failure: ` prefix and its words
//! (a namespaced list of a cluster-wide kind, an object not found, a type
//! the cluster does not know).
//!
//! The files are what `kubectl get -o yaml` prints (one object, `---`
//! documents, or a `List`), or what `kubectl apply` takes: a namespaced
//! object without `metadata.namespace` lands in `default`, as `kubectl
//! apply` puts it there; a cluster-scoped object's `metadata.namespace` is
//! dropped, as the API server drops it. The three kritis kinds are known
//! (their CRDs count as installed: an empty list is an answer, not an
//! error); any other kind is known when the files hold one, namespaced when
//! its objects carry a namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::host::capabilities::{LiveAnswer, LiveCapabilities, KUBEWARDEN_BINDING};
use crate::host::replay::CALLBACK_FAILURE_PREFIX;
use crate::suite::yaml::documents_from_str;

/// The waPC namespace of the Kubernetes capabilities.
pub const KUBERNETES: &str = "kubernetes";
/// Largest resource file read (a `kubectl get -o yaml` of thousands of
/// objects stays far below it).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most objects held: bounds memory and the size of every answer.
pub const MAX_OBJECTS: usize = 10_000;
/// Most files read under the given folders.
pub const MAX_FILES: usize = 1_000;

/// The group and version of the kritis resources.
const KRITIS_API_VERSION: &str = "kritis.grafeas.io/v1beta1";
/// The kritis kinds and their scope (`true`: namespaced), as their CRDs
/// declare them (ACK's AdmissionAllowlist is cluster-scoped).
const KRITIS_KINDS: [(&str, bool); 3] = [
    ("GenericAttestationPolicy", true),
    ("AttestationAuthority", true),
    ("AdmissionAllowlist", false),
];

/// A resource type: `apiVersion` and `kind`, as the SDK's requests and
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

/// One object of the cluster.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    namespace: Option<String>,
    name: String,
    labels: BTreeMap<String, String>,
    object: Value,
}

/// The objects of the resource files, by type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cluster {
    /// Per type: namespaced or not, and its objects sorted by namespace
    /// and name.
    types: BTreeMap<ResourceType, (bool, Vec<Stored>)>,
}

/// Where an object came from, for messages.
fn origin(source: &str, document: usize) -> String {
    format!("{source} (document {document})")
}

impl Cluster {
    /// A cluster holding only the kritis kinds' (empty) lists.
    #[must_use]
    pub fn empty() -> Self {
        let mut types = BTreeMap::new();
        for (kind, namespaced) in KRITIS_KINDS {
            types.insert(
                ResourceType::new(KRITIS_API_VERSION, kind),
                (namespaced, Vec::new()),
            );
        }
        Self { types }
    }

    /// Reads every resource file under `paths` (a file, or a folder
    /// searched for `.yaml`, `.yml` and `.json` files, hidden ones skipped),
    /// in name order.
    ///
    /// # Errors
    /// A path that does not exist, an unreadable or invalid file, an object
    /// without `apiVersion`, `kind` or `metadata.name`, the same object
    /// twice, or more than [`MAX_OBJECTS`] objects, naming the file.
    pub fn load(paths: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let before = files.len();
                collect_files(path, &mut files)?;
                if files.len() == before {
                    bail!(
                        "no resource file (.yaml, .yml, .json) under {}",
                        path.display()
                    );
                }
            } else if path.is_file() {
                files.push(path.clone());
            } else {
                bail!("cluster resources: {} does not exist", path.display());
            }
        }
        let mut documents = Vec::new();
        for file in &files {
            let size = std::fs::metadata(file)
                .with_context(|| format!("cannot read resource file {}", file.display()))?
                .len();
            if size > MAX_FILE_BYTES {
                bail!(
                    "resource file {} is {size} bytes, more than the {MAX_FILE_BYTES} read",
                    file.display()
                );
            }
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read resource file {}", file.display()))?;
            let parsed = documents_from_str(&text)
                .with_context(|| format!("invalid resource file {}", file.display()))?;
            for (index, document) in parsed.into_iter().enumerate() {
                documents.push((origin(&file.display().to_string(), index), document));
            }
        }
        Self::from_documents(documents)
    }

    /// Builds the cluster from parsed documents (`(where, document)`).
    ///
    /// # Errors
    /// As [`Cluster::load`].
    pub fn from_documents(documents: Vec<(String, Value)>) -> Result<Self> {
        let mut cluster = Self::empty();
        let mut sources: BTreeMap<(ResourceType, Option<String>, String), String> = BTreeMap::new();
        let mut count = 0usize;
        for (source, document) in documents {
            let mut objects = Vec::new();
            flatten(document, &source, &mut objects)?;
            for object in objects {
                count += 1;
                if count > MAX_OBJECTS {
                    bail!("more than {MAX_OBJECTS} objects in the cluster resources");
                }
                let (rt, stored) = cluster.admit(object, &source)?;
                let key = (rt.clone(), stored.namespace.clone(), stored.name.clone());
                if let Some(first) = sources.get(&key) {
                    bail!(
                        "{source}: {rt} {} is already defined in {first}",
                        qualified(stored.namespace.as_deref(), &stored.name)
                    );
                }
                sources.insert(key, source.clone());
                if let Some((_, list)) = cluster.types.get_mut(&rt) {
                    list.push(stored);
                }
            }
        }
        for (_, list) in cluster.types.values_mut() {
            list.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        }
        Ok(cluster)
    }

    /// Checks one object, settles its namespace and its type's scope.
    fn admit(&mut self, mut object: Value, source: &str) -> Result<(ResourceType, Stored)> {
        let text = |pointer: &str| -> Option<String> {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (Some(api_version), Some(kind)) = (text("/apiVersion"), text("/kind")) else {
            bail!("{source}: an object needs `apiVersion` and `kind`");
        };
        let rt = ResourceType::new(&api_version, &kind);
        let Some(name) = text("/metadata/name") else {
            bail!("{source}: {rt} without metadata.name");
        };
        let written = text("/metadata/namespace");
        let namespaced = match self.types.get(&rt) {
            Some((namespaced, _)) => *namespaced,
            None => written.is_some(),
        };
        if !self.types.contains_key(&rt) {
            self.types.insert(rt.clone(), (namespaced, Vec::new()));
        } else if !is_kritis(&rt) {
            let has_objects = self.types.get(&rt).is_some_and(|(_, l)| !l.is_empty());
            if has_objects && namespaced != written.is_some() {
                bail!(
                    "{source}: {rt} {name}: some objects of this kind have a namespace and some \
                     do not; write metadata.namespace on every namespaced object"
                );
            }
        }
        let namespace = if namespaced {
            Some(written.unwrap_or_else(|| "default".to_owned()))
        } else {
            None
        };
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            bail!("{source}: {rt} {name}: metadata is not a mapping");
        };
        match &namespace {
            Some(ns) => {
                metadata.insert("namespace".to_owned(), Value::String(ns.clone()));
            }
            None => {
                metadata.remove("namespace");
            }
        }
        let labels = match metadata.get("labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(anyhow!(
                        "{source}: {rt} {name}: metadata.labels.{k} is {other}, not a string"
                    )),
                })
                .collect::<Result<_>>()?,
            Some(other) => bail!("{source}: {rt} {name}: metadata.labels is {other}"),
        };
        Ok((
            rt,
            Stored {
                namespace,
                name,
                labels,
                object,
            },
        ))
    }

    /// How many objects it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.types.values().map(|(_, l)| l.len()).sum()
    }

    /// `true` when it holds no object.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The types it knows and how many objects of each, for messages.
    #[must_use]
    pub fn summary(&self) -> Vec<(ResourceType, usize)> {
        self.types
            .iter()
            .map(|(rt, (_, l))| (rt.clone(), l.len()))
            .collect()
    }

    fn known(&self, api_version: &str, kind: &str) -> Result<&(bool, Vec<Stored>), String> {
        self.types
            .get(&ResourceType::new(api_version, kind))
            .ok_or_else(|| format!("Cannot find resource {api_version}/{kind}"))
    }

    /// A list answer: the objects of the type (in `namespace` when given)
    /// that the selectors select.
    ///
    /// # Errors
    /// policy-evaluator's words: an unknown type, a namespaced list of a
    /// cluster-wide kind; or a selector that cannot be read.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Value, String> {
        let (namespaced, objects) = self.known(api_version, kind)?;
        if namespace.is_some() && !namespaced {
            return Err(format!(
                "resource {api_version}/{kind} is cluster wide. Cannot search for it inside of a \
                 namespace"
            ));
        }
        let labels = label_selector
            .map(LabelSelector::parse)
            .transpose()?
            .unwrap_or_default();
        let fields = field_selector
            .map(FieldSelector::parse)
            .transpose()?
            .unwrap_or_default();
        let items: Vec<Value> = objects
            .iter()
            .filter(|o| namespace.is_none() || o.namespace.as_deref() == namespace)
            .filter(|o| labels.matches(&o.labels) && fields.matches(o))
            .map(|o| o.object.clone())
            .collect();
        Ok(json!({
            "apiVersion": api_version,
            "kind": format!("{kind}List"),
            "metadata": {},
            "items": items,
        }))
    }

    /// A get answer: the object.
    ///
    /// # Errors
    /// policy-evaluator's words: an unknown type, a namespaced kind asked
    /// without namespace, an object not found.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Value, String> {
        let (namespaced, objects) = self.known(api_version, kind)?;
        if *namespaced && namespace.is_none() {
            return Err(format!(
                "Resource {api_version}/{kind} is namespaced, but no namespace was provided"
            ));
        }
        let wanted = if *namespaced { namespace } else { None };
        objects
            .iter()
            .find(|o| o.name == name && o.namespace.as_deref() == wanted)
            .map(|o| o.object.clone())
            .ok_or_else(|| {
                format!(
                    "Cannot find {api_version}/{kind} named '{name}' inside of namespace \
                     '{namespace:?}'"
                )
            })
    }
}

fn is_kritis(rt: &ResourceType) -> bool {
    rt.api_version == KRITIS_API_VERSION && KRITIS_KINDS.iter().any(|(k, _)| *k == rt.kind)
}

fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// A document's objects: itself, or the items of a `…List`.
fn flatten(document: Value, source: &str, out: &mut Vec<Value>) -> Result<()> {
    let Value::Object(map) = document else {
        bail!("{source}: expected a Kubernetes object (a mapping), found {document}");
    };
    let is_list = map
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && map.contains_key("items");
    if !is_list {
        out.push(Value::Object(map));
        return Ok(());
    }
    match map.get("items") {
        Some(Value::Array(items)) => {
            for item in items {
                flatten(item.clone(), source, out)?;
            }
            Ok(())
        }
        Some(Value::Null) => Ok(()),
        _ => bail!("{source}: the items of a List must be a list"),
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            if out.len() >= MAX_FILES {
                bail!(
                    "more than {MAX_FILES} resource files under {}",
                    dir.display()
                );
            }
            out.push(path);
        }
    }
    Ok(())
}

/// A label selector, Kubernetes' syntax: comma-separated requirements
/// `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`,
/// `key notin (a,b)`; every one must hold. Hand-written: no crate of the
/// field parses selectors outside of a Kubernetes client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LabelSelector(Vec<(String, LabelTest)>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelTest {
    Exists,
    Absent,
    In(Vec<String>),
    NotIn(Vec<String>),
}

/// Splits at commas outside parentheses.
fn split_requirements(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 317
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid label selector {text:?}: {why}");
        let mut out = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self(out));
        }
        for requirement in split_requirements(text) {
            let r = requirement.trim();
            let (key, test) = if let Some(key) = r.strip_prefix('!') {
                (key.trim(), LabelTest::Absent)
            } else if let Some((key, value)) = r.split_once("!=") {
                (key.trim(), LabelTest::NotIn(vec![value.trim().to_owned()]))
            } else if let Some((key, value)) = r.split_once("==").or_else(|| r.split_once('=')) {
                (key.trim(), LabelTest::In(vec![value.trim().to_owned()]))
            } else if let Some((key, rest)) = set_operator(r, " notin ") {
                (
                    key,
                    LabelTest::NotIn(set_values(rest).ok_or_else(|| bad(r))?),
                )
            } else if let Some((key, rest)) = set_operator(r, " in ") {
                (key, LabelTest::In(set_values(rest).ok_or_else(|| bad(r))?))
            } else {
                (r, LabelTest::Exists)
            };
            if !valid_label_part(key) {
                return Err(bad(&format!("{key:?} is not a label key")));
            }
            if let LabelTest::In(values) | LabelTest::NotIn(values) = &test {
                if values.iter().any(|v| !v.is_empty() && !valid_label_part(v)) {
                    return Err(bad(&format!("a value of {key:?} is not a label value")));
                }
            }
            out.push((key.to_owned(), test));
        }
        Ok(Self(out))
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(key, test)| match test {
            LabelTest::Exists => labels.contains_key(key),
            LabelTest::Absent => !labels.contains_key(key),
            LabelTest::In(values) => labels.get(key).is_some_and(|v| values.contains(v)),
            LabelTest::NotIn(values) => !labels.get(key).is_some_and(|v| values.contains(v)),
        })
    }
}

fn set_operator<'a>(requirement: &'a str, operator: &str) -> Option<(&'a str, &'a str)> {
    requirement
        .split_once(operator)
        .map(|(k, rest)| (k.trim(), rest.trim()))
}

fn set_values(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

/// A field selector: what the API server supports on custom resources,
/// `metadata.name` and `metadata.namespace` with `=`, `==` or `!=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self(out));
        }
        for requirement in text.split(',') {
            let r = requirement.trim();
            let (field, equal, value) = if let Some((f, v)) = r.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid field selector {text:?}: {r:?} has no operator"
                ));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace") {
                return Err(format!("field label not supported: {field}"));
            }
            out.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self(out))
    }

    fn matches(&self, object: &Stored) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = if field == "metadata.name" {
                object.name.as_str()
            } else {
                object.namespace.as_deref().unwrap_or_default()
            };
            (actual == value) == *equal
        })
    }
}

/// `list_resources_by_namespace`'s request (policy-evaluator reads it with
/// the SDK's struct: unknown fields, such as `field_masks`, are ignored).
#[derive(Deserialize)]
struct ListRequest {
    api_version: String,
    kind: String,
    namespace: String,
    label_selector: Option<String>,
    field_selector: Option<String>,
}

/// `list_resources_all`'s request.
#[derive(Deserialize)]
struct ListAllRequest {
    api_version: String,
    kind: String,
    label_selector: Option<String>,
    field_selector: Option<String>,
}

/// `get_resource`'s request.
#[derive(Deserialize)]
struct GetRequest {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
    #[allow(dead_code)]
    disable_cache: bool,
}

/// Serves the Kubernetes read calls no fixture matched: gated by
/// [`ContextAwareAccess`], answered from a [`Cluster`] when there is one;
/// every other call goes to `next` (`--allow-network`'s registry).
#[derive(Debug, Clone)]
pub struct ClusterHost {
    cluster: Option<Arc<Cluster>>,
    access: ContextAwareAccess,
    next: Option<Arc<dyn LiveCapabilities>>,
}

impl ClusterHost {
    /// Serves `cluster` (or only gates, without one) under `access`.
    #[must_use]
    pub fn new(cluster: Option<Arc<Cluster>>, access: ContextAwareAccess) -> Self {
        Self {
            cluster,
            access,
            next: None,
        }
    }

    /// Hands every call it does not serve to `next`.
    #[must_use]
    pub fn then(mut self, next: Option<Arc<dyn LiveCapabilities>>) -> Self {
        self.next = next;
        self
    }

    /// The access it enforces.
    #[must_use]
    pub fn access(&self) -> &ContextAwareAccess {
        &self.access
    }

    /// The answer to a `kubernetes` call; `None` for an operation it does
    /// not serve (`can_i`…), or an allowed read without a cluster.
    fn kubernetes(&self, operation: &str, payload: &[u8]) -> Option<LiveAnswer> {
        let failure = |message: String| Err(format!("{CALLBACK_FAILURE_PREFIX}{message}"));
        let parse_error = |e: serde_json::Error| Some(Err(e.to_string()));
        let answer = match operation {
            "list_resources_by_namespace" => {
                let r: ListRequest = match serde_json::from_slice(payload) {
                    Ok(r) => r,
                    Err(e) => return parse_error(e),
                };
                if !self.access.allows(&r.api_version, &r.kind) {
                    return Some(Err(access_denied(&r.api_version, &r.kind)));
                }
                self.cluster.as_ref()?.list(
                    &r.api_version,
                    &r.kind,
                    Some(&r.namespace),
                    r.label_selector.as_deref(),
                    r.field_selector.as_deref(),
                )
            }
            "list_resources_all" => {
                let r: ListAllRequest = match serde_json::from_slice(payload) {
                    Ok(r) => r,
                    Err(e) => return parse_error(e),
                };
                if !self.access.allows(&r.api_version, &r.kind) {
                    return Some(Err(access_denied(&r.api_version, &r.kind)));
                }
                self.cluster.as_ref()?.list(
                    &r.api_version,
                    &r.kind,
                    None,
                    r.label_selector.as_deref(),
                    r.field_selector.as_deref(),
                )
            }
            "get_resource" => {
                let r: GetRequest = match serde_json::from_slice(payload) {
                    Ok(r) => r,
                    Err(e) => return parse_error(e),
                };
                if !self.access.allows(&r.api_version, &r.kind) {
                    return Some(Err(access_denied(&r.api_version, &r.kind)));
                }
                self.cluster
                    .as_ref()?
                    .get(&r.api_version, &r.kind, &r.name, r.namespace.as_deref())
            }
            _ => return None,
        };
        Some(match answer {
            Ok(value) => {
                serde_json::to_vec(&value).map_err(|e| format!("{CALLBACK_FAILURE_PREFIX}{e}"))
            }
            Err(message) => failure(message),
        })
    }
}

impl LiveCapabilities for ClusterHost {
    fn call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Option<LiveAnswer> {
        if binding == KUBEWARDEN_BINDING && namespace == KUBERNETES {
            if let Some(answer) = self.kubernetes(operation, payload) {
                return Some(answer);
            }
        }
        self.next
            .as_ref()
            .and_then(|next| next.call(binding, namespace, operation, payload))
    }
}

/// The resource type a `kubernetes` read call asks for, when its payload
/// names one (for gating fixtures: see [`gate_fixtures`]).
#[must_use]
pub fn requested_type(operation: &str, request: &Value) -> Option<ResourceType> {
    if !matches!(
        operation,
        "list_resources_by_namespace" | "list_resources_all" | "get_resource"
    ) {
        return None;
    }
    let map: &Map<String, Value> = request.as_object()?;
    Some(ResourceType::new(
        map.get("api_version")?.as_str()?,
        map.get("kind")?.as_str()?,
    ))
}

/// Makes the `kubernetes` read fixtures of types `access` does not grant
/// answer with policy-evaluator's denial, as kwctl gates a replayed
/// session's calls before it replays them.
pub fn gate_fixtures(
    fixtures: &mut [crate::host::capabilities::Fixture],
    access: &ContextAwareAccess,
) {
    for fixture in fixtures {
        if fixture.binding != KUBEWARDEN_BINDING || fixture.namespace != KUBERNETES {
            continue;
        }
        if let Some(rt) = requested_type(&fixture.operation, &fixture.request) {
            if !access.allows(&rt.api_version, &rt.kind) {
                fixture.response = None;
                fixture.error = Some(access_denied(&rt.api_version, &rt.kind));
            }
        }
    }
}

/// A suite's or case's cluster: the resource files' objects and what the
/// policy manifest grants (its `spec.contextAwareResources`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServedCluster {
    /// The objects.
    pub cluster: Arc<Cluster>,
    /// What the policy may read of them.
    pub access: ContextAwareAccess,
}

impl ServedCluster {
    /// The live capability serving it, in front of `next`.
    #[must_use]
    pub fn host(&self, next: Option<Arc<dyn LiveCapabilities>>) -> ClusterHost {
        ClusterHost::new(Some(Arc::clone(&self.cluster)), self.access.clone()).then(next)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCES: &str = r"
apiVersion: kritis.grafeas.io/v1beta1
kind: GenericAttestationPolicy
metadata:
  name: demo-gap
  namespace: team-a
  labels: {tier: prod}
spec:
  attestationAuthorityNames: [demo-aa]
---
apiVersion: kritis.grafeas.io/v1beta1
kind: AttestationAuthority
metadata:
  name: demo-aa
spec:
  publicKeyData: AAAA
---
apiVersion: v1
kind: List
items:
  - apiVersion: kritis.grafeas.io/v1beta1
    kind: AdmissionAllowlist
    metadata:
      name: allow-acs-images
      namespace: ignored
    spec:
      patterns:
        - namePattern: registry.example.com/acs/*
";

    fn cluster() -> Cluster {
        let docs = documents_from_str(RESOURCES).expect("yaml");
        Cluster::from_documents(
            docs.into_iter()
                .enumerate()
                .map(|(i, d)| (format!("test #{i}"), d))
                .collect(),
        )
        .expect("cluster")
    }

    fn all_access() -> ContextAwareAccess {
        ContextAwareAccess::to_types(
            KRITIS_KINDS
                .iter()
                .map(|(k, _)| ResourceType::new(KRITIS_API_VERSION, k)),
        )
    }

    fn call(host: &ClusterHost, operation: &str, payload: &Value) -> LiveAnswer {
        host.call(
            "kubewarden",
            "kubernetes",
            operation,
            &serde_json::to_vec(payload).expect("json"),
        )
        .expect("served")
    }

    #[test]
    fn lists_by_namespace_all_and_gets_in_the_sdk_shapes() {
        let host = ClusterHost::new(Some(Arc::new(cluster())), all_access());
        let list = call(
            &host,
            "list_resources_by_namespace",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "GenericAttestationPolicy",
                    "namespace": "team-a", "label_selector": null, "field_selector": null,
                    "field_masks": null}),
        )
        .expect("list");
        let list: Value = serde_json::from_slice(&list).expect("json");
        assert_eq!(list["kind"], "GenericAttestationPolicyList");
        assert_eq!(list["apiVersion"], KRITIS_API_VERSION);
        assert_eq!(list["metadata"], json!({}));
        assert_eq!(list["items"][0]["metadata"]["name"], "demo-gap");
        let other = call(
            &host,
            "list_resources_by_namespace",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "GenericAttestationPolicy",
                    "namespace": "team-b", "label_selector": null, "field_selector": null}),
        )
        .expect("empty list");
        let other: Value = serde_json::from_slice(&other).expect("json");
        assert_eq!(other["items"], json!([]));
        // No namespace written: `default`, as kubectl apply does.
        let aa = call(
            &host,
            "get_resource",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "AttestationAuthority",
                    "name": "demo-aa", "namespace": "default", "disable_cache": false}),
        )
        .expect("get");
        let aa: Value = serde_json::from_slice(&aa).expect("json");
        assert_eq!(aa["metadata"]["namespace"], "default");
        // Cluster-scoped: the written namespace is dropped.
        let all = call(
            &host,
            "list_resources_all",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "AdmissionAllowlist",
                    "label_selector": null, "field_selector": null, "field_masks": null}),
        )
        .expect("all");
        let all: Value = serde_json::from_slice(&all).expect("json");
        assert_eq!(
            all["items"][0]["metadata"],
            json!({"name": "allow-acs-images"})
        );
    }

    #[test]
    fn errors_use_policy_evaluators_words() {
        let host = ClusterHost::new(Some(Arc::new(cluster())), all_access());
        let e = call(
            &host,
            "list_resources_by_namespace",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "AdmissionAllowlist",
                    "namespace": "team-a", "label_selector": null, "field_selector": null}),
        )
        .expect_err("cluster wide");
        assert_eq!(
            e,
            "Callback evaluation failure: resource kritis.grafeas.io/v1beta1/AdmissionAllowlist \
             is cluster wide. Cannot search for it inside of a namespace"
        );
        let e = call(
            &host,
            "get_resource",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "AttestationAuthority",
                    "name": "nope", "namespace": "team-a", "disable_cache": true}),
        )
        .expect_err("not found");
        assert_eq!(
            e,
            "Callback evaluation failure: Cannot find kritis.grafeas.io/v1beta1/\
             AttestationAuthority named 'nope' inside of namespace 'Some(\"team-a\")'"
        );
        let e = call(
            &host,
            "get_resource",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "AttestationAuthority",
                    "name": "demo-aa"}),
        )
        .expect_err("bad payload");
        assert!(e.contains("missing field `disable_cache`"), "{e}");
    }

    #[test]
    fn types_not_granted_are_refused_with_policy_evaluators_text() {
        let access = ContextAwareAccess::to_types([ResourceType::new(
            KRITIS_API_VERSION,
            "GenericAttestationPolicy",
        )]);
        let host = ClusterHost::new(Some(Arc::new(cluster())), access);
        let e = call(
            &host,
            "list_resources_all",
            &json!({"api_version": KRITIS_API_VERSION, "kind": "AdmissionAllowlist",
                    "label_selector": null, "field_selector": null}),
        )
        .expect_err("denied");
        assert_eq!(
            e,
            "Policy has not been granted access to Kubernetes kritis.grafeas.io/v1beta1/\
             AdmissionAllowlist resources. The violation has been reported."
        );
        // Not a read call: not served (a fixture may answer it).
        assert!(host
            .call("kubewarden", "kubernetes", "can_i", b"{}")
            .is_none());
    }

    #[test]
    fn selectors_filter_as_the_api_server_does() {
        let c = cluster();
        let list = |labels: Option<&str>, fields: Option<&str>| {
            c.list(
                KRITIS_API_VERSION,
                "GenericAttestationPolicy",
                None,
                labels,
                fields,
            )
            .map(|v| v["items"].as_array().map_or(0, Vec::len))
        };
        assert_eq!(list(Some("tier=prod"), None), Ok(1));
        assert_eq!(list(Some("tier in (dev, prod)"), None), Ok(1));
        assert_eq!(list(Some("tier notin (prod)"), None), Ok(0));
        assert_eq!(list(Some("tier!=prod"), None), Ok(0));
        assert_eq!(list(Some("!tier"), None), Ok(0));
        assert_eq!(list(Some("tier,tier==prod"), None), Ok(1));
        assert_eq!(list(None, Some("metadata.name=demo-gap")), Ok(1));
        assert_eq!(list(None, Some("metadata.namespace!=team-a")), Ok(0));
        assert!(list(None, Some("spec.x=1")).is_err());
        assert!(list(Some("tier in prod"), None).is_err());
    }

    #[test]
    fn files_are_checked() {
        for (text, needle) in [
            (
                "kind: X\nmetadata: {name: a}\n",
                "needs `apiVersion` and `kind`",
            ),
            (
                "apiVersion: v1\nkind: X\nmetadata: {}\n",
                "without metadata.name",
            ),
            (
                "apiVersion: v1\nkind: X\nmetadata: {name: a, namespace: n}\n---\n\
                 apiVersion: v1\nkind: X\nmetadata: {name: a, namespace: n}\n",
                "already defined",
            ),
            (
                "apiVersion: v1\nkind: X\nmetadata: {name: a, namespace: n}\n---\n\
                 apiVersion: v1\nkind: X\nmetadata: {name: b}\n",
                "some objects of this kind have a namespace",
            ),
            ("- 1\n", "expected a Kubernetes object"),
        ] {
            let docs = documents_from_str(text).expect("yaml");
            let e =
                Cluster::from_documents(docs.into_iter().map(|d| ("f".to_owned(), d)).collect())
                    .expect_err(needle);
            assert!(format!("{e:#}").contains(needle), "{needle}: {e:#}");
        }
    }

    #[test]
    fn access_lists_and_fixture_gating() {
        let access = ContextAwareAccess::from_list(Some(&json!([
            {"apiVersion": KRITIS_API_VERSION, "kind": "AttestationAuthority"}
        ])))
        .expect("list");
        assert!(access.allows(KRITIS_API_VERSION, "AttestationAuthority"));
        assert!(!access.allows(KRITIS_API_VERSION, "AdmissionAllowlist"));
        assert!(ContextAwareAccess::from_list(Some(&json!([{"kind": "X"}]))).is_err());
        let mut fixtures = vec![crate::host::capabilities::Fixture {
            binding: "kubewarden".to_owned(),
            namespace: "kubernetes".to_owned(),
            operation: "list_resources_all".to_owned(),
            request: json!({"api_version": KRITIS_API_VERSION, "kind": "AdmissionAllowlist"}),
            response: Some(json!({"items": []})),
            error: None,
        }];
        gate_fixtures(&mut fixtures, &access);
        assert_eq!(fixtures[0].response, None);
        assert_eq!(
            fixtures[0].error.as_deref(),
            Some(access_denied(KRITIS_API_VERSION, "AdmissionAllowlist").as_str())
        );
    }
}
