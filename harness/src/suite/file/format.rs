//! The suite file as written (see the module above for an example): unknown
//! fields are errors. A leaf.

use serde::Deserialize;
use serde_json::Value;

use crate::suite::expect::Expectation;
use crate::suite::review::Operation;

/// A suite file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SuiteFile {
    /// `policy-harness.kritis.dev/v1` (checked by `identity` before).
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) api_version: Option<String>,
    /// `Suite` (checked by `identity` before).
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) policy: Option<String>,
    #[serde(default)]
    pub(super) policy_name: Option<String>,
    #[serde(default)]
    pub(super) settings: Option<Value>,
    #[serde(default)]
    pub(super) module: Option<String>,
    #[serde(default)]
    pub(super) host_capabilities: Option<Value>,
    /// Resource files (or folders) served as the cluster to every case.
    #[serde(default)]
    pub(super) cluster_resources: Option<Value>,
    pub(super) cases: Vec<CaseFile>,
}

/// A case as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct CaseFile {
    pub(super) name: String,
    #[serde(default)]
    pub(super) resource: Option<Value>,
    #[serde(default)]
    pub(super) select: Option<String>,
    #[serde(default)]
    pub(super) request: Option<Value>,
    #[serde(default)]
    pub(super) operation: Option<Operation>,
    #[serde(default)]
    pub(super) sub_resource: Option<String>,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) user_info: Option<Value>,
    #[serde(default)]
    pub(super) old_object: Option<Value>,
    #[serde(default)]
    pub(super) host_capabilities: Option<Value>,
    /// This case's cluster, instead of the suite's.
    #[serde(default)]
    pub(super) cluster_resources: Option<Value>,
    pub(super) expect: Expectation,
}
