//! The host answers the scenarios are served from in the module: every
//! scenario's registry answers and fixtures as the harness's fixtures.

use anyhow::Result;
use policy_harness::host::capabilities::{Fixture, HostCapabilities};
use serde_json::{json, Value};

use crate::scenarios::Scenario;

/// The wasm side's host: every scenario's registry answers as fixtures of
/// the harness, in the SDK's wire shape.
///
/// # Errors
///
/// Two scenarios answer the same call differently.
pub fn host_capabilities(scenarios: &[Scenario]) -> Result<HostCapabilities> {
    HostCapabilities::from_fixtures(fixtures(scenarios))
}

/// The host-call fixtures of these scenarios.
pub fn fixtures(scenarios: &[Scenario]) -> Vec<Fixture> {
    scenarios
        .iter()
        .flat_map(|s| &s.registry)
        .map(|a| Fixture {
            binding: "kubewarden".to_owned(),
            namespace: "oci".to_owned(),
            operation: "v2/verify".to_owned(),
            request: json!({"type": "SigstorePubKeyVerify", "image": a.image,
                            "pub_keys": [a.pub_key], "annotations": null}),
            response: Some(json!({"is_trusted": true, "digest": a.digest})),
            error: None,
        })
        .chain(scenarios.iter().flat_map(|s| s.fixtures.iter().cloned()))
        .collect()
}

/// Fixtures as the JSON list a host-capabilities file holds.
pub fn fixtures_json(fixtures: &[Fixture]) -> Value {
    Value::Array(
        fixtures
            .iter()
            .map(|f| {
                let mut entry = json!({"binding": f.binding, "namespace": f.namespace,
                                       "operation": f.operation, "request": f.request});
                if let Some(r) = &f.response {
                    entry["response"] = r.clone();
                }
                if let Some(e) = &f.error {
                    entry["error"] = json!(e);
                }
                entry
            })
            .collect(),
    )
}
