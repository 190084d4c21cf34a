//! Which `*-test.yaml` files are ours: a suite says so with
//!
//! ```yaml
//! apiVersion: policy-harness.kritis.dev/v1
//! kind: Suite
//! ```
//!
//! as Kubernetes objects (and gator's `Suite`, Kyverno's `Test`, Chainsaw's
//! `Test`) do. Other tools' files with the same name pattern are skipped,
//! not run. The version lets the format change later: a file of our group
//! with a version this binary does not know is an error, never skipped (it
//! is ours, and silently not running it would pass a CI that tested
//! nothing). A file without `apiVersion` and `kind` is the format before
//! identities (version 1 without the header): still read when it has
//! `cases:`, with a deprecation warning. A leaf.

use serde_json::Value;

/// The API group of suite files.
pub const SUITE_API_GROUP: &str = "policy-harness.kritis.dev";
/// `apiVersion` of the suite format this binary reads.
pub const SUITE_API_VERSION: &str = "policy-harness.kritis.dev/v1";
/// `kind` of a suite file.
pub const SUITE_KIND: &str = "Suite";

/// What a file's header says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `apiVersion: policy-harness.kritis.dev/v1`, `kind: Suite`.
    Current,
    /// No `apiVersion` nor `kind`, but `cases:`: a suite written before
    /// suites had an identity (deprecated, still run).
    Legacy,
    /// Ours (our group, or `kind: Suite` without `apiVersion`) but not
    /// readable by this binary: the reason. An error, never skipped.
    Invalid(String),
    /// Another tool's file (or not a suite at all): what it is.
    Foreign(String),
}

/// The deprecation warning of a [`Identity::Legacy`] file.
pub const LEGACY_WARNING: &str = "has no apiVersion/kind: add `apiVersion: \
    policy-harness.kritis.dev/v1` and `kind: Suite` at its top (files without them \
    are read as version 1 for now, but that will stop)";

/// Classifies the first document of a candidate file (parsed as JSON).
#[must_use]
pub fn identify(document: &Value) -> Identity {
    let Value::Object(map) = document else {
        return Identity::Foreign("not a mapping".to_owned());
    };
    let text = |key: &str| match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!("{key} is not a string: {other}")),
    };
    let (api_version, kind) = match (text("apiVersion"), text("kind")) {
        (Ok(a), Ok(k)) => (a, k),
        (Err(e), _) | (_, Err(e)) => return Identity::Foreign(e),
    };
    let ours = api_version.is_some_and(|v| {
        v.split_once('/')
            .is_some_and(|(group, _)| group == SUITE_API_GROUP)
    });
    match (api_version, kind) {
        (Some(SUITE_API_VERSION), Some(SUITE_KIND)) => Identity::Current,
        (Some(v), _) if ours && v != SUITE_API_VERSION => Identity::Invalid(format!(
            "apiVersion {v} is not known to this policy-harness (it reads {SUITE_API_VERSION}); \
             upgrade policy-harness, or write the suite in the {SUITE_API_VERSION} format"
        )),
        (Some(_), other) if ours => Identity::Invalid(match other {
            Some(k) => format!("kind {k} is not {SUITE_KIND} (apiVersion {SUITE_API_VERSION})"),
            None => format!("kind is missing: add `kind: {SUITE_KIND}`"),
        }),
        (None, Some(SUITE_KIND)) => Identity::Invalid(format!(
            "kind: {SUITE_KIND} without apiVersion: add `apiVersion: {SUITE_API_VERSION}`"
        )),
        (None, None) if map.contains_key("cases") => Identity::Legacy,
        (None, None) => Identity::Foreign("no apiVersion/kind and no cases".to_owned()),
        (a, k) => Identity::Foreign(format!(
            "apiVersion {}, kind {}",
            a.unwrap_or("(none)"),
            k.unwrap_or("(none)")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ours_others_and_the_old_format() {
        let id = |v: Value| identify(&v);
        assert_eq!(
            id(json!({"apiVersion": SUITE_API_VERSION, "kind": "Suite", "cases": []})),
            Identity::Current
        );
        assert_eq!(
            id(json!({"cases": [], "policy": "p.yaml"})),
            Identity::Legacy
        );
        for foreign in [
            json!({"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Test", "policies": []}),
            json!({"apiVersion": "chainsaw.kyverno.io/v1alpha1", "kind": "Test"}),
            json!({"apiVersion": "test.gatekeeper.sh/v1alpha1", "kind": "Suite"}),
            json!({"name": "old kyverno test", "policies": [], "results": []}),
            json!(["a"]),
        ] {
            assert!(
                matches!(identify(&foreign), Identity::Foreign(_)),
                "{foreign}"
            );
        }
        for (invalid, needle) in [
            (
                json!({"apiVersion": "policy-harness.kritis.dev/v2", "kind": "Suite"}),
                "apiVersion policy-harness.kritis.dev/v2 is not known",
            ),
            (
                json!({"apiVersion": "policy-harness.kritis.dev/v1", "kind": "Test"}),
                "kind Test is not Suite",
            ),
            (
                json!({"apiVersion": "policy-harness.kritis.dev/v1"}),
                "kind is missing",
            ),
            (json!({"kind": "Suite", "cases": []}), "without apiVersion"),
        ] {
            match identify(&invalid) {
                Identity::Invalid(why) => assert!(why.contains(needle), "{why}"),
                other => panic!("{invalid}: {other:?}"),
            }
        }
    }
}
