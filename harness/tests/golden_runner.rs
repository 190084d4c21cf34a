//! The golden runner itself, on a temporary directory of cases served by a
//! WAT guest (the real cases in `golden/` need the real policy; see
//! `tests/golden.rs`).

mod common;

use common::{pod_review, Behavior, Guest, TempDir};
use policy_harness::golden::{discover, run_dir};
use policy_harness::host::cache::CacheMode;
use policy_harness::{Limits, PolicyModule};
use serde_json::json;

/// Guest: validate asks the host for the digest of a fixed image and returns
/// the host's answer; settings with `"bad": true` … are not inspected, so
/// settings validity is driven by a second guest.
fn host_driven_policy() -> PolicyModule {
    let guest = Guest {
        validate: Behavior::host_call("oci", "v1/manifest_digest", r#""ghcr.io/org/app:1""#),
        ..Guest::default()
    };
    PolicyModule::from_bytes(&guest.wasm(), Limits::default(), &CacheMode::Disabled)
        .expect("policy")
}

fn write_case(
    root: &TempDir,
    name: &str,
    settings_file: &str,
    caps: Option<serde_json::Value>,
    expected: serde_json::Value,
) {
    root.write(
        &format!("{name}/request.json"),
        pod_review(name, "ghcr.io/org/app:1").to_string(),
    );
    root.write(&format!("{name}/{settings_file}"), "{}");
    if let Some(caps) = caps {
        root.write(&format!("{name}/host-capabilities.json"), caps.to_string());
    }
    root.write(&format!("{name}/expected.json"), expected.to_string());
}

fn answer(response: serde_json::Value) -> serde_json::Value {
    json!([{"namespace": "oci", "operation": "v1/manifest_digest", "request": "ghcr.io/org/app:1",
            "response": response}])
}

#[test]
fn passing_and_failing_cases_are_all_reported() {
    let root = TempDir::new("golden");
    // Passing cases.
    write_case(
        &root,
        "accept",
        "settings.json",
        Some(answer(
            json!({"accepted": true, "warnings": ["unsigned sidecar"], "audit_annotations": {"kritis/x": "y"}}),
        )),
        json!({"allowed": true, "warningsContain": ["sidecar"], "auditAnnotationKeys": ["kritis/x"],
               "patch": null, "hostCalls": 1}),
    );
    write_case(
        &root,
        "reject",
        "settings.json",
        Some(answer(
            json!({"accepted": false, "message": "image ghcr.io/org/app:1 is not attested", "code": 403}),
        )),
        json!({"allowed": false, "code": 403, "messageContains": ["not attested"], "messageNotContains": ["panic"]}),
    );
    write_case(
        &root,
        "mutate",
        "settings.json",
        Some(answer(
            json!({"accepted": true, "mutated_object": {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "ghcr.io/org/app@sha256:00"}]}}}),
        )),
        json!({"allowed": true,
               "patch": [{"op": "replace", "path": "/spec/containers/0/image", "value": "ghcr.io/org/app@sha256:00"}]}),
    );
    write_case(
        &root,
        "no-fixture-is-500",
        "settings.json",
        None,
        json!({"allowed": false, "code": 500, "messageContains": ["no matching fixture for host call"], "hostCalls": 1}),
    );
    // Failing cases.
    write_case(
        &root,
        "wrong-allowed",
        "settings.json",
        Some(answer(json!({"accepted": true}))),
        json!({"allowed": false, "hostCalls": 0}),
    );
    write_case(
        &root,
        "wrong-message",
        "settings.json",
        Some(answer(json!({"accepted": false, "message": "denied"}))),
        json!({"allowed": false, "messageContains": ["attested"], "messageNotContains": ["denied"], "code": 403}),
    );
    write_case(
        &root,
        "wrong-patch",
        "settings.json",
        Some(answer(json!({"accepted": true}))),
        json!({"allowed": true, "patch": [{"op": "add", "path": "/x", "value": 1}]}),
    );
    write_case(
        &root,
        "settings-expected-invalid",
        "settings-invalid.json",
        Some(answer(json!({"accepted": true}))),
        json!({"settingsValid": false, "messageContains": ["x"]}),
    );
    write_case(
        &root,
        "broken-expected",
        "settings.json",
        None,
        json!({"allowed": true, "typo": 1}),
    );
    root.write("no-request/settings.json", "{}");
    root.write("no-request/expected.json", r#"{"allowed": true}"#);
    root.write("README.md", "not a case");

    let policy = host_driven_policy();
    let report = run_dir(&policy, root.path()).expect("runs");
    let rendered = report.render();
    assert_eq!(report.total, 10, "{rendered}");
    let failed: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        failed,
        [
            "broken-expected",
            "no-request",
            "settings-expected-invalid",
            "wrong-allowed",
            "wrong-message",
            "wrong-patch"
        ],
        "{rendered}"
    );
    for needle in [
        "golden: 10 case(s), 4 passed, 6 failed",
        "allowed: expected false, got true",
        "hostCalls: expected 0, got 1",
        "message: expected to contain \"attested\"",
        "message: expected NOT to contain \"denied\"",
        "code: expected 403, got no code",
        "patch: expected",
        "unknown field `typo`",
        "request.json",
        "expected validate_settings to reject them",
    ] {
        assert!(
            rendered.contains(needle),
            "{needle:?} missing from:\n{rendered}"
        );
    }
}

#[test]
fn settings_invalid_cases() {
    let guest = Guest {
        validate_settings: Behavior::respond(r#"{"valid":false,"message":"no trusted authority"}"#),
        ..Guest::default()
    };
    let policy = PolicyModule::from_bytes(&guest.wasm(), Limits::default(), &CacheMode::Disabled)
        .expect("policy");
    let root = TempDir::new("golden-settings");
    write_case(
        &root,
        "ok",
        "settings-invalid.json",
        None,
        json!({"settingsValid": false, "messageContains": ["trusted authority"], "hostCalls": 0}),
    );
    write_case(
        &root,
        "wrong-text",
        "settings-invalid.json",
        None,
        json!({"settingsValid": false, "messageContains": ["something else"]}),
    );
    write_case(
        &root,
        "expected-valid",
        "settings.json",
        None,
        json!({"allowed": true}),
    );
    let report = run_dir(&policy, root.path()).expect("runs");
    let failed: Vec<&str> = report.failures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        failed,
        ["expected-valid", "wrong-text"],
        "{}",
        report.render()
    );
}

#[test]
fn evaluation_errors_are_case_failures() {
    let guest = Guest {
        validate: Behavior::Trap,
        ..Guest::default()
    };
    let policy = PolicyModule::from_bytes(&guest.wasm(), Limits::default(), &CacheMode::Disabled)
        .expect("policy");
    let root = TempDir::new("golden-trap");
    write_case(
        &root,
        "trap",
        "settings.json",
        None,
        json!({"allowed": true}),
    );
    let report = run_dir(&policy, root.path()).expect("runs");
    assert!(!report.passed());
    assert!(
        report.render().contains("policy trapped during `validate`"),
        "{}",
        report.render()
    );
}

#[test]
fn empty_or_missing_golden_dir_is_an_error() {
    let root = TempDir::new("golden-empty");
    root.write(".hidden/expected.json", "{}");
    let err = discover(root.path()).expect_err("no case");
    assert!(format!("{err:#}").contains("has no case folder"));
    assert!(discover(&root.path().join("missing")).is_err());
}
