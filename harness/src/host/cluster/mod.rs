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
//!
//! The module is split by job: `access` what a policy may read, `store`
//! the objects loaded from the files, `selector` the label and field
//! selectors of a list, `host` the answers to the calls.

mod access;
mod host;
#[cfg(test)]
mod sample;
mod selector;
mod store;

pub use access::{access_denied, run_access, ContextAwareAccess, ResourceType};
pub use host::{gate_fixtures, requested_type, ClusterHost, ServedCluster, KUBERNETES};
pub use store::{Cluster, MAX_FILES, MAX_FILE_BYTES, MAX_OBJECTS};
