use super::*;
use crate::host::capabilities::HostEnvironment;
use serde_json::json;

/// What kwctl 1.31 writes (serde_yaml 0.9 of `Vec<Exchange>`).
pub(super) const SESSION: &str = r#"---
- type: Exchange
  request: |
    !OciManifestDigest
    image: busybox:1.36
  response:
    type: Success
    payload: '{"digest":"sha256:aaaa"}'
- type: Exchange
  request: |
    !SigstorePubKeyVerify
    image: ghcr.io/org/app:1
    pub_keys:
    - |
      -----BEGIN PUBLIC KEY-----
      MFkw
      -----END PUBLIC KEY-----
    annotations: null
  response:
    type: Success
    payload: '{"is_trusted":true,"digest":"sha256:bbbb"}'
- type: Exchange
  request: |
    !OciManifestDigest
    image: registry.example.com/down:1
  response:
    type: Error
    message: 'registry unreachable'
- type: Exchange
  request: |
    !DNSLookupHost
    host: example.com
  response:
    type: Success
    payload: '{"ips":["192.0.2.1"]}'
"#;

#[test]
fn kwctl_session_becomes_fixtures() {
    let fixtures = fixtures_from_text(SESSION).expect("session");
    assert_eq!(fixtures.len(), 4);
    assert_eq!(fixtures[0].namespace, "oci");
    assert_eq!(fixtures[0].operation, "v1/manifest_digest");
    assert_eq!(fixtures[0].request, json!("busybox:1.36"));
    assert_eq!(fixtures[0].response, Some(json!({"digest": "sha256:aaaa"})));
    assert_eq!(fixtures[1].operation, "v2/verify");
    assert_eq!(
        fixtures[1].request,
        json!({"type": "SigstorePubKeyVerify", "image": "ghcr.io/org/app:1",
                   "pub_keys": ["-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"],
                   "annotations": null})
    );
    assert_eq!(
        fixtures[2].error.as_deref(),
        Some("Callback evaluation failure: registry unreachable")
    );
    assert_eq!(fixtures[3].namespace, "net");
    assert_eq!(fixtures[3].request, json!("example.com"));
}

#[test]
fn replayed_calls_match_by_payload_in_any_key_order() {
    let caps = HostCapabilities::from_fixtures(fixtures_from_text(SESSION).expect("session"))
        .expect("capabilities");
    let env = HostEnvironment::new(caps);
    let payload = br#"{"annotations":null,"pub_keys":["-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"],"image":"ghcr.io/org/app:1","type":"SigstorePubKeyVerify"}"#;
    let answer = env
        .host_call("kubewarden", "oci", "v2/verify", payload)
        .expect("replayed");
    assert_eq!(answer, br#"{"digest":"sha256:bbbb","is_trusted":true}"#);
    let err = env
        .host_call(
            "kubewarden",
            "oci",
            "v1/manifest_digest",
            br#""registry.example.com/down:1""#,
        )
        .expect_err("recorded error");
    assert_eq!(
        err.to_string(),
        "Callback evaluation failure: registry unreachable"
    );
}

#[test]
fn the_harness_format_still_loads_as_json_or_yaml() {
    let json_text = r#"[{"namespace":"oci","operation":"v1/manifest_digest","request":"a:1","response":{"digest":"sha256:00"}}]"#;
    assert_eq!(fixtures_from_text(json_text).expect("json").len(), 1);
    let yaml_text =
        "- namespace: oci\n  operation: v1/manifest_digest\n  request: a:1\n  error: down\n";
    let fixtures = fixtures_from_text(yaml_text).expect("yaml");
    assert_eq!(fixtures[0].error.as_deref(), Some("down"));
    assert!(fixtures_from_text("").expect("empty").is_empty());
}

#[test]
fn identical_exchanges_merge_and_conflicting_ones_are_refused() {
    let twice = format!("{SESSION}{}", SESSION.trim_start_matches("---\n"));
    assert_eq!(fixtures_from_text(&twice).expect("duplicates").len(), 4);
    let conflicting = SESSION.replace(
        "type: Error\n    message: 'registry unreachable'",
        "type: Success\n    payload: '{\"digest\":\"sha256:cccc\"}'",
    );
    let conflicting = format!(
            "{conflicting}- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: busybox:1.36\n  response:\n    type: Success\n    payload: '{{\"digest\":\"sha256:ffff\"}}'\n"
        );
    let e = fixtures_from_text(&conflicting).expect_err("conflict");
    assert!(
            format!("{e:#}").contains("exchange [4] answers the same oci/v1/manifest_digest request as exchange [0] differently"),
            "{e:#}"
        );
}

#[test]
fn unsupported_or_malformed_exchanges_name_the_entry() {
    for (text, needle) in [
            (
                "- type: Exchange\n  request: |\n    !KubernetesCanI\n    disable_cache: false\n  response:\n    type: Success\n    payload: '{}'\n",
                "exchange [0]: request !KubernetesCanI: only the Kubernetes reads",
            ),
            (
                "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    api_version: v1\n  response:\n    type: Success\n    payload: '{}'\n",
                "exchange [0]: request !KubernetesGetResource: `disable_cache` (a boolean) is required",
            ),
            (
                "- type: Exchange\n  request: |\n    !KubernetesListResourceAll\n    api_version: v1\n    kind: Pod\n    extra: 1\n  response:\n    type: Success\n    payload: '{}'\n",
                "request !KubernetesListResourceAll: unexpected field `extra`",
            ),
            (
                "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: a\n    extra: 1\n  response:\n    type: Success\n    payload: '{}'\n",
                "expected exactly the string field `image`",
            ),
            (
                "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: a\n  response:\n    type: Success\n    payload: 'not json'\n",
                "response.payload is not JSON",
            ),
            (
                "- type: Exchange\n  request: 'image: a'\n  response:\n    type: Success\n    payload: '{}'\n",
                "not a tagged CallbackRequestType",
            ),
            (
                "- type: Exchange\n  request: |\n    !Nope\n    x: 1\n  response:\n    type: Success\n    payload: '{}'\n",
                "request !Nope: unknown CallbackRequestType",
            ),
            (
                "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: a\n  response:\n    type: Maybe\n",
                "not a kwctl exchange",
            ),
        ] {
            let e = fixtures_from_text(text).expect_err(needle);
            assert!(format!("{e:#}").contains(needle), "{needle}: {e:#}");
        }
}

/// What kwctl 1.31 records for the policy's live-mode reads
/// (policy-evaluator 0.30.4's request types, serde_yaml 0.9).
const KUBERNETES_SESSION: &str = r#"- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: kritis.grafeas.io/v1beta1
    kind: GenericAttestationPolicy
    namespace: team-a
    label_selector: null
    field_selector: null
  response:
    type: Success
    payload: '{"apiVersion":"kritis.grafeas.io/v1beta1","kind":"GenericAttestationPolicyList","metadata":{},"items":[]}'
- type: Exchange
  request: |
    !KubernetesListResourceAll
    api_version: kritis.grafeas.io/v1beta1
    kind: AdmissionAllowlist
    label_selector: null
    field_selector: null
  response:
    type: Success
    payload: '{"apiVersion":"kritis.grafeas.io/v1beta1","kind":"AdmissionAllowlistList","metadata":{},"items":[]}'
- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: kritis.grafeas.io/v1beta1
    kind: AttestationAuthority
    name: demo-aa
    namespace: team-a
    disable_cache: false
  response:
    type: Error
    message: Cannot find kritis.grafeas.io/v1beta1/AttestationAuthority named 'demo-aa' inside of namespace 'Some("team-a")'
"#;

#[test]
fn kubernetes_reads_replay_in_the_sdk_wire_shapes_and_round_trip() {
    let fixtures = fixtures_from_text(KUBERNETES_SESSION).expect("session");
    assert_eq!(fixtures.len(), 3);
    assert_eq!(fixtures[0].namespace, "kubernetes");
    assert_eq!(fixtures[0].operation, "list_resources_by_namespace");
    let caps = HostCapabilities::from_fixtures(fixtures.clone()).expect("capabilities");
    let env = HostEnvironment::new(caps);
    // The exact bytes the policy (SDK 0.17 shapes) sends.
    let listed = env
            .host_call(
                "kubewarden",
                "kubernetes",
                "list_resources_by_namespace",
                br#"{"api_version":"kritis.grafeas.io/v1beta1","kind":"GenericAttestationPolicy","namespace":"team-a","label_selector":null,"field_selector":null,"field_masks":null}"#,
            )
            .expect("replayed");
    assert!(String::from_utf8_lossy(&listed).contains("GenericAttestationPolicyList"));
    env.host_call(
            "kubewarden",
            "kubernetes",
            "list_resources_all",
            br#"{"api_version":"kritis.grafeas.io/v1beta1","kind":"AdmissionAllowlist","label_selector":null,"field_selector":null,"field_masks":null}"#,
        )
        .expect("replayed");
    let missing = env
            .host_call(
                "kubewarden",
                "kubernetes",
                "get_resource",
                br#"{"api_version":"kritis.grafeas.io/v1beta1","kind":"AttestationAuthority","name":"demo-aa","namespace":"team-a","disable_cache":false,"field_masks":null}"#,
            )
            .expect_err("recorded error");
    assert!(missing
        .to_string()
        .starts_with("Callback evaluation failure: Cannot find"));
    let recorded = record_session(&env.calls()).expect("record");
    assert!(recorded.left_out.is_empty(), "{:?}", recorded.left_out);
    assert_eq!(
        fixtures_from_text(&recorded.text).expect("replay"),
        fixtures
    );
    assert!(
        recorded.text.starts_with(
            "- type: Exchange\n  request: |\n    !KubernetesListResourceNamespace\n    \
                 api_version: kritis.grafeas.io/v1beta1\n    kind: GenericAttestationPolicy\n    \
                 namespace: team-a\n    label_selector: null\n    field_selector: null\n"
        ),
        "{}",
        recorded.text
    );
    assert!(callback_request_yaml(
        "kubernetes",
        "list_resources_all",
        &json!({"api_version": "v1", "kind": "Pod", "field_masks": ["metadata.name"]})
    )
    .is_err());
}
