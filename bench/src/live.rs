//! Scenarios of the live mode (issue 22): the cluster's kritis resources
//! served by the fixture host in the SDK's `kubernetes` wire shapes.

use anyhow::Result;
use serde_json::{json, Value};
use testkit::objects::{container, image};

use crate::scenarios::{pod_request, Golden, Group, Keys, Scenario, APP};

const API: &str = "kritis.grafeas.io/v1beta1";
/// The golden case scenario 10 replays.
const LIVE_CASE: &str = "live-demo-gap-attested";
/// Policies and authorities in scenario 10b's namespace.
pub const MANY: usize = 100;

/// 10: the seeds' demo-gap / demo-aa / allow-acs-images read live, exactly
/// the golden case: three host calls (policies and authorities of the
/// namespace, the cluster's allowlists), one RSA-2048 verification.
pub fn demo() -> Result<Scenario> {
    Golden::load(LIVE_CASE)?.scenario(
        "10",
        "Pod, 1 image, the live kritis resources (demo-gap, demo-aa, allow-acs-images) served by the fixture host: 3 kubernetes list calls, 1 RSA-2048 check",
    )
}

fn list_fixture(
    kind: &str,
    namespace: &str,
    items: Vec<Value>,
) -> Result<policy_harness::host::capabilities::Fixture> {
    Ok(serde_json::from_value(json!({
        "namespace": "kubernetes",
        "operation": "list_resources_by_namespace",
        "request": {"api_version": API, "kind": kind, "namespace": namespace,
                    "label_selector": null, "field_selector": null, "field_masks": null},
        "response": {"apiVersion": API, "kind": format!("{kind}List"), "metadata": {}, "items": items}
    }))?)
}

/// 10b: a namespace holding 100 GenericAttestationPolicies, each naming
/// its own one of 100 AttestationAuthorities; the image is attested by the
/// last one, so every policy is judged and every named key decoded (the
/// live mode checks each named authority's key on every request).
pub fn many(keys: &Keys) -> Result<Scenario> {
    let namespace = "team-big";
    let img = image(APP, "10b");
    let att = keys.rsa2048.attest(&format!("aa-{}", MANY - 1), &img)?;
    let mut request = pod_request(vec![container("app", &img)], &[att])?;
    request["namespace"] = json!(namespace);
    let policies: Vec<Value> = (0..MANY)
        .map(|i| {
            json!({"apiVersion": API, "kind": "GenericAttestationPolicy",
                   "metadata": {"name": format!("gap-{i}"), "namespace": namespace},
                   "spec": {"attestationAuthorityNames": [format!("aa-{i}")]}})
        })
        .collect();
    let authorities: Vec<Value> = (0..MANY)
        .map(|i| {
            json!({"apiVersion": API, "kind": "AttestationAuthority",
                   "metadata": {"name": format!("aa-{i}"), "namespace": namespace},
                   "spec": {"noteReference": format!("namespaces/aa-{i}"),
                            "publicKeyId": format!("aa-{i}"),
                            "publicKeyData": keys.rsa2048.public_b64()}})
        })
        .collect();
    let settings = json!({
        "kritisResources": {"require": "any", "allowlists": false, "whenNoPolicy": "admit"}
    });
    let mut s = Scenario::new(
        "10b",
        format!("Pod, 1 image, live mode: {MANY} GenericAttestationPolicies and {MANY} AttestationAuthorities in the namespace (fixture host), attested by the last"),
        Group::Main,
        settings,
        request,
        true,
    )?;
    s.fixtures = vec![
        list_fixture("GenericAttestationPolicy", namespace, policies)?,
        list_fixture("AttestationAuthority", namespace, authorities)?,
    ];
    Ok(s)
}
