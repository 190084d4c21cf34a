//! AdmissionRequests built from a Kubernetes object the way the API server
//! builds them: `kind`/`requestKind` from the object's `apiVersion` and
//! `kind`, `resource`/`requestResource` from the kind's plural resource
//! name, `name` from `metadata.name`, the namespace filled into the object,
//! `options` for the operation, `dryRun: false`, and a uid.

use std::fmt;

use anyhow::{bail, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

/// The namespace of a request when nothing names one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Admission operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// `CREATE` (the default).
    #[default]
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CONNECT`.
    Connect,
}

impl Operation {
    /// The name the API server uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    fn options_kind(self) -> Option<&'static str> {
        match self {
            Operation::Create => Some("CreateOptions"),
            Operation::Update => Some("UpdateOptions"),
            Operation::Delete => Some("DeleteOptions"),
            Operation::Connect => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resource (plural, lower-case) and, for the pre-1.22
/// `EphemeralContainers` kind, the subresource the API server names for
/// `kind`. Kinds outside the table get the lower-cased kind plus `s`
/// (`known` is then `false`).
#[must_use]
pub fn resource_for_kind(kind: &str) -> ResourceName {
    let known = |resource: &str, sub: Option<&str>| ResourceName {
        resource: resource.to_owned(),
        sub_resource: sub.map(str::to_owned),
        known: true,
    };
    match kind {
        "Pod" => known("pods", None),
        "Deployment" => known("deployments", None),
        "ReplicaSet" => known("replicasets", None),
        "StatefulSet" => known("statefulsets", None),
        "DaemonSet" => known("daemonsets", None),
        "Job" => known("jobs", None),
        "CronJob" => known("cronjobs", None),
        "ReplicationController" => known("replicationcontrollers", None),
        "EphemeralContainers" => known("pods", Some("ephemeralcontainers")),
        other => ResourceName {
            resource: format!("{}s", other.to_lowercase()),
            sub_resource: None,
            known: false,
        },
    }
}

/// See [`resource_for_kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceName {
    /// e.g. `deployments`.
    pub resource: String,
    /// e.g. `ephemeralcontainers`.
    pub sub_resource: Option<String>,
    /// `false` when guessed (lower-case kind + `s`).
    pub known: bool,
}

/// `(group, version)` of an `apiVersion`: `"apps/v1"` → `("apps", "v1")`,
/// `"v1"` → `("", "v1")`.
#[must_use]
pub fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// A uid that is the same on every run for the same `parts`: the SHA-256 of
/// the parts, shaped like a UUID (8-4-4-4-12 hex digits).
#[must_use]
pub fn deterministic_uid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The user of requests that name none: `kubectl` with kubeadm's admin
/// credentials.
#[must_use]
pub fn default_user_info() -> Value {
    json!({"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]})
}

/// Everything besides the object that shapes the request.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Default CREATE.
    pub operation: Operation,
    /// The request's namespace (wins over the object's).
    pub namespace: Option<String>,
    /// Used when neither `namespace` nor the object names one (an
    /// AdmissionPolicy's namespace); else [`DEFAULT_NAMESPACE`].
    pub fallback_namespace: Option<String>,
    /// Default [`default_user_info`].
    pub user_info: Option<Value>,
    /// For UPDATE (default: the object itself) and DELETE (default: the object).
    pub old_object: Option<Value>,
    /// e.g. `ephemeralcontainers`, `status`.
    pub sub_resource: Option<String>,
    /// The request's uid.
    pub uid: String,
}

/// Builds the AdmissionRequest (`request` of an AdmissionReview) for
/// `object`.
///
/// For DELETE, `object` is what is being deleted: the request carries it as
/// `oldObject` (unless `old_object` is given) and `object` is `null`, as the
/// API server sends it.
///
/// # Errors
/// An object that is not a mapping, has no string `apiVersion`/`kind`, or
/// whose `metadata.namespace` differs from the request's namespace (the API
/// server refuses that).
pub fn admission_request(object: &Value, options: &RequestOptions) -> Result<Value> {
    let Value::Object(map) = object else {
        bail!("the object is not a mapping");
    };
    let Some(api_version) = map.get("apiVersion").and_then(Value::as_str) else {
        bail!("the object has no apiVersion");
    };
    let Some(kind) = map.get("kind").and_then(Value::as_str) else {
        bail!("the object has no kind");
    };
    let (group, version) = group_version(api_version);
    let resource = resource_for_kind(kind);
    let metadata = map.get("metadata").and_then(Value::as_object);
    let object_namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty());
    let namespace = match (&options.namespace, object_namespace) {
        (Some(ns), Some(own)) if ns != own => bail!(
            "the object's metadata.namespace is {own:?} but the request's namespace is {ns:?} \
             (the API server refuses such a request)"
        ),
        (Some(ns), _) => ns.clone(),
        (None, Some(own)) => own.to_owned(),
        (None, None) => options
            .fallback_namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
    };
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut object = object.clone();
    set_namespace(&mut object, &namespace);

    let kind_gvk = json!({"group": group, "version": version, "kind": kind});
    let resource_gvr = json!({"group": group, "version": version, "resource": resource.resource});
    let sub_resource = options.sub_resource.clone().or(resource.sub_resource);
    let (new_object, old_object) = match options.operation {
        Operation::Delete => (
            Value::Null,
            options.old_object.clone().unwrap_or_else(|| object.clone()),
        ),
        Operation::Update => (
            object.clone(),
            options.old_object.clone().unwrap_or_else(|| object.clone()),
        ),
        Operation::Create | Operation::Connect => (
            object.clone(),
            options.old_object.clone().unwrap_or(Value::Null),
        ),
    };
    let mut request = Map::new();
    request.insert("uid".into(), json!(options.uid));
    request.insert("kind".into(), kind_gvk.clone());
    request.insert("resource".into(), resource_gvr.clone());
    if let Some(sub) = &sub_resource {
        request.insert("subResource".into(), json!(sub));
    }
    request.insert("requestKind".into(), kind_gvk);
    request.insert("requestResource".into(), resource_gvr);
    if let Some(sub) = &sub_resource {
        request.insert("requestSubResource".into(), json!(sub));
    }
    request.insert("name".into(), json!(name));
    request.insert("namespace".into(), json!(namespace));
    request.insert("operation".into(), json!(options.operation.as_str()));
    request.insert(
        "userInfo".into(),
        options.user_info.clone().unwrap_or_else(default_user_info),
    );
    request.insert("object".into(), new_object);
    request.insert("oldObject".into(), old_object);
    request.insert("dryRun".into(), json!(false));
    if let Some(options_kind) = options.operation.options_kind() {
        request.insert(
            "options".into(),
            json!({"apiVersion": "meta.k8s.io/v1", "kind": options_kind}),
        );
    }
    Ok(Value::Object(request))
}

/// Wraps a request in an `admission.k8s.io/v1` AdmissionReview.
#[must_use]
pub fn admission_review(request: Value) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

fn set_namespace(object: &mut Value, namespace: &str) {
    let Value::Object(map) = object else {
        return;
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(metadata) = metadata {
        metadata
            .entry("namespace")
            .or_insert_with(|| json!(namespace));
    }
}

/// `kind/name` of an object, for case labels.
#[must_use]
pub fn object_label(object: &Value) -> String {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("?");
    let name = object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    format!("{kind}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(uid: &str) -> RequestOptions {
        RequestOptions {
            uid: uid.to_owned(),
            ..RequestOptions::default()
        }
    }

    fn workload(api_version: &str, kind: &str) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}, "spec": {}})
    }

    #[test]
    fn every_workload_kind_gets_its_group_version_and_resource() {
        for (api_version, kind, group, version, resource) in [
            ("v1", "Pod", "", "v1", "pods"),
            ("apps/v1", "Deployment", "apps", "v1", "deployments"),
            ("apps/v1", "ReplicaSet", "apps", "v1", "replicasets"),
            ("apps/v1", "StatefulSet", "apps", "v1", "statefulsets"),
            ("apps/v1", "DaemonSet", "apps", "v1", "daemonsets"),
            ("batch/v1", "Job", "batch", "v1", "jobs"),
            ("batch/v1", "CronJob", "batch", "v1", "cronjobs"),
            (
                "v1",
                "ReplicationController",
                "",
                "v1",
                "replicationcontrollers",
            ),
            ("v1", "ConfigMap", "", "v1", "configmaps"),
        ] {
            let request =
                admission_request(&workload(api_version, kind), &options("u")).expect(kind);
            let gvk = json!({"group": group, "version": version, "kind": kind});
            let gvr = json!({"group": group, "version": version, "resource": resource});
            assert_eq!(request["kind"], gvk, "{kind}");
            assert_eq!(request["requestKind"], gvk, "{kind}");
            assert_eq!(request["resource"], gvr, "{kind}");
            assert_eq!(request["requestResource"], gvr, "{kind}");
            assert_eq!(request["name"], "w");
            assert_eq!(request["namespace"], "default");
            assert_eq!(request["object"]["metadata"]["namespace"], "default");
            assert_eq!(request["operation"], "CREATE");
            assert_eq!(request["dryRun"], false);
            assert_eq!(request["oldObject"], Value::Null);
            assert_eq!(request["options"]["kind"], "CreateOptions");
            assert_eq!(request["userInfo"], default_user_info());
            assert!(request.get("subResource").is_none());
        }
        assert!(!resource_for_kind("ConfigMap").known);
        assert!(resource_for_kind("CronJob").known);
    }

    #[test]
    fn old_ephemeral_containers_kind_is_a_pods_subresource() {
        let object = json!({"apiVersion": "v1", "kind": "EphemeralContainers",
                            "metadata": {"name": "p"}, "ephemeralContainers": []});
        let request = admission_request(
            &object,
            &RequestOptions {
                operation: Operation::Update,
                ..options("u")
            },
        )
        .expect("request");
        assert_eq!(request["resource"]["resource"], "pods");
        assert_eq!(request["subResource"], "ephemeralcontainers");
        assert_eq!(request["requestSubResource"], "ephemeralcontainers");
        assert_eq!(request["oldObject"], request["object"]);
        assert_eq!(request["options"]["kind"], "UpdateOptions");
    }

    #[test]
    fn namespace_precedence_and_conflicts() {
        let mut pod = workload("v1", "Pod");
        let with = |ns: Option<&str>, fallback: Option<&str>| RequestOptions {
            namespace: ns.map(str::to_owned),
            fallback_namespace: fallback.map(str::to_owned),
            ..options("u")
        };
        let r = admission_request(&pod, &with(None, Some("team-a"))).expect("fallback");
        assert_eq!(r["namespace"], "team-a");
        let r = admission_request(&pod, &with(Some("prod"), Some("team-a"))).expect("case");
        assert_eq!(r["namespace"], "prod");
        assert_eq!(r["object"]["metadata"]["namespace"], "prod");
        pod["metadata"]["namespace"] = json!("shop");
        let r = admission_request(&pod, &with(None, Some("team-a"))).expect("object's own");
        assert_eq!(r["namespace"], "shop");
        let e = admission_request(&pod, &with(Some("prod"), None)).expect_err("conflict");
        assert!(
            e.to_string().contains("metadata.namespace is \"shop\""),
            "{e}"
        );
    }

    #[test]
    fn delete_sends_the_object_as_old_object() {
        let pod = workload("v1", "Pod");
        let r = admission_request(
            &pod,
            &RequestOptions {
                operation: Operation::Delete,
                ..options("u")
            },
        )
        .expect("delete");
        assert_eq!(r["object"], Value::Null);
        assert_eq!(r["oldObject"]["kind"], "Pod");
        assert_eq!(r["options"]["kind"], "DeleteOptions");
    }

    #[test]
    fn invalid_objects_are_errors() {
        for (object, needle) in [
            (json!([1]), "not a mapping"),
            (json!({"kind": "Pod"}), "no apiVersion"),
            (json!({"apiVersion": "v1"}), "no kind"),
        ] {
            let e = admission_request(&object, &options("u")).expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    #[test]
    fn uids_are_deterministic_and_distinct() {
        let a = deterministic_uid(&["suite", "case"]);
        assert_eq!(a, deterministic_uid(&["suite", "case"]));
        assert_ne!(a, deterministic_uid(&["suitec", "ase"]));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
