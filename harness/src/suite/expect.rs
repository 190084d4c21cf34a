//! What a case expects of the policy, and the check of an evaluation against
//! it: one format for suites (`expect:`) and golden cases (`expected.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::host::admission::Outcome;
use crate::host::capabilities::HostCall;
use crate::host::response::AdmissionResponse;

fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The expectation (`expect:` of a suite case, `expected.json` of a golden
/// case). Everything is optional except `allowed`, which is required unless
/// `settingsValid` is `false`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expectation {
    /// `false`: `validate_settings` must reject the settings.
    #[serde(default)]
    pub settings_valid: Option<bool>,
    /// Expected `allowed`.
    #[serde(default)]
    pub allowed: Option<bool>,
    /// Expected `status.code`.
    #[serde(default)]
    pub code: Option<u16>,
    /// Substrings the message must contain.
    #[serde(default)]
    pub message_contains: Vec<String>,
    /// Substrings the message must not contain.
    #[serde(default)]
    pub message_not_contains: Vec<String>,
    /// Each must be a substring of at least one warning.
    #[serde(default)]
    pub warnings_contain: Vec<String>,
    /// The exact warnings, in order (`[]`: none); absent: not checked.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// Keys that must be present in `auditAnnotations`.
    #[serde(default)]
    pub audit_annotation_keys: Vec<String>,
    /// Absent: not checked. `null`: no patch. Otherwise: the exact JSON Patch.
    #[serde(default, deserialize_with = "present")]
    pub patch: Option<Value>,
    /// Images of the object once the patch (if any) is applied, by place:
    /// `containers[0]`, `initContainers[app]` (index or name),
    /// `ephemeralContainers[0]`, `volumes[tools]` (the image volume's
    /// `image.reference`), or a JSON pointer (`/spec/containers/0/image`).
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    /// Exact number of host calls (guest log events excluded).
    #[serde(default)]
    pub host_calls: Option<usize>,
}

impl Expectation {
    /// `true` when the case expects `validate_settings` to reject the settings.
    #[must_use]
    pub fn expects_invalid_settings(&self) -> bool {
        self.settings_valid == Some(false)
    }

    /// The rules every expectation follows (see the type's documentation).
    ///
    /// # Errors
    /// The contradiction, as a sentence.
    pub fn check_consistency(&self) -> Result<(), String> {
        if self.expects_invalid_settings() {
            if self.allowed.is_some()
                || self.code.is_some()
                || !self.warnings_contain.is_empty()
                || self.warnings.is_some()
                || !self.audit_annotation_keys.is_empty()
                || self.patch.is_some()
                || !self.images.is_empty()
            {
                return Err(
                    "with \"settingsValid\": false only messageContains, messageNotContains and \
                     hostCalls can be checked"
                        .to_owned(),
                );
            }
        } else if self.allowed.is_none() {
            return Err(
                "the expectation must set \"allowed\" (or \"settingsValid\": false)".to_owned(),
            );
        }
        Ok(())
    }
}

/// Checks `outcome` (and the host calls made) against `expected`.
/// `request_object` is the request's `object`, which the patch applies to
/// for `images`. Returns every mismatch; empty when the case passes.
#[must_use]
pub fn check(
    expected: &Expectation,
    outcome: &Outcome,
    calls: &[HostCall],
    request_object: Option<&Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    match outcome {
        Outcome::SettingsInvalid { message } => {
            if expected.expects_invalid_settings() {
                check_message(expected, message.as_deref(), &mut problems);
            } else {
                problems.push(format!(
                    "settings: expected valid, but validate_settings rejected them: {}",
                    plain(message.as_deref())
                ));
            }
        }
        Outcome::Response(response) => {
            if expected.expects_invalid_settings() {
                problems.push(
                    "settings: expected validate_settings to reject them, but they were accepted"
                        .to_owned(),
                );
            } else {
                check_response(expected, response, request_object, &mut problems);
            }
        }
    }
    if let Some(want) = expected.host_calls {
        if calls.len() != want {
            let list: Vec<String> = calls.iter().map(ToString::to_string).collect();
            problems.push(format!(
                "hostCalls: expected {want}, got {}{}",
                calls.len(),
                if list.is_empty() {
                    String::new()
                } else {
                    format!(": {}", list.join(", "))
                }
            ));
        }
    }
    problems
}

/// What the policy produced, for failure reports.
#[must_use]
pub fn render_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::SettingsInvalid { message } => {
            format!("settings rejected: {}", plain(message.as_deref()))
        }
        Outcome::Response(response) => {
            serde_json::to_string_pretty(response).unwrap_or_else(|e| format!("{response:?} ({e})"))
        }
    }
}

fn check_response(
    expected: &Expectation,
    response: &AdmissionResponse,
    request_object: Option<&Value>,
    problems: &mut Vec<String>,
) {
    if let Some(allowed) = expected.allowed {
        if allowed != response.allowed {
            problems.push(format!(
                "allowed: expected {allowed}, got {}",
                response.allowed
            ));
        }
    }
    if let Some(code) = expected.code {
        if Some(code) != response.code() {
            problems.push(format!(
                "code: expected {code}, got {}",
                response
                    .code()
                    .map_or_else(|| "no code".to_owned(), |c| c.to_string())
            ));
        }
    }
    check_message(expected, response.message(), problems);
    let warnings = response.warnings.clone().unwrap_or_default();
    for want in &expected.warnings_contain {
        if !warnings.iter().any(|w| w.contains(want.as_str())) {
            problems.push(format!(
                "warnings: none contains \"{want}\"; got {}",
                plain_list(&warnings)
            ));
        }
    }
    if let Some(want) = &expected.warnings {
        if *want != warnings {
            problems.push(format!(
                "warnings: expected {}; got {}",
                plain_list(want),
                plain_list(&warnings)
            ));
        }
    }
    let annotations = response.audit_annotations.clone().unwrap_or_default();
    for key in &expected.audit_annotation_keys {
        if !annotations.contains_key(key) {
            let keys: Vec<String> = annotations.keys().cloned().collect();
            problems.push(format!(
                "auditAnnotations: missing key \"{key}\"; got keys {}",
                plain_list(&keys)
            ));
        }
    }
    let patch = if expected.patch.is_some() || !expected.images.is_empty() {
        match response.decoded_patch() {
            Ok(patch) => Some(patch),
            Err(e) => {
                problems.push(format!("patch: cannot decode: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    if let (Some(want), Some(got)) = (&expected.patch, &patch) {
        let got = got.clone().unwrap_or(Value::Null);
        if &got != want {
            problems.push(format!(
                "patch: expected {}\n got {}",
                pretty(want),
                pretty(&got)
            ));
        }
    }
    if let (false, Some(patch)) = (expected.images.is_empty(), &patch) {
        check_images(expected, request_object, patch.as_ref(), problems);
    }
}

fn check_images(
    expected: &Expectation,
    request_object: Option<&Value>,
    patch: Option<&Value>,
    problems: &mut Vec<String>,
) {
    let Some(object) = request_object.filter(|o| !o.is_null()) else {
        problems.push("images: the request has no object to take images from".to_owned());
        return;
    };
    let mut object = object.clone();
    if let Some(ops) = patch {
        let applied = serde_json::from_value::<json_patch::Patch>(ops.clone())
            .map_err(|e| e.to_string())
            .and_then(|p| json_patch::patch(&mut object, &p.0).map_err(|e| e.to_string()));
        if let Err(e) = applied {
            problems.push(format!("images: the policy's patch does not apply: {e}"));
            return;
        }
    }
    for (place, want) in &expected.images {
        match image_at(&object, place) {
            Ok(got) if got == *want => {}
            Ok(got) => problems.push(format!(
                "images: {place}: expected {want}, got {got}{}",
                if patch.is_none() { " (no patch)" } else { "" }
            )),
            Err(e) => problems.push(format!("images: {place}: {e}")),
        }
    }
}

/// The pod spec of a workload: `spec` of a Pod, the job template's pod
/// template of a CronJob, the object itself for the pre-1.22
/// `EphemeralContainers` kind, `spec.template.spec` otherwise.
fn pod_spec(object: &Value) -> Option<&Value> {
    match object.get("kind").and_then(Value::as_str) {
        Some("Pod") => object.get("spec"),
        Some("CronJob") => object.pointer("/spec/jobTemplate/spec/template/spec"),
        Some("EphemeralContainers") => Some(object),
        _ => object.pointer("/spec/template/spec"),
    }
}

/// The image at `place` of `object` (see [`Expectation::images`]).
///
/// # Errors
/// A place that is not understood or not in the object.
pub fn image_at(object: &Value, place: &str) -> Result<String, String> {
    if place.starts_with('/') {
        return match object.pointer(place) {
            Some(Value::String(image)) => Ok(image.clone()),
            Some(other) => Err(format!("not a string: {other}")),
            None => Err("no such path in the object".to_owned()),
        };
    }
    let Some((list, rest)) = place.split_once('[') else {
        return Err(
            "expected containers[N], initContainers[N], ephemeralContainers[N], volumes[N] \
             (N an index or a name) or a JSON pointer"
                .to_owned(),
        );
    };
    let Some(selector) = rest.strip_suffix(']') else {
        return Err("missing the closing ]".to_owned());
    };
    if !matches!(
        list,
        "containers" | "initContainers" | "ephemeralContainers" | "volumes"
    ) {
        return Err(format!("unknown list {list:?}"));
    }
    let entries = pod_spec(object)
        .and_then(|spec| spec.get(list))
        .and_then(Value::as_array)
        .ok_or_else(|| format!("the object has no {list}"))?;
    let entry = match selector.parse::<usize>() {
        Ok(index) => entries
            .get(index)
            .ok_or_else(|| format!("no entry {index}: the object has {}", entries.len()))?,
        Err(_) => entries
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(selector))
            .ok_or_else(|| format!("no entry named {selector:?}"))?,
    };
    let image = if list == "volumes" {
        entry.pointer("/image/reference")
    } else {
        entry.get("image")
    };
    match image {
        Some(Value::String(image)) => Ok(image.clone()),
        Some(other) => Err(format!("the image is not a string: {other}")),
        None => Err(if list == "volumes" {
            "not an image volume with image.reference".to_owned()
        } else {
            "no image".to_owned()
        }),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A message as the user reads it: the text itself (no Rust quoting or
/// escapes, which made `got Some("image …")` of a plain sentence), or
/// `no message`.
fn plain(message: Option<&str>) -> String {
    match message {
        Some(text) => format!("\"{text}\""),
        None => "no message".to_owned(),
    }
}

/// `"a", "b"`, or `none`.
fn plain_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn check_message(expected: &Expectation, message: Option<&str>, problems: &mut Vec<String>) {
    let text = message.unwrap_or_default();
    for want in &expected.message_contains {
        if !text.contains(want.as_str()) {
            problems.push(format!(
                "message: expected to contain \"{want}\", got {}",
                plain(message)
            ));
        }
    }
    for unwanted in &expected.message_not_contains {
        if text.contains(unwanted.as_str()) {
            problems.push(format!(
                "message: expected NOT to contain \"{unwanted}\", got {}",
                plain(message)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    fn expectation(v: Value) -> Expectation {
        serde_json::from_value(v).expect("expectation")
    }

    fn allowed_with_patch(ops: Option<Value>) -> Outcome {
        Outcome::Response(AdmissionResponse {
            uid: "u".into(),
            allowed: true,
            patch_type: ops.as_ref().map(|_| "JSONPatch".to_owned()),
            patch: ops.map(|ops| base64::engine::general_purpose::STANDARD.encode(ops.to_string())),
            ..Default::default()
        })
    }

    #[test]
    fn patch_absent_null_or_ops_and_unknown_fields() {
        assert_eq!(expectation(json!({"allowed": true})).patch, None);
        assert_eq!(
            expectation(json!({"allowed": true, "patch": null})).patch,
            Some(Value::Null)
        );
        assert!(
            serde_json::from_value::<Expectation>(json!({"allowed": true, "typo": 1})).is_err()
        );
    }

    #[test]
    fn consistency_rules() {
        assert!(expectation(json!({"settingsValid": false}))
            .check_consistency()
            .is_ok());
        assert!(expectation(json!({"code": 1})).check_consistency().is_err());
        assert!(
            expectation(json!({"settingsValid": false, "images": {"containers[0]": "a"}}))
                .check_consistency()
                .is_err()
        );
    }

    #[test]
    fn images_after_the_patch_by_index_name_volume_and_pointer() {
        let cronjob = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "r/init:1"}],
            "containers": [{"name": "app", "image": "r/app:1"}],
            "volumes": [{"name": "tools", "image": {"reference": "r/tools:1"}}, {"name": "e", "emptyDir": {}}]
        }}}}}});
        let pinned = "r/app:1@sha256:aa";
        let ops = json!([{"op": "replace",
            "path": "/spec/jobTemplate/spec/template/spec/containers/0/image", "value": pinned}]);
        let outcome = allowed_with_patch(Some(ops));
        let good = expectation(json!({"allowed": true, "images": {
            "containers[0]": pinned, "containers[app]": pinned, "initContainers[init]": "r/init:1",
            "volumes[tools]": "r/tools:1",
            "/spec/jobTemplate/spec/template/spec/containers/0/image": pinned}}));
        assert_eq!(
            check(&good, &outcome, &[], Some(&cronjob)),
            Vec::<String>::new()
        );

        let bad = expectation(json!({"allowed": true, "images": {
            "containers[0]": "r/app:1", "containers[9]": "x", "volumes[e]": "x",
            "sidecars[0]": "x", "initContainers[nope]": "x"}}));
        let problems = check(&bad, &outcome, &[], Some(&cronjob));
        for needle in [
            "images: containers[0]: expected r/app:1, got r/app:1@sha256:aa",
            "images: containers[9]: no entry 9: the object has 1",
            "images: volumes[e]: not an image volume",
            "images: sidecars[0]: unknown list",
            "images: initContainers[nope]: no entry named \"nope\"",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{needle}: {problems:#?}"
            );
        }
        let unpatched = check(&bad, &allowed_with_patch(None), &[], Some(&cronjob));
        assert!(
            unpatched.iter().all(|p| !p.contains("containers[0]")),
            "{unpatched:#?}"
        );
    }

    #[test]
    fn images_of_pods_and_templates() {
        let pod = json!({"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "p"}]}});
        assert_eq!(image_at(&pod, "containers[a]"), Ok("p".to_owned()));
        let deployment = json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "containers": [{"name": "a", "image": "d"}]}}}});
        assert_eq!(image_at(&deployment, "containers[0]"), Ok("d".to_owned()));
        let old = json!({"kind": "EphemeralContainers", "ephemeralContainers": [{"name": "x", "image": "e"}]});
        assert_eq!(image_at(&old, "ephemeralContainers[x]"), Ok("e".to_owned()));
    }

    #[test]
    fn settings_outcomes() {
        let invalid = Outcome::SettingsInvalid {
            message: Some("no authority".into()),
        };
        let want_invalid =
            expectation(json!({"settingsValid": false, "messageContains": ["authority"]}));
        assert!(check(&want_invalid, &invalid, &[], None).is_empty());
        let want_allowed = expectation(json!({"allowed": true}));
        assert!(check(&want_allowed, &invalid, &[], None)[0].contains("expected valid"));
        assert!(
            check(&want_invalid, &allowed_with_patch(None), &[], None)[0]
                .contains("expected validate_settings to reject them")
        );
    }
}
