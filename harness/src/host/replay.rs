//! Host-call fixtures in either format the harness reads: its own JSON list
//! (see [`crate::host::capabilities`]) or the session file `kwctl run
//! --record-host-capabilities-interactions` writes (and
//! `--replay-host-capabilities-interactions` reads), converted into the same
//! [`Fixture`]s.
//!
//! The kwctl format, as kwctl 1.31 writes it (`src/callback_handler/proxy.rs`:
//! a `Vec<Exchange>` dumped with `serde_yaml`, `Exchange` and `Response`
//! being `#[serde(tag = "type")]`; the request is policy-evaluator 0.30's
//! `CallbackRequestType`, an externally tagged enum serialized by
//! `serde_yaml::to_string` into a YAML *string*, hence the tag inside it):
//!
//! ```yaml
//! - type: Exchange
//!   request: |
//!     !OciManifestDigest
//!     image: busybox:1.36
//!   response:
//!     type: Success
//!     payload: '{"digest":"sha256:…"}'
//! - type: Exchange
//!   request: |
//!     !OciManifestDigest
//!     image: registry.example.com/down:1
//!   response:
//!     type: Error
//!     message: 'registry unreachable'
//! ```
//!
//! The `payload` is the exact host-call result (policy-evaluator serializes
//! each answer with `serde_json::to_vec`). Each request tag is mapped back to
//! the waPC call that policy-evaluator (`src/runtimes/callback.rs`) turns
//! into it:
//!
//! | request tag | binding / namespace / operation | payload the guest sends |
//! |---|---|---|
//! | `!OciManifestDigest {image}` | `kubewarden/oci/v1/manifest_digest` | `"image"` |
//! | `!OciManifest {image}` | `kubewarden/oci/v1/oci_manifest` | `"image"` |
//! | `!OciManifestAndConfig {image}` | `kubewarden/oci/v1/oci_manifest_config` | `"image"` |
//! | `!SigstorePubKeyVerify {image, pub_keys, annotations}` (and the other `Sigstore*Verify`) | `kubewarden/oci/v2/verify` | `{"type": "<tag>", …the fields}` (the SDK's internally tagged `SigstoreVerificationInputV2`) |
//! | `!DNSLookupHost {host}` | `kubewarden/net/v1/dns_lookup_host` | `"host"` |
//! | `!CryptoIsCertificateTrusted {request}` | `kubewarden/crypto/v1/is_certificate_trusted` | `request` |
//! | `!KubernetesListResourceNamespace {api_version, kind, namespace, label_selector, field_selector}` | `kubewarden/kubernetes/list_resources_by_namespace` | the fields and `"field_masks": null` (the SDK 0.17's `ListResourcesByNamespaceRequest`) |
//! | `!KubernetesListResourceAll {api_version, kind, label_selector, field_selector}` | `kubewarden/kubernetes/list_resources_all` | the fields and `"field_masks": null` |
//! | `!KubernetesGetResource {api_version, kind, name, namespace, disable_cache}` | `kubewarden/kubernetes/get_resource` | the fields and `"field_masks": null` |
//!
//! policy-evaluator 0.30.4's Kubernetes request types have no `field_masks`
//! (it reads the SDK's requests with serde, which drops the field, and
//! returns whole objects): a recorded read stands for the SDK 0.17 request
//! with `field_masks: null`, and a read with field masks is not recorded.
//! A read of a type the policy was not granted never reaches kwctl's
//! recorder (policy-evaluator refuses it first), so it is not recorded here
//! either; replaying a session, kwctl checks each read against what is
//! granted before answering it, and so does `run` (see
//! [`crate::host::cluster`]).
//!
//! The other Kubernetes requests (`KubernetesCanI`, plural names, change
//! tracking) are refused. kwctl replays exchanges strictly in order; here, as for every
//! fixture, a call matches by its JSON payload (key order does not matter),
//! so the same request recorded twice must have the same answer. A `type:
//! Error` answer fails the host call with kwctl's text,
//! `Callback evaluation failure: <message>` (policy-evaluator wraps callback
//! errors that way), so a policy quoting host errors says the same under
//! both hosts.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::host::capabilities::{Fixture, HostCall, HostCapabilities, KUBEWARDEN_BINDING};

/// Prefix policy-evaluator puts before a callback's error message.
pub const CALLBACK_FAILURE_PREFIX: &str = "Callback evaluation failure: ";
/// How policy-evaluator's refusal of a resource type not granted starts
/// (see [`crate::host::cluster::access_denied`]).
const ACCESS_DENIED_PREFIX: &str = "Policy has not been granted access to Kubernetes ";

/// One entry of a kwctl session file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum SessionEntry {
    Exchange {
        request: String,
        response: RecordedResponse,
    },
}

/// How the real host answered.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RecordedResponse {
    Success { payload: String },
    Error { message: String },
}

/// Reads a fixture file in either format (see the module documentation).
///
/// # Errors
/// An unreadable file, or one that is neither format, naming the file.
pub fn load_fixtures(path: &Path) -> Result<Vec<Fixture>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read host capabilities file {}", path.display()))?;
    fixtures_from_text(&text)
        .with_context(|| format!("invalid host capabilities file {}", path.display()))
}

/// [`load_fixtures`], then checked into [`HostCapabilities`].
///
/// # Errors
/// As [`load_fixtures`], and fixtures that contradict each other.
pub fn load_host_capabilities(path: &Path) -> Result<HostCapabilities> {
    HostCapabilities::from_fixtures(load_fixtures(path)?)
        .with_context(|| format!("invalid host capabilities file {}", path.display()))
}

/// Parses fixture text: JSON (the harness's list) or YAML (either format).
///
/// # Errors
/// Text that is neither format.
pub fn fixtures_from_text(text: &str) -> Result<Vec<Fixture>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    // JSON first: serde_json keeps number forms exactly; YAML otherwise.
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(_) => {
            let yaml: serde_yaml::Value =
                serde_yaml::from_str(text).context("neither JSON nor YAML")?;
            serde_json::to_value(yaml).context("cannot be read as JSON (non-string map keys?)")?
        }
    };
    fixtures_from_value(value)
}

/// `true` when `value` is a kwctl session (a list whose first entry has
/// `type: Exchange`).
#[must_use]
pub fn is_kwctl_session(value: &Value) -> bool {
    value
        .as_array()
        .and_then(|list| list.first())
        .and_then(|first| first.get("type"))
        .and_then(Value::as_str)
        == Some("Exchange")
}

/// Turns an already parsed fixture document (either format) into fixtures.
///
/// # Errors
/// A document that is neither format, naming the entry at fault.
pub fn fixtures_from_value(value: Value) -> Result<Vec<Fixture>> {
    if is_kwctl_session(&value) {
        return from_kwctl_session(value);
    }
    serde_json::from_value(value).context(
        "expected a list of host-call fixtures ({namespace, operation, request, response|error}) \
         or a kwctl session (- type: Exchange …)",
    )
}

/// Converts a kwctl session (`Vec<Exchange>`) into fixtures.
///
/// # Errors
/// An entry that is not an exchange, a request tag that cannot be mapped,
/// a `Success` payload that is not JSON, or one request answered twice
/// differently.
pub fn from_kwctl_session(value: Value) -> Result<Vec<Fixture>> {
    let Value::Array(entries) = value else {
        bail!("a kwctl session is a list of exchanges");
    };
    let mut fixtures: Vec<Fixture> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let fixture = exchange_fixture(entry).with_context(|| format!("exchange [{index}]"))?;
        match fixtures.iter().position(|f| same_call(f, &fixture)) {
            Some(earlier) if fixtures[earlier] == fixture => {}
            Some(earlier) => bail!(
                "exchange [{index}] answers the same {}/{} request as exchange [{earlier}] \
                 differently; kwctl replays in order, this harness matches by request, so \
                 keep one answer per request",
                fixture.namespace,
                fixture.operation
            ),
            None => fixtures.push(fixture),
        }
    }
    Ok(fixtures)
}

fn same_call(a: &Fixture, b: &Fixture) -> bool {
    a.binding == b.binding
        && a.namespace == b.namespace
        && a.operation == b.operation
        && a.request == b.request
}

fn exchange_fixture(entry: Value) -> Result<Fixture> {
    let SessionEntry::Exchange { request, response } =
        serde_json::from_value(entry).context("not a kwctl exchange")?;
    let (namespace, operation, payload) = recorded_call(&request)?;
    let (response, error) = match response {
        RecordedResponse::Success { payload } => {
            let answer: Value = serde_json::from_str(&payload)
                .with_context(|| format!("response.payload is not JSON: {payload:?}"))?;
            (Some(answer), None)
        }
        RecordedResponse::Error { message } => {
            (None, Some(format!("{CALLBACK_FAILURE_PREFIX}{message}")))
        }
    };
    Ok(Fixture {
        binding: KUBEWARDEN_BINDING.to_owned(),
        namespace: namespace.to_owned(),
        operation: operation.to_owned(),
        request: payload,
        response,
        error,
    })
}

/// The waPC namespace, operation and payload of a recorded
/// `CallbackRequestType` (the YAML text of the `request` field).
///
/// # Errors
/// Text that is not a tagged mapping, an unknown or unsupported tag, or
/// missing or unexpected fields.
pub fn recorded_call(request: &str) -> Result<(&'static str, &'static str, Value)> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(request).context("request is not YAML")?;
    let serde_yaml::Value::Tagged(tagged) = yaml else {
        bail!("request is not a tagged CallbackRequestType (expected e.g. `!OciManifestDigest`)");
    };
    let tag = tagged.tag.to_string();
    let tag = tag.trim_start_matches('!').to_owned();
    let fields = match serde_json::to_value(&tagged.value)
        .with_context(|| format!("request !{tag}: its fields cannot be read as JSON"))?
    {
        Value::Object(fields) => fields,
        other => bail!("request !{tag}: expected a mapping of fields, found {other}"),
    };
    let only = |name: &str| -> Result<Value> { single_string_field(&tag, &fields, name) };
    Ok(match tag.as_str() {
        "OciManifestDigest" => ("oci", "v1/manifest_digest", only("image")?),
        "OciManifest" => ("oci", "v1/oci_manifest", only("image")?),
        "OciManifestAndConfig" => ("oci", "v1/oci_manifest_config", only("image")?),
        "DNSLookupHost" => ("net", "v1/dns_lookup_host", only("host")?),
        "SigstorePubKeyVerify"
        | "SigstoreKeylessVerify"
        | "SigstoreKeylessPrefixVerify"
        | "SigstoreGithubActionsVerify"
        | "SigstoreCertificateVerify" => {
            if !fields.get("image").is_some_and(Value::is_string) {
                bail!("request !{tag}: `image` (a string) is required");
            }
            let mut payload = Map::with_capacity(fields.len() + 1);
            payload.insert("type".to_owned(), Value::String(tag.clone()));
            payload.extend(fields);
            ("oci", "v2/verify", Value::Object(payload))
        }
        "CryptoIsCertificateTrusted" => {
            let request = fields
                .get("request")
                .filter(|_| fields.len() == 1)
                .ok_or_else(|| anyhow!("request !{tag}: expected exactly the field `request`"))?;
            ("crypto", "v1/is_certificate_trusted", request.clone())
        }
        "KubernetesListResourceNamespace" => (
            "kubernetes",
            "list_resources_by_namespace",
            kubernetes_payload(
                &tag,
                &fields,
                &["api_version", "kind", "namespace"],
                &["label_selector", "field_selector"],
            )?,
        ),
        "KubernetesListResourceAll" => (
            "kubernetes",
            "list_resources_all",
            kubernetes_payload(
                &tag,
                &fields,
                &["api_version", "kind"],
                &["label_selector", "field_selector"],
            )?,
        ),
        "KubernetesGetResource" => {
            if !fields.get("disable_cache").is_some_and(Value::is_boolean) {
                bail!("request !{tag}: `disable_cache` (a boolean) is required");
            }
            (
                "kubernetes",
                "get_resource",
                kubernetes_payload(
                    &tag,
                    &fields,
                    &["api_version", "kind", "name"],
                    &["namespace", "disable_cache"],
                )?,
            )
        }
        k8s if k8s.starts_with("Kubernetes") || k8s.starts_with("HasKubernetes") => {
            bail!(
                "request !{tag}: only the Kubernetes reads (list_resources_by_namespace, \
                 list_resources_all, get_resource) are served by policy-harness"
            )
        }
        other => bail!("request !{other}: unknown CallbackRequestType"),
    })
}

/// A session written by `run --record-host-capabilities-interactions`:
/// the text, and the calls left out (with why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSession {
    /// kwctl's session file (YAML), as kwctl 1.31 writes it.
    pub text: String,
    /// Calls that could not be recorded, and why.
    pub left_out: Vec<String>,
}

/// Writes the answered host calls of an evaluation in kwctl's session
/// format (the reverse of [`recorded_call`]), in the order made: what
/// `kwctl run --record-host-capabilities-interactions` writes, and what
/// `--replay-host-capabilities-interactions` of kwctl and of this harness
/// read. A host error is recorded without the `Callback evaluation
/// failure: ` prefix, as kwctl records it (its replay, and this harness's,
/// put it back). Calls no answer existed for (no fixture, no
/// `--allow-network`), and calls kwctl has no request type for, are left
/// out and listed.
///
/// # Errors
/// An answer that is not UTF-8 (kwctl refuses those too), or a session
/// that cannot be written as YAML.
pub fn record_session(calls: &[HostCall]) -> Result<RecordedSession> {
    let mut entries = Vec::with_capacity(calls.len());
    let mut left_out = Vec::new();
    for call in calls {
        let Some(answer) = &call.answer else {
            left_out.push(format!("{call}: no answer to record"));
            continue;
        };
        if let Err(message) = answer {
            if message.starts_with(ACCESS_DENIED_PREFIX) {
                left_out.push(format!(
                    "{call}: refused before reaching the host (kwctl records nothing)"
                ));
                continue;
            }
        }
        let request = if call.binding == KUBEWARDEN_BINDING {
            callback_request_yaml(&call.namespace, &call.operation, &call.request)
        } else {
            Err(anyhow!("binding {} is not Kubewarden's", call.binding))
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                left_out.push(format!("{call}: {e:#}"));
                continue;
            }
        };
        let response = match answer {
            Ok(bytes) => RecordedResponse::Success {
                payload: String::from_utf8(bytes.clone()).map_err(|e| {
                    anyhow!(
                        "the answer to {}/{} is not UTF-8: {e}",
                        call.namespace,
                        call.operation
                    )
                })?,
            },
            Err(message) => RecordedResponse::Error {
                message: message
                    .strip_prefix(CALLBACK_FAILURE_PREFIX)
                    .unwrap_or(message)
                    .to_owned(),
            },
        };
        entries.push(SessionEntry::Exchange { request, response });
    }
    let text = serde_yaml::to_string(&entries).context("cannot write the session as YAML")?;
    Ok(RecordedSession { text, left_out })
}

/// The `CallbackRequestType` (as kwctl's YAML text, `!Tag` then its fields)
/// of a waPC call: the reverse of [`recorded_call`].
///
/// # Errors
/// A call kwctl has no request type for, or a payload of the wrong shape.
pub fn callback_request_yaml(namespace: &str, operation: &str, payload: &Value) -> Result<String> {
    use serde_yaml::value::{Tag, TaggedValue};
    use serde_yaml::{Mapping, Value as Yaml};
    let one = |field: &str| -> Result<Mapping> {
        let Value::String(text) = payload else {
            bail!("{namespace}/{operation}: the payload must be a JSON string, found {payload}");
        };
        let mut fields = Mapping::new();
        fields.insert(Yaml::from(field), Yaml::from(text.as_str()));
        Ok(fields)
    };
    let (tag, fields) = match (namespace, operation) {
        ("oci", "v1/manifest_digest") => ("OciManifestDigest".to_owned(), one("image")?),
        ("oci", "v1/oci_manifest") => ("OciManifest".to_owned(), one("image")?),
        ("oci", "v1/oci_manifest_config") => ("OciManifestAndConfig".to_owned(), one("image")?),
        ("net", "v1/dns_lookup_host") => ("DNSLookupHost".to_owned(), one("host")?),
        ("oci", "v2/verify") => {
            let Value::Object(map) = payload else {
                bail!("oci/v2/verify: the payload must be a JSON object, found {payload}");
            };
            let tag = match map.get("type").and_then(Value::as_str) {
                Some(
                    tag @ ("SigstorePubKeyVerify"
                    | "SigstoreKeylessVerify"
                    | "SigstoreKeylessPrefixVerify"
                    | "SigstoreGithubActionsVerify"
                    | "SigstoreCertificateVerify"),
                ) => tag.to_owned(),
                other => bail!("oci/v2/verify: unknown verification type {other:?}"),
            };
            // `image` first, as kwctl's struct declares it; kwctl compares
            // requests parsed, so the order of the rest does not matter.
            let mut fields = Mapping::new();
            if let Some(image) = map.get("image") {
                fields.insert(Yaml::from("image"), yaml_of(image)?);
            }
            for (key, value) in map {
                if key != "type" && key != "image" {
                    fields.insert(Yaml::from(key.as_str()), yaml_of(value)?);
                }
            }
            (tag, fields)
        }
        ("crypto", "v1/is_certificate_trusted") => {
            let mut fields = Mapping::new();
            fields.insert(Yaml::from("request"), yaml_of(payload)?);
            ("CryptoIsCertificateTrusted".to_owned(), fields)
        }
        ("kubernetes", "list_resources_by_namespace") => (
            "KubernetesListResourceNamespace".to_owned(),
            kubernetes_fields(
                operation,
                payload,
                &[
                    "api_version",
                    "kind",
                    "namespace",
                    "label_selector",
                    "field_selector",
                ],
            )?,
        ),
        ("kubernetes", "list_resources_all") => (
            "KubernetesListResourceAll".to_owned(),
            kubernetes_fields(
                operation,
                payload,
                &["api_version", "kind", "label_selector", "field_selector"],
            )?,
        ),
        ("kubernetes", "get_resource") => (
            "KubernetesGetResource".to_owned(),
            kubernetes_fields(
                operation,
                payload,
                &["api_version", "kind", "name", "namespace", "disable_cache"],
            )?,
        ),
        _ => bail!("{namespace}/{operation} has no request type in kwctl's session format"),
    };
    let tagged = Yaml::Tagged(Box::new(TaggedValue {
        tag: Tag::new(tag),
        value: Yaml::Mapping(fields),
    }));
    serde_yaml::to_string(&tagged).context("cannot write the request as YAML")
}

fn yaml_of(value: &Value) -> Result<serde_yaml::Value> {
    serde_yaml::to_value(value).context("cannot convert the payload to YAML")
}

/// The guest's payload of a recorded Kubernetes read: the `required`
/// strings, the `optional` fields (`null` when absent), and `field_masks`
/// (`null` unless the recording has it: kwctl 1.31's has not).
fn kubernetes_payload(
    tag: &str,
    fields: &Map<String, Value>,
    required: &[&str],
    optional: &[&str],
) -> Result<Value> {
    let mut payload = Map::with_capacity(required.len() + optional.len() + 1);
    for name in required {
        match fields.get(*name) {
            Some(value @ Value::String(_)) => {
                payload.insert((*name).to_owned(), value.clone());
            }
            _ => bail!("request !{tag}: `{name}` (a string) is required"),
        }
    }
    for name in optional.iter().chain(&["field_masks"]) {
        let value = fields.get(*name).cloned().unwrap_or(Value::Null);
        payload.insert((*name).to_owned(), value);
    }
    if let Some(extra) = fields.keys().find(|k| !payload.contains_key(k.as_str())) {
        bail!("request !{tag}: unexpected field `{extra}`");
    }
    Ok(Value::Object(payload))
}

/// The fields of a Kubernetes read's request type, in kwctl's order, from
/// the guest's payload; `field_masks` must be `null` or absent (kwctl
/// 1.31's request types have no such field).
fn kubernetes_fields(
    operation: &str,
    payload: &Value,
    names: &[&str],
) -> Result<serde_yaml::Mapping> {
    let Value::Object(map) = payload else {
        bail!("kubernetes/{operation}: the payload must be a JSON object, found {payload}");
    };
    if !map.get("field_masks").is_none_or(Value::is_null) {
        bail!(
            "kubernetes/{operation}: field_masks has no place in kwctl 1.31's session format \
             (policy-evaluator 0.30.4 ignores it)"
        );
    }
    for name in ["api_version", "kind"] {
        if !map.get(name).is_some_and(Value::is_string) {
            bail!("kubernetes/{operation}: `{name}` (a string) is required");
        }
    }
    let mut fields = serde_yaml::Mapping::new();
    for name in names {
        let value = map.get(*name).unwrap_or(&Value::Null);
        fields.insert(serde_yaml::Value::from(*name), yaml_of(value)?);
    }
    Ok(fields)
}

fn single_string_field(tag: &str, fields: &Map<String, Value>, name: &str) -> Result<Value> {
    match fields.get(name) {
        Some(value @ Value::String(_)) if fields.len() == 1 => Ok(value.clone()),
        _ => {
            let found: Vec<&String> = fields.keys().collect();
            bail!("request !{tag}: expected exactly the string field `{name}`, found {found:?}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::capabilities::HostEnvironment;
    use serde_json::json;

    /// What kwctl 1.31 writes (serde_yaml 0.9 of `Vec<Exchange>`).
    const SESSION: &str = r#"---
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
    fn recorded_sessions_read_back_as_the_same_answers() {
        let fixtures = fixtures_from_text(SESSION).expect("session");
        let caps = HostCapabilities::from_fixtures(fixtures.clone()).expect("capabilities");
        let env = HostEnvironment::new(caps);
        for fixture in &fixtures {
            let payload = serde_json::to_vec(&fixture.request).expect("payload");
            let _ = env.host_call(
                "kubewarden",
                &fixture.namespace,
                &fixture.operation,
                &payload,
            );
        }
        let _ = env.host_call(
            "kubewarden",
            "oci",
            "v1/manifest_digest",
            br#""not:recorded""#,
        );
        let recorded = record_session(&env.calls()).expect("record");
        assert_eq!(recorded.left_out.len(), 1, "{:?}", recorded.left_out);
        assert!(recorded.left_out[0].contains("not:recorded"));
        // kwctl's shape, byte for byte for the simple entries.
        assert!(
            recorded.text.starts_with(
                "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: busybox:1.36\n  \
                 response:\n    type: Success\n    payload: '{\"digest\":\"sha256:aaaa\"}'\n"
            ),
            "{}",
            recorded.text
        );
        assert!(
            recorded
                .text
                .contains("    type: Error\n    message: registry unreachable\n"),
            "{}",
            recorded.text
        );
        assert_eq!(
            fixtures_from_text(&recorded.text).expect("replay"),
            fixtures
        );
    }

    #[test]
    fn calls_without_a_kwctl_request_type_are_refused() {
        assert!(callback_request_yaml("test", "echo", &json!("x")).is_err());
        assert!(callback_request_yaml("oci", "v1/manifest_digest", &json!({"a": 1})).is_err());
        assert!(callback_request_yaml("oci", "v2/verify", &json!({"type": "Nope"})).is_err());
        assert_eq!(
            callback_request_yaml("net", "v1/dns_lookup_host", &json!("example.com")).expect("dns"),
            "!DNSLookupHost\nhost: example.com\n"
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
}
