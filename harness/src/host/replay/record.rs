//! Writes kwctl sessions: the host calls of an evaluation as the session
//! file kwctl's (and this harness's) `--replay-host-capabilities-interactions`
//! replays, each waPC call turned back into its request tag (the table in
//! [`crate::host::replay`]), each answer into `type: Success` or `type: Error`.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::{RecordedResponse, SessionEntry, ACCESS_DENIED_PREFIX, CALLBACK_FAILURE_PREFIX};
use crate::host::capabilities::{HostCall, KUBEWARDEN_BINDING};

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
/// format (the reverse of [`recorded_call`](super::recorded_call)), in the
/// order made: what `kwctl run --record-host-capabilities-interactions`
/// writes, and what `--replay-host-capabilities-interactions` of kwctl and
/// of this harness read. A host error is recorded without the `Callback
/// evaluation failure: ` prefix, as kwctl records it (its replay, and this
/// harness's, put it back). Calls no answer existed for (no fixture, no
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
/// of a waPC call: the reverse of [`recorded_call`](super::recorded_call).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::capabilities::{HostCapabilities, HostEnvironment};
    use crate::host::replay::fixtures_from_text;
    // The session the reading side's tests read; recorded back here.
    use crate::host::replay::tests::SESSION;
    use serde_json::json;

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
}
