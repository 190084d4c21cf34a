//! The cluster: the objects of the resource files, by type.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use super::access::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use crate::suite::yaml::documents_from_str;

/// Largest resource file read (a `kubectl get -o yaml` of thousands of
/// objects stays far below it).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most objects held: bounds memory and the size of every answer.
pub const MAX_OBJECTS: usize = 10_000;
/// Most files read under the given folders.
pub const MAX_FILES: usize = 1_000;

/// The group and version of the kritis resources.
pub(super) const KRITIS_API_VERSION: &str = "kritis.grafeas.io/v1beta1";
/// The kritis kinds and their scope (`true`: namespaced), as their CRDs
/// declare them (ACK's AdmissionAllowlist is cluster-scoped).
pub(super) const KRITIS_KINDS: [(&str, bool); 3] = [
    ("GenericAttestationPolicy", true),
    ("AttestationAuthority", true),
    ("AdmissionAllowlist", false),
];

/// A resource type: `apiVersion` and `kind`, as the SDK's requests and
/// One object of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stored {
    pub(super) namespace: Option<String>,
    pub(super) name: String,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
