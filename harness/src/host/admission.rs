//! The Kubewarden waPC protocol, as `kwctl run` drives it:
//! `protocol_version`, then `validate_settings`, then `validate`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::host::capabilities::HostEnvironment;
use crate::host::response::{
    AdmissionResponse, PolicyValidationResponse, SettingsValidationResponse,
};
use crate::host::runtime::{PolicyInstance, PolicyModule};

/// The only protocol version Kubewarden hosts speak.
pub const SUPPORTED_PROTOCOL_VERSION: &str = "v1";

/// What the policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `validate_settings` rejected the settings; `validate` was not called.
    SettingsInvalid {
        /// The policy's message.
        message: Option<String>,
    },
    /// The AdmissionResponse built from `validate`'s answer.
    Response(AdmissionResponse),
}

/// Result of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Answer of `protocol_version`.
    pub protocol_version: String,
    /// The decision.
    pub outcome: Outcome,
}

/// Reads a JSON file.
pub fn read_json_file(path: &Path, what: &str) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{what} file {} is not valid JSON", path.display()))
}

/// Reads a YAML file (JSON is YAML too) as JSON, as `kwctl run` reads
/// settings: one document; an empty file is `{}`.
pub fn read_yaml_file(path: &Path, what: &str) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    // JSON first: serde_json keeps number forms exactly; YAML otherwise.
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return Ok(value);
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
        .with_context(|| format!("{what} file {} is neither JSON nor YAML", path.display()))?;
    serde_json::to_value(yaml).with_context(|| {
        format!(
            "{what} file {} cannot be turned into JSON (non-string map keys?)",
            path.display()
        )
    })
}

/// Extracts the AdmissionRequest from a whole AdmissionReview
/// (`{"request": {...}}`) or returns a bare AdmissionRequest as is.
pub fn admission_request(document: Value) -> Result<Value> {
    let Value::Object(mut map) = document else {
        bail!("the request must be a JSON object (an AdmissionReview or an AdmissionRequest)");
    };
    match map.remove("request") {
        Some(inner @ Value::Object(_)) => Ok(inner),
        Some(other) => {
            bail!("`request` of the AdmissionReview must be a JSON object, found {other}")
        }
        None => Ok(Value::Object(map)),
    }
}

/// Runs `protocol_version` and `validate_settings` only, on a fresh
/// instance of `policy` (what policy-server does when it loads a policy).
///
/// # Errors
/// An instance that cannot be created, a wrong protocol version, or an
/// answer that is not a SettingsValidationResponse.
pub fn validate_settings(
    policy: &PolicyModule,
    env: Arc<HostEnvironment>,
    settings: &Value,
) -> Result<SettingsValidationResponse> {
    let instance = policy.instantiate(env)?;
    check_protocol_version(&instance)?;
    call_validate_settings(&instance, settings)
}

fn check_protocol_version(instance: &PolicyInstance) -> Result<String> {
    let version_bytes = instance
        .call("protocol_version", &[])?
        .map_err(|e| anyhow!("policy returned an error from `protocol_version`: {e}"))?;
    let protocol_version: String = serde_json::from_slice(&version_bytes).with_context(|| {
        format!(
            "`protocol_version` answered {:?}, expected a JSON string like \"v1\"",
            String::from_utf8_lossy(&version_bytes)
        )
    })?;
    if protocol_version != SUPPORTED_PROTOCOL_VERSION {
        bail!("unsupported policy protocol version {protocol_version:?} (expected {SUPPORTED_PROTOCOL_VERSION:?})");
    }
    Ok(protocol_version)
}

fn call_validate_settings(
    instance: &PolicyInstance,
    settings: &Value,
) -> Result<SettingsValidationResponse> {
    let settings_bytes = serde_json::to_vec(settings).context("cannot serialize the settings")?;
    Ok(match instance.call("validate_settings", &settings_bytes)? {
        Ok(bytes) => serde_json::from_slice::<SettingsValidationResponse>(&bytes).with_context(|| {
            format!(
                "`validate_settings` answered {:?}, expected {{\"valid\": bool, \"message\": string}}",
                String::from_utf8_lossy(&bytes)
            )
        })?,
        // policy-evaluator reports a guest error as invalid settings.
        Err(guest_error) => SettingsValidationResponse {
            valid: false,
            message: Some(format!(
                "Error invoking settings validation callback: {guest_error}"
            )),
        },
    })
}

/// Runs the three waPC calls on a fresh instance of `policy`.
pub fn evaluate(
    policy: &PolicyModule,
    env: Arc<HostEnvironment>,
    settings: &Value,
    request: &Value,
) -> Result<Evaluation> {
    let instance = policy.instantiate(env)?;
    let protocol_version = check_protocol_version(&instance)?;
    let settings_response = call_validate_settings(&instance, settings)?;
    if !settings_response.valid {
        return Ok(Evaluation {
            protocol_version,
            outcome: Outcome::SettingsInvalid {
                message: settings_response.message,
            },
        });
    }

    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))
        .context("cannot serialize the validation request")?;
    let response = match instance.call("validate", &payload)? {
        Ok(bytes) => {
            let answer: PolicyValidationResponse =
                serde_json::from_slice(&bytes).with_context(|| {
                    format!(
                        "`validate` answered {:?}, which is not a Kubewarden ValidationResponse",
                        String::from_utf8_lossy(&bytes)
                    )
                })?;
            AdmissionResponse::from_policy_response(uid, request.get("object"), &answer)?
        }
        Err(guest_error) => AdmissionResponse::guest_error(uid, &guest_error),
    };
    Ok(Evaluation {
        protocol_version,
        outcome: Outcome::Response(response),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_files_are_yaml_or_json() {
        let dir = std::env::temp_dir().join(format!("yaml-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let yaml = dir.join("s.yaml");
        std::fs::write(
            &yaml,
            "attestationAuthorities:\n  - name: a\n    publicKeyId: k\nresolveTags: true\n",
        )
        .expect("write");
        assert_eq!(
            read_yaml_file(&yaml, "settings").expect("yaml"),
            json!({"attestationAuthorities": [{"name": "a", "publicKeyId": "k"}], "resolveTags": true})
        );
        let json_file = dir.join("s.json");
        std::fs::write(&json_file, r#"{"n": 1.50}"#).expect("write");
        assert_eq!(
            read_yaml_file(&json_file, "settings").expect("json"),
            json!({"n": 1.5})
        );
        let empty = dir.join("e.yaml");
        std::fs::write(&empty, "\n").expect("write");
        assert_eq!(
            read_yaml_file(&empty, "settings").expect("empty"),
            json!({})
        );
        let bad = dir.join("bad.yaml");
        std::fs::write(&bad, "a: [\n").expect("write");
        let e = read_yaml_file(&bad, "settings").expect_err("invalid");
        assert!(
            format!("{e:#}").contains("is neither JSON nor YAML"),
            "{e:#}"
        );
    }

    #[test]
    fn admission_review_and_bare_request() {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                            "request": {"uid": "1"}});
        assert_eq!(
            admission_request(review).expect("review"),
            json!({"uid": "1"})
        );
        assert_eq!(
            admission_request(json!({"uid": "2"})).expect("bare"),
            json!({"uid": "2"})
        );
        assert!(admission_request(json!([1])).is_err());
        assert!(admission_request(json!({"request": null})).is_err());
    }
}
