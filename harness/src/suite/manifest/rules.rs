//! The rules the API server uses to route requests to a policy: separate
//! from the manifest because `policy-harness audit` matches them on their own.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// Which kind of policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Cluster-wide.
    ClusterAdmissionPolicy,
    /// Namespaced: applies only to requests in its own namespace.
    AdmissionPolicy,
}

impl PolicyKind {
    pub(super) fn parse(kind: &str) -> Option<Self> {
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
