//! `sign --into MANIFEST`: writes an attestation where the Pods carry it,
//! the `kritis.grafeas.io/attestations` annotation of a Pod's own metadata or
//! of a controller's pod template (`spec.template.metadata`, and
//! `spec.jobTemplate.spec.template.metadata` for a CronJob), appended to the
//! attestations already there.
//!
//! The manifest is read and written with `serde_yaml`, which keeps the keys
//! and their order, the values and the documents, but not the comments, the
//! blank lines, the quoting and flow style (`{app: web}` comes back as a
//! block) or anchors (aliases come back expanded). `serde_yaml` reads and
//! writes YAML 1.2 while kubectl reads YAML 1.1, so a few scalars would
//! change meaning on the way through (a quoted `"yes"` written back plain is
//! a boolean for kubectl, a plain `0755` an octal number there and a string
//! here): such a manifest is refused, naming the value, rather than
//! rewritten into something else. Nothing is written unless every step
//! succeeded.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize as _;
use serde_yaml::{Mapping, Value};

use super::SignedAttestation;

/// The annotation the policy reads.
pub const ATTESTATIONS_ANNOTATION: &str = "kritis.grafeas.io/attestations";

/// Largest manifest accepted (the API server caps a request at 3 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// The image an attestation is for, as the policy compares it: the
/// repository, normalised the Docker way, and the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedImage {
    /// `docker.io/library/alpine`, `registry.example.com/team/app`.
    pub repository: String,
    /// `sha256:…`.
    pub digest: String,
}

impl AttestedImage {
    /// `repository` (as written in the payload) and `digest`.
    pub fn new(repository: &str, digest: &str) -> Self {
        Self {
            repository: normalized_repository(repository),
            digest: digest.to_owned(),
        }
    }

    /// Whether a pod spec's `image` names this repository and digest.
    fn matches(&self, image: &str) -> bool {
        let Some((name, digest)) = image.rsplit_once('@') else {
            return false;
        };
        digest == self.digest && normalized_repository(strip_tag(name)) == self.repository
    }
}

/// Where one attestation went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `Deployment web` (`Deployment web (document 2)` in a file of several).
    pub object: String,
    /// `spec.template.metadata.annotations`.
    pub path: &'static str,
    /// What happened to the list there.
    pub change: Change,
}

/// What [`attach`] did to one object's attestation list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Appended; the list now holds this many attestations.
    Added(usize),
    /// The same payload already carried a signature by this key id: that
    /// signature was replaced (signing again is idempotent in count).
    Replaced,
}

/// The manifest with the attestation written in, and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The whole manifest, as YAML.
    pub yaml: String,
    /// One entry per object that runs the image.
    pub placed: Vec<Placement>,
    /// Full-line comments dropped on the way (`serde_yaml` keeps none).
    pub dropped_comments: usize,
}

/// Writes `attestation` into every object of `manifest` (YAML, one or
/// several documents, `List`s unpacked) whose pod spec runs `image`.
///
/// # Errors
/// The manifest is too large or not YAML; no object runs `image`; an
/// existing annotation is not a JSON array of attestations; a scalar would
/// change meaning for kubectl once rewritten (see the module's doc).
pub fn attach(
    manifest: &str,
    attestation: &SignedAttestation,
    image: &AttestedImage,
) -> Result<Attached> {
    if manifest.len() > MAX_MANIFEST_BYTES {
        bail!(
            "the manifest is {} bytes, more than {MAX_MANIFEST_BYTES}",
            manifest.len()
        );
    }
    let mut documents = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(manifest).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| anyhow!("document {} is not valid YAML: {e}", i + 1))?;
        documents.push(value);
    }
    let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
    for (i, document) in documents.iter().enumerate() {
        let at = if documents.len() > 1 {
            format!("document {}: ", i + 1)
        } else {
            String::new()
        };
        check_round_trip(document, manifest, &at, &mut String::new())?;
    }
    let several = documents.len() > 1;
    let mut documents = documents;
    let mut placed = Vec::new();
    let mut seen = Vec::new();
    let entry = serde_json::to_value(attestation).context("cannot serialize the attestation")?;
    for (i, document) in documents.iter_mut().enumerate() {
        let label = several.then(|| format!(" (document {})", i + 1));
        visit(
            document,
            label.as_deref().unwrap_or(""),
            &entry,
            image,
            &mut placed,
            &mut seen,
        )?;
    }
    if placed.is_empty() {
        let found = if seen.is_empty() {
            "it holds no Pod and no object with a pod template".to_owned()
        } else {
            format!("its images: {}", seen.join(", "))
        };
        bail!(
            "no Pod or pod template in the manifest runs {}@{} (the repository and digest the \
             attestation names), so the attestation would count for nothing there; {found}: \
             sign the digest the manifest names, or deploy the digest you signed",
            image.repository,
            image.digest
        );
    }
    let mut yaml = String::new();
    for (i, document) in documents.iter().enumerate() {
        if i > 0 {
            yaml.push_str("---\n");
        }
        yaml.push_str(&serde_yaml::to_string(document).context("cannot write the manifest")?);
    }
    let dropped_comments = manifest
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count();
    Ok(Attached {
        yaml,
        placed,
        dropped_comments,
    })
}

/// Where the metadata the Pods get sits, by kind.
fn template_path(kind: &str) -> Option<(&'static [&'static str], &'static str)> {
    Some(match kind {
        "Pod" => (&[], "metadata.annotations"),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => (&["spec", "template"], "spec.template.metadata.annotations"),
        "CronJob" => (
            &["spec", "jobTemplate", "spec", "template"],
            "spec.jobTemplate.spec.template.metadata.annotations",
        ),
        _ => return None,
    })
}

/// One object (a document or a `List` item).
fn visit(
    object: &mut Value,
    label: &str,
    entry: &serde_json::Value,
    image: &AttestedImage,
    placed: &mut Vec<Placement>,
    seen: &mut Vec<String>,
) -> Result<()> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind == "List" || (kind.ends_with("List") && object.get("items").is_some()) {
        if let Some(Value::Sequence(items)) = object.get_mut("items") {
            for item in items {
                visit(item, label, entry, image, placed, seen)?;
            }
        }
        return Ok(());
    }
    let Some((path, annotations_path)) = template_path(&kind) else {
        return Ok(());
    };
    let name = object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("(no name)")
        .to_owned();
    let described = format!("{kind} {name}{label}");
    let mut template = &mut *object;
    for step in path {
        template = template
            .get_mut(*step)
            .ok_or_else(|| anyhow!("{described}: has no {}", path.join(".")))?;
    }
    let images = pod_images(template.get("spec"));
    if !images.iter().any(|i| image.matches(i)) {
        seen.extend(images.into_iter().map(|i| format!("{i} ({described})")));
        return Ok(());
    }
    let change = add_to(template, entry).with_context(|| {
        format!("{described}: {annotations_path}.\"{ATTESTATIONS_ANNOTATION}\"")
    })?;
    placed.push(Placement {
        object: described,
        path: annotations_path,
        change,
    });
    Ok(())
}

/// Every image a pod spec runs: the three container lists and image volumes.
fn pod_images(spec: Option<&Value>) -> Vec<String> {
    let Some(spec) = spec else {
        return Vec::new();
    };
    let mut images = Vec::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(Value::Sequence(containers)) = spec.get(list) {
            images.extend(
                containers
                    .iter()
                    .filter_map(|c| c.get("image").and_then(Value::as_str))
                    .map(str::to_owned),
            );
        }
    }
    if let Some(Value::Sequence(volumes)) = spec.get("volumes") {
        images.extend(
            volumes
                .iter()
                .filter_map(|v| v.get("image")?.get("reference")?.as_str())
                .map(str::to_owned),
        );
    }
    images
}

/// Appends `entry` to the annotation of `template.metadata` (created when
/// missing), or replaces the signature the same key made of the same payload.
fn add_to(template: &mut Value, entry: &serde_json::Value) -> Result<Change> {
    let Value::Mapping(template) = template else {
        bail!("the object holding it is not a mapping");
    };
    let metadata = template
        .entry("metadata".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if metadata.is_null() {
        *metadata = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(metadata) = metadata else {
        bail!("metadata is not a mapping");
    };
    let annotations = metadata
        .entry("annotations".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if annotations.is_null() {
        *annotations = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(annotations) = annotations else {
        bail!("metadata.annotations is not a mapping");
    };
    let mut list: Vec<serde_json::Value> = match annotations.get(ATTESTATIONS_ANNOTATION) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(serde_json::Value::Array(list)) => list,
            _ => bail!(
                "the attestations already there are not a JSON array, so adding to them could \
                 only break them: fix or remove the annotation first"
            ),
        },
        Some(_) => bail!("the annotation is not a string (an annotation's value always is)"),
    };
    let change = merge(&mut list, entry);
    let text = serde_json::to_string(&list).context("cannot serialize the attestations")?;
    annotations.insert(ATTESTATIONS_ANNOTATION.into(), Value::String(text));
    Ok(change)
}

/// Adds `entry` (one attestation with one signature) to `list`.
fn merge(list: &mut Vec<serde_json::Value>, entry: &serde_json::Value) -> Change {
    let payload = &entry["serializedPayload"];
    let signature = &entry["signatures"][0];
    let key_id = &signature["publicKeyId"];
    for existing in list.iter_mut() {
        if existing["serializedPayload"] != *payload {
            continue;
        }
        if let Some(signatures) = existing
            .get_mut("signatures")
            .and_then(serde_json::Value::as_array_mut)
        {
            if let Some(same) = signatures.iter_mut().find(|s| s["publicKeyId"] == *key_id) {
                *same = signature.clone();
                return Change::Replaced;
            }
        }
    }
    list.push(entry.clone());
    Change::Added(list.len())
}

/// `name` without a `:tag` on its last path component (a registry port,
/// `host:5000/x`, is kept).
fn strip_tag(name: &str) -> &str {
    let last = name.rfind('/').map_or(0, |i| i + 1);
    match name[last..].find(':') {
        Some(colon) => &name[..last + colon],
        None => name,
    }
}

/// The Docker normalisation the policy applies before comparing
/// repositories: `alpine` = `docker.io/library/alpine`, `team/app` =
/// `docker.io/team/app`, `index.docker.io/…` = `docker.io/…`.
pub fn normalized_repository(repository: &str) -> String {
    let repository = strip_tag(repository);
    match repository.split_once('/') {
        None => format!("docker.io/library/{repository}"),
        Some((host, rest)) if host == "docker.io" || host == "index.docker.io" => {
            if rest.contains('/') {
                format!("docker.io/{rest}")
            } else {
                format!("docker.io/library/{rest}")
            }
        }
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            repository.to_owned()
        }
        Some(_) => format!("docker.io/{repository}"),
    }
}

/// Refuses a document holding a scalar that kubectl (YAML 1.1) would read
/// differently once `serde_yaml` (YAML 1.2) has written it back.
fn check_round_trip(value: &Value, text: &str, at: &str, path: &mut String) -> Result<()> {
    match value {
        Value::String(s) => {
            if let Some(why) = changes_for_kubectl(s, text) {
                bail!(
                    "cannot write into this manifest without changing it: {at}{}: {why}; nothing \
                     was written: change that value, or add the annotation another way (kubectl \
                     patch --local, yq)",
                    if path.is_empty() { "(top level)" } else { path }
                );
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_round_trip(item, text, at, path)?;
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map {
                let len = path.len();
                let key_text = match key {
                    Value::String(k) => {
                        check_round_trip(key, text, at, path)?;
                        k.clone()
                    }
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key_text);
                check_round_trip(item, text, at, path)?;
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => check_round_trip(&tagged.value, text, at, path)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Why the string `s` would mean something else to kubectl after the
/// rewrite, if it would. `serde_yaml` writes `yes`, `on`, `1:20` or `1_000`
/// without quotes (they are strings in YAML 1.2) and a string `0755` quoted;
/// kubectl reads the first ones as booleans or numbers and a plain `0755` as
/// an octal number. Whether the input had quotes is looked up in `text`, the
/// manifest as given: only a quoted `"yes"` and a plain `0755` change.
fn changes_for_kubectl(s: &str, text: &str) -> Option<String> {
    /// Plain scalars YAML 1.1 does not read as strings (booleans, `=`, `<<`).
    const YAML11_NOT_STRINGS: [&str; 18] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", "=", "<<",
    ];
    let quoted = text.contains(&format!("'{s}'")) || text.contains(&format!("\"{s}\""));
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let sexagesimal = unsigned.contains(':')
        && unsigned
            .split(':')
            .all(|part| digits(part.split('.').next().unwrap_or(part)));
    let underscored =
        unsigned.contains('_') && unsigned.split('.').all(|p| p.is_empty() || digits(p));
    if quoted && (YAML11_NOT_STRINGS.contains(&s) || sexagesimal || underscored) {
        return Some(format!(
            "the quoted string {s:?} would be written back without quotes, which kubectl \
             (YAML 1.1) reads as a boolean or a number"
        ));
    }
    let leading_zero = unsigned.len() > 1
        && unsigned.starts_with('0')
        && unsigned.bytes().all(|b| b.is_ascii_digit());
    if leading_zero && !quoted {
        return Some(format!(
            "the plain {s} is a number for kubectl (YAML 1.1: octal when its digits allow) but \
             a string for the YAML 1.2 reader used here, and would be written back as the \
             string '{s}': write the number without a leading zero (e.g. a file mode 0755 as 493)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_normalised_as_docker_does() {
        for (written, normal) in [
            ("alpine", "docker.io/library/alpine"),
            ("alpine:3.19", "docker.io/library/alpine"),
            ("docker.io/alpine", "docker.io/library/alpine"),
            ("index.docker.io/library/alpine", "docker.io/library/alpine"),
            ("team/app", "docker.io/team/app"),
            ("localhost/app", "localhost/app"),
            ("localhost:5000/app:v1", "localhost:5000/app"),
            (
                "registry.example.com/team/app",
                "registry.example.com/team/app",
            ),
        ] {
            assert_eq!(normalized_repository(written), normal, "{written}");
        }
        let image = AttestedImage::new("alpine", &format!("sha256:{}", "a".repeat(64)));
        assert!(image.matches(&format!(
            "docker.io/library/alpine:3@sha256:{}",
            "a".repeat(64)
        )));
        assert!(!image.matches(&format!("alpine@sha256:{}", "b".repeat(64))));
        assert!(!image.matches("alpine:3"));
    }

    #[test]
    fn scalars_kubectl_would_read_otherwise_are_named() {
        for s in ["yes", "Off", "1:20", "1_000", "-12:30:45"] {
            assert!(
                changes_for_kubectl(s, &format!("v: \"{s}\"")).is_some(),
                "{s}"
            );
            assert!(
                changes_for_kubectl(s, &format!("v: '{s}'")).is_some(),
                "{s}"
            );
            // Plain in the input: kubectl already reads it so, and still will.
            assert!(changes_for_kubectl(s, &format!("v: {s}")).is_none(), "{s}");
        }
        assert!(changes_for_kubectl("0755", "mode: 0755\n").is_some());
        assert!(changes_for_kubectl("0755", "mode: '0755'\n").is_none());
        for s in [
            "true",
            "web",
            "1.0",
            "v1:2",
            "0",
            "registry.example.com:5000/x",
        ] {
            assert!(
                changes_for_kubectl(s, &format!("v: '{s}'")).is_none(),
                "{s}"
            );
        }
    }
}
