//! Kubernetes objects and AdmissionRequests shaped like the API server's:
//! defaulted container and pod fields, `userInfo`, `options`… so a request
//! is as large as a real one. Plus the settings fragment of one authority
//! and the simple-signing payload an attestation signs.
//!
//! Every object is named [`NAME`] in namespace [`NAMESPACE`]. The
//! benchmark's recorded payload sizes depend on these exact bytes: change a
//! builder only on purpose.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// The name of every object (and of the request).
pub const NAME: &str = "bench";
/// The namespace of every object (and of the request).
pub const NAMESPACE: &str = "default";
/// The annotation that carries the attestations (a JSON array in a string).
pub const ATTESTATIONS_ANNOTATION: &str = "kritis.grafeas.io/attestations";

/// `sha256:<64 hex>`, the SHA-256 of `seed` (`printf SEED | sha256sum`):
/// a digest that differs for every seed and stays the same from run to run.
#[must_use]
pub fn digest(seed: &str) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `REPO@sha256:…`, an image by digest, the digest being [`digest`]`(seed)`.
#[must_use]
pub fn image(repo: &str, seed: &str) -> String {
    format!("{repo}@{}", digest(seed))
}

/// A container as the API server stores it (defaulted fields included).
#[must_use]
pub fn container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "name": "kube-api-access", "readOnly": true}]
    })
}

/// A PodSpec as the API server stores it; `initContainers` only when
/// `init_containers` is not empty.
#[must_use]
pub fn pod_spec(containers: Vec<Value>, init_containers: Vec<Value>) -> Value {
    let mut spec = json!({
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready",
             "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable",
             "operator": "Exists", "tolerationSeconds": 300}
        ],
        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
        ]}}]
    });
    if !init_containers.is_empty() {
        spec["initContainers"] = Value::Array(init_containers);
    }
    spec
}

/// The metadata of a Pod or of a pod template, with the attestations
/// annotation when `attestations_json` (a JSON array, as text) is given.
#[must_use]
pub fn object_metadata(attestations_json: Option<String>) -> Value {
    let mut meta = json!({
        "name": NAME,
        "namespace": NAMESPACE,
        "labels": {"app": "bench", "team": "platform"},
    });
    if let Some(attestations) = attestations_json {
        meta["annotations"] = json!({ ATTESTATIONS_ANNOTATION: attestations });
    }
    meta
}

/// A Pod of `containers`, annotated with `attestations_json` if given.
#[must_use]
pub fn pod(containers: Vec<Value>, attestations_json: Option<String>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": object_metadata(attestations_json),
        "spec": pod_spec(containers, Vec::new()),
    })
}

/// A Deployment (3 replicas, rolling update) whose pod template runs
/// `containers` and `init_containers` and carries the attestations
/// annotation if `attestations_json` is given.
#[must_use]
pub fn deployment(
    containers: Vec<Value>,
    init_containers: Vec<Value>,
    attestations_json: Option<String>,
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"app": "bench"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "bench"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": object_metadata(attestations_json),
                "spec": pod_spec(containers, init_containers)
            }
        }
    })
}

/// A CREATE AdmissionRequest for `object` of `group`/v1 `kind` (`resource`
/// is its plural, e.g. `pods`), as the API server sends it. The core group
/// is `""`.
#[must_use]
pub fn admission_request(group: &str, kind: &str, resource: &str, object: Value) -> Value {
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "requestKind": {"group": group, "version": "v1", "kind": kind},
        "requestResource": {"group": group, "version": "v1", "resource": resource},
        "name": NAME,
        "namespace": NAMESPACE,
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:ci:deployer",
                     "uid": "0b8a6f5e-8d1c-4c4e-9d53-3f1b2a6c7d8e",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:ci",
                                "system:authenticated"]},
        "object": object,
        "oldObject": null,
        "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    })
}

/// One entry of the settings' `attestationAuthorities`: one key, its id,
/// and its public key as base64 of the PEM (see
/// [`crate::keys::public_b64`]).
#[must_use]
pub fn authority(name: &str, key_id: &str, public_b64: &str) -> Value {
    json!({"name": name, "publicKeyId": key_id, "publicKeyData": public_b64})
}

/// The simple-signing payload an attestation signs for `repo@digest`:
/// compact JSON with the keys in the order kritis writes them, the bytes
/// `policy_harness::sign::payload_for` produces too.
#[must_use]
pub fn simple_signing_payload(repo: &str, digest: &str) -> Vec<u8> {
    json!({"critical": {
        "identity": {"docker-reference": repo},
        "image": {"docker-manifest-digest": digest},
        "type": "atomic container signature"
    }})
    .to_string()
    .into_bytes()
}

/// The `validate` payload a host sends: `{"request": …, "settings": …}`.
#[must_use]
pub fn validate_payload(request: Value, settings: Value) -> Vec<u8> {
    json!({"request": request, "settings": settings})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_digests_are_fixed_per_seed() {
        assert_eq!(
            image("registry.example.com/team/app", "1"),
            "registry.example.com/team/app@sha256:\
             6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
        );
        assert_ne!(digest("a"), digest("b"));
    }

    #[test]
    fn simple_signing_payload_bytes() {
        let digest = "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45";
        assert_eq!(
            String::from_utf8(simple_signing_payload(
                "registry.example.com/team/app",
                digest
            ))
            .unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"registry.example.com/team/app"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"atomic container signature"}}}}"#
            )
        );
    }

    #[test]
    fn annotations_only_with_attestations() {
        let bare = pod(vec![container("app", "alpine")], None);
        assert_eq!(bare["metadata"].get("annotations"), None);
        assert_eq!(bare["spec"].get("initContainers"), None);
        let annotated = pod(vec![container("app", "alpine")], Some("[]".to_owned()));
        assert_eq!(
            annotated["metadata"]["annotations"][ATTESTATIONS_ANNOTATION],
            "[]"
        );
    }

    #[test]
    fn deployment_template_carries_containers_and_annotation() {
        let d = deployment(
            vec![container("c0", "a")],
            vec![container("init0", "b")],
            Some("[]".to_owned()),
        );
        let template = &d["spec"]["template"];
        assert_eq!(template["spec"]["containers"][0]["image"], "a");
        assert_eq!(template["spec"]["initContainers"][0]["image"], "b");
        assert_eq!(
            template["metadata"]["annotations"][ATTESTATIONS_ANNOTATION],
            "[]"
        );
        let request = admission_request("apps", "Deployment", "deployments", d);
        assert_eq!(request["kind"]["group"], "apps");
        assert_eq!(request["requestResource"]["resource"], "deployments");
        assert_eq!(request["object"]["kind"], "Deployment");
    }
}
