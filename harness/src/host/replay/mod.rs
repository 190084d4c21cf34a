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

use crate::host::capabilities::{Fixture, HostCapabilities, KUBEWARDEN_BINDING};

mod record;

pub use record::{callback_request_yaml, record_session, RecordedSession};

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
mod tests;
