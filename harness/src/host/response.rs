//! The policy's answers (Kubewarden SDK shapes) and the AdmissionResponse
//! printed by `policy-harness run`, built the way policy-evaluator builds it
//! for `kwctl run`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `ValidationResponse` of the Kubewarden SDK (answer of `validate`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PolicyValidationResponse {
    /// Whether the request is accepted.
    pub accepted: bool,
    /// Message shown to the user.
    #[serde(default)]
    pub message: Option<String>,
    /// HTTP-like code.
    #[serde(default)]
    pub code: Option<u16>,
    /// The object as the policy wants it (mutating policies).
    #[serde(default)]
    pub mutated_object: Option<Value>,
    /// Audit annotations.
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings returned to the client.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// `SettingsValidationResponse` of the Kubewarden SDK (answer of
/// `validate_settings`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SettingsValidationResponse {
    /// Whether the settings are valid.
    pub valid: bool,
    /// Why they are not.
    #[serde(default)]
    pub message: Option<String>,
}

/// `status` of an AdmissionResponse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct AdmissionResponseStatus {
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    /// Code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<u16>,
}

/// Kubernetes `admission/v1` AdmissionResponse, as `kwctl run` prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// Copied from the request.
    pub uid: String,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// `"JSONPatch"` when `patch` is set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patch_type: Option<String>,
    /// Standard base64 of the JSON Patch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patch: Option<String>,
    /// Message and code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<AdmissionResponseStatus>,
    /// Audit annotations. Printed as `null` when absent, as kwctl 1.31
    /// (policy-evaluator) prints it, so the two outputs diff clean.
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings; `null` when absent, as kwctl prints them.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// Message policy-evaluator uses when a policy mutates a DELETE request.
pub const MUTATION_OF_NULL_OBJECT: &str =
    "Incoming object is null, which happens only with DELETE \
     operations, but the policy is attempting a mutation. This is not allowed";

/// policy-server's rejection of a patch from a policy deployed with
/// `spec.mutating: false` (policy-evaluator's `AdmissionResponseHandler`,
/// policy-server 1.31, its exact words); `policy_id` is the policy's key in
/// policy-server's `policies.yml` (see
/// [`crate::suite::manifest::PolicyManifest::policy_server_id`]).
#[must_use]
pub fn not_allowed_to_mutate_message(policy_id: &str) -> String {
    format!(
        "Request rejected by policy {policy_id}. The policy attempted to mutate the request, \
         but it is currently configured to not allow mutations."
    )
}

impl AdmissionResponse {
    /// What policy-server answers (in `protect` mode) when a policy that is
    /// not allowed to mutate returns a patch: `allowed: false`, its message,
    /// no code, the patch dropped (a validating webhook's answer may not
    /// carry one); warnings and audit annotations are kept. `None` when the
    /// response has no patch (nothing to refuse).
    #[must_use]
    pub fn refuse_mutation(&self, policy_id: &str) -> Option<Self> {
        self.patch.as_ref()?;
        Some(Self {
            allowed: false,
            status: Some(AdmissionResponseStatus {
                message: Some(not_allowed_to_mutate_message(policy_id)),
                code: None,
            }),
            patch: None,
            patch_type: None,
            ..self.clone()
        })
    }

    /// Rejection with a message and code.
    pub fn reject(uid: &str, message: String, code: u16) -> Self {
        Self {
            uid: uid.to_owned(),
            allowed: false,
            status: Some(AdmissionResponseStatus {
                message: Some(message),
                code: Some(code),
            }),
            ..Default::default()
        }
    }

    /// What policy-server answers when the guest's `validate` returned a waPC
    /// error: `guest_error` is the guest's message.
    pub fn guest_error(uid: &str, guest_error: &str) -> Self {
        // policy-evaluator: reject_internal_server_error(uid, wapc_error.to_string())
        // where the wapc error displays as "Guest call failure: <message>".
        Self::reject(
            uid,
            format!("internal server error: Guest call failure: {guest_error}"),
            500,
        )
    }

    /// Builds the response from the policy's answer. `request_object` is the
    /// request's `object` (`None` or `null` for DELETE).
    pub fn from_policy_response(
        uid: &str,
        request_object: Option<&Value>,
        response: &PolicyValidationResponse,
    ) -> Result<Self> {
        let request_object = request_object.filter(|v| !v.is_null());
        let patch = match (&response.mutated_object, request_object) {
            (None, _) => None,
            (Some(_), None) => {
                return Ok(Self {
                    uid: uid.to_owned(),
                    allowed: false,
                    status: Some(AdmissionResponseStatus {
                        message: Some(MUTATION_OF_NULL_OBJECT.to_owned()),
                        code: None,
                    }),
                    ..Default::default()
                });
            }
            (Some(mutated), Some(original)) => {
                let diff = json_patch::diff(original, mutated);
                if diff.0.is_empty() {
                    None
                } else {
                    let text =
                        serde_json::to_string(&diff).context("cannot serialize the JSON Patch")?;
                    Some(base64::engine::general_purpose::STANDARD.encode(text))
                }
            }
        };
        let status = if response.message.is_some() || response.code.is_some() {
            Some(AdmissionResponseStatus {
                message: response.message.clone(),
                code: response.code,
            })
        } else {
            None
        };
        Ok(Self {
            uid: uid.to_owned(),
            allowed: response.accepted,
            patch_type: patch.as_ref().map(|_| "JSONPatch".to_owned()),
            patch,
            status,
            audit_annotations: response.audit_annotations.clone(),
            warnings: response.warnings.clone(),
        })
    }

    /// The status message, if any.
    pub fn message(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.message.as_deref())
    }

    /// The status code, if any.
    pub fn code(&self) -> Option<u16> {
        self.status.as_ref().and_then(|s| s.code)
    }

    /// The JSON Patch, decoded.
    pub fn decoded_patch(&self) -> Result<Option<Value>> {
        let Some(patch) = &self.patch else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .context("patch is not valid base64")?;
        let value = serde_json::from_slice(&bytes).context("patch is not JSON")?;
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(v: Value) -> PolicyValidationResponse {
        serde_json::from_value(v).expect("valid answer")
    }

    #[test]
    fn accepted_without_message_has_no_status() {
        let r = AdmissionResponse::from_policy_response(
            "u",
            Some(&json!({})),
            &answer(json!({"accepted": true})),
        )
        .expect("response");
        // Byte for byte what kwctl 1.31 prints (field order included).
        assert_eq!(
            serde_json::to_string(&r).expect("json"),
            r#"{"uid":"u","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn rejection_carries_message_code_warnings_annotations() {
        let r = AdmissionResponse::from_policy_response(
            "u",
            Some(&json!({})),
            &answer(json!({"accepted": false, "message": "no", "code": 403,
                           "warnings": ["w"], "audit_annotations": {"k": "v"}})),
        )
        .expect("response");
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            json!({"uid": "u", "allowed": false, "status": {"message": "no", "code": 403},
                   "warnings": ["w"], "auditAnnotations": {"k": "v"}})
        );
    }

    #[test]
    fn mutation_becomes_base64_json_patch() {
        let original = json!({"a": 1});
        let r = AdmissionResponse::from_policy_response(
            "u",
            Some(&original),
            &answer(json!({"accepted": true, "mutated_object": {"a": 2}})),
        )
        .expect("response");
        assert_eq!(r.patch_type.as_deref(), Some("JSONPatch"));
        assert_eq!(
            r.decoded_patch().expect("patch"),
            Some(json!([{"op": "replace", "path": "/a", "value": 2}]))
        );
        let same = AdmissionResponse::from_policy_response(
            "u",
            Some(&original),
            &answer(json!({"accepted": true, "mutated_object": {"a": 1}})),
        )
        .expect("response");
        assert_eq!(same.patch, None);
        assert_eq!(same.patch_type, None);
    }

    #[test]
    fn mutation_of_delete_is_rejected() {
        let r = AdmissionResponse::from_policy_response(
            "u",
            Some(&Value::Null),
            &answer(json!({"accepted": true, "mutated_object": {"a": 2}})),
        )
        .expect("response");
        assert!(!r.allowed);
        assert_eq!(r.message(), Some(MUTATION_OF_NULL_OBJECT));
    }
}
