//! The host answering the `kubernetes` read calls of a policy.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::access::{access_denied, ContextAwareAccess, ResourceType};
use super::store::Cluster;
use crate::host::capabilities::{LiveAnswer, LiveCapabilities, KUBEWARDEN_BINDING};
use crate::host::replay::CALLBACK_FAILURE_PREFIX;

/// The waPC namespace of the Kubernetes capabilities.
pub const KUBERNETES: &str = "kubernetes";

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

#[cfg(test)]
mod tests {
    use super::super::sample::cluster;
    use super::super::store::{KRITIS_API_VERSION, KRITIS_KINDS};
    use super::*;
    use serde_json::json;

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
