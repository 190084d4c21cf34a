//! `annotate`, `inspect`, `push` and `run --allow-network`, without a
//! registry (the real-registry end-to-end test is `registry-e2e.sh`).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use common::{pod_review, Behavior, Guest, TempDir};
use policy_harness::host::capabilities::{HostCallOutcome, LiveAnswer, LiveCapabilities};
use policy_harness::oci::metadata::{custom_sections, read_metadata, METADATA_SECTION};
use policy_harness::{HostCapabilities, HostEnvironment};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");

const METADATA: &str = r#"
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
mutating: false
contextAware: false
executionMode: kubewarden-wapc
annotations:
  io.kubewarden.policy.title: test-policy
  io.kubewarden.policy.source: https://example.com/src
"#;

fn harness(args: &[&str], dir: &TempDir) -> Output {
    Command::new(BIN)
        .args(args)
        .env("POLICY_HARNESS_CACHE_DIR", dir.path().join("cache"))
        .output()
        .expect("run policy-harness")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn annotate_embeds_kwctl_metadata_and_the_module_still_runs() {
    let dir = TempDir::new("annotate");
    let module = dir.write("policy.wasm", Guest::default().wasm());
    let meta = dir.write("metadata.yml", METADATA);
    let usage = dir.write("README.md", "# usage\n\nline two\n");
    let out = dir.path().join("annotated.wasm");
    let o = harness(
        &[
            "annotate",
            "--metadata-path",
            s(&meta),
            "--usage-path",
            s(&usage),
            "--output-path",
            s(&out),
            s(&module),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));

    let annotated = std::fs::read(&out).unwrap();
    assert_eq!(
        custom_sections(&annotated, METADATA_SECTION).unwrap().len(),
        1
    );
    let metadata = read_metadata(&annotated).unwrap().expect("annotated");
    assert_eq!(metadata["protocolVersion"], "v1");
    assert_eq!(metadata["mutating"], false);
    assert_eq!(metadata["backgroundAudit"], true);
    assert_eq!(metadata["executionMode"], "kubewarden-wapc");
    assert_eq!(metadata["policyType"], "kubernetes");
    assert_eq!(metadata["contextAwareResources"], json!([]));
    assert_eq!(metadata["contextAware"], false);
    assert_eq!(metadata["rules"][0]["apiGroups"], json!([""]));
    assert_eq!(
        metadata["annotations"]["io.kubewarden.policy.usage"],
        "# usage\n\nline two\n"
    );

    // inspect --json prints exactly the embedded JSON; the text form reads it.
    let o = harness(&["inspect", "--json", s(&out)], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, metadata);
    let o = harness(&["inspect", s(&out)], &dir);
    let report = text(&o.stdout);
    assert!(o.status.success());
    for needle in [
        "test-policy",
        "protocol version:",
        "kubewarden-wapc",
        "Rules",
        "Usage",
        "line two",
    ] {
        assert!(report.contains(needle), "{needle} in\n{report}");
    }

    // Annotating the annotated module replaces the section.
    let again = dir.path().join("again.wasm");
    let o = harness(
        &["annotate", "-m", s(&meta), "-o", s(&again), s(&out)],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let again_bytes = std::fs::read(&again).unwrap();
    assert_eq!(
        custom_sections(&again_bytes, METADATA_SECTION)
            .unwrap()
            .len(),
        1
    );
    let m2 = read_metadata(&again_bytes).unwrap().unwrap();
    assert!(m2["annotations"]
        .get("io.kubewarden.policy.usage")
        .is_none());

    // The annotated module runs like the original.
    let request = dir.write(
        "request.json",
        pod_review("uid-1", "a@sha256:00").to_string(),
    );
    let o = harness(&["run", "--request-path", s(&request), s(&out)], &dir);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let response: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(response["allowed"], true);
}

#[test]
fn annotate_refuses_bad_input() {
    let dir = TempDir::new("annotate-bad");
    let good = dir.write("policy.wasm", Guest::default().wasm());
    let v2 = dir.write(
        "v2.wasm",
        Guest {
            protocol_version: Behavior::respond(r#""v2""#),
            ..Guest::default()
        }
        .wasm(),
    );
    let meta = dir.write("metadata.yml", METADATA);
    let bad_meta = dir.write("bad.yml", "rules: []\nmutating: maybe\n");
    let not_wasm = dir.write("x.wasm", "hello");
    let out = dir.path().join("out.wasm");
    for (module, metadata, expected) in [
        (&v2, &meta, "protocol version"),
        (&good, &bad_meta, "mutating"),
        (&not_wasm, &meta, "policy-harness: error"),
    ] {
        let o = harness(
            &["annotate", "-m", s(metadata), "-o", s(&out), s(module)],
            &dir,
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains(expected), "{}", text(&o.stderr));
        assert!(!out.exists());
    }
}

#[test]
fn inspect_and_push_need_metadata() {
    let dir = TempDir::new("inspect");
    let module = dir.write("policy.wasm", Guest::default().wasm());
    let o = harness(&["inspect", s(&module)], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no Kubewarden metadata"),
        "{}",
        text(&o.stderr)
    );
    // Refused before any network access.
    let o = harness(&["push", s(&module), "registry://127.0.0.1:1/p:1"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
}

#[test]
fn unreachable_registry_modules_fail_cleanly() {
    let dir = TempDir::new("pull");
    let request = dir.write(
        "request.json",
        pod_review("uid-1", "a@sha256:00").to_string(),
    );
    // Port 1 on loopback: connection refused, nothing leaves the machine.
    let o = harness(
        &[
            "run",
            "--request-path",
            s(&request),
            "registry://127.0.0.1:1/p:1",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot pull the policy registry://127.0.0.1:1/p:1"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn allow_network_resolves_live_and_reports_registry_errors() {
    let dir = TempDir::new("live");
    let guest = Guest {
        validate: Behavior::host_call("oci", "v1/manifest_digest", r#""127.0.0.1:1/team/app:v1""#),
        ..Guest::default()
    };
    let module = dir.write("policy.wasm", guest.wasm());
    let request = dir.write("request.json", pod_review("uid-1", "a:1").to_string());

    // Without the flag: the call is unexpected.
    let o = harness(
        &[
            "run",
            "--request-path",
            s(&request),
            "--trace-host-calls",
            s(&module),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("no matching fixture"),
        "{}",
        text(&o.stdout)
    );

    // With it: the registry is asked (and refuses the connection).
    let o = harness(
        &[
            "run",
            "--request-path",
            s(&request),
            "--allow-network",
            "--trace-host-calls",
            s(&module),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("cannot resolve 127.0.0.1:1/team/app:v1"),
        "{stdout}"
    );
    assert!(
        text(&o.stderr).contains("live error"),
        "{}",
        text(&o.stderr)
    );

    // A fixture still wins.
    let fixtures = dir.write(
        "caps.json",
        json!([{"namespace": "oci", "operation": "v1/manifest_digest",
                "request": "127.0.0.1:1/team/app:v1",
                "response": {"digest": "sha256:abc"}}])
        .to_string(),
    );
    let o = harness(
        &[
            "run",
            "--request-path",
            s(&request),
            "--allow-network",
            "--host-capabilities",
            s(&fixtures),
            s(&module),
        ],
        &dir,
    );
    // The guest answers the host's response verbatim, which is not a
    // ValidationResponse: an error that quotes the fixture's answer.
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("sha256:abc"),
        "{}",
        text(&o.stderr)
    );
}

#[derive(Debug)]
struct FakeRegistry;

impl LiveCapabilities for FakeRegistry {
    fn call(
        &self,
        _: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Option<LiveAnswer> {
        if (namespace, operation) != ("oci", "v1/manifest_digest") {
            return None;
        }
        let image: String = serde_json::from_slice(payload).ok()?;
        Some(if image.ends_with(":down") {
            Err("registry down".to_owned())
        } else {
            Ok(br#"{"digest":"sha256:live"}"#.to_vec())
        })
    }
}

#[test]
fn fixtures_win_then_live_then_unexpected() {
    let caps = HostCapabilities::from_json_str(
        &json!([{"namespace": "oci", "operation": "v1/manifest_digest",
                 "request": "r/app:fixture", "response": {"digest": "sha256:fixture"}}])
        .to_string(),
    )
    .unwrap();
    let env = HostEnvironment::new(caps).with_live(Arc::new(FakeRegistry));
    let call = |payload: &str| {
        env.host_call(
            "kubewarden",
            "oci",
            "v1/manifest_digest",
            payload.as_bytes(),
        )
    };
    assert_eq!(
        call(r#""r/app:fixture""#).unwrap(),
        br#"{"digest":"sha256:fixture"}"#
    );
    assert_eq!(
        call(r#""r/app:v1""#).unwrap(),
        br#"{"digest":"sha256:live"}"#
    );
    assert_eq!(
        call(r#""r/app:down""#).unwrap_err().to_string(),
        "registry down"
    );
    let other = env
        .host_call("kubewarden", "net", "v1/dns_lookup_host", br#""x""#)
        .unwrap_err()
        .to_string();
    assert!(other.contains("no matching fixture"), "{other}");
    let outcomes: Vec<HostCallOutcome> = env.calls().into_iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            HostCallOutcome::Response,
            HostCallOutcome::Live,
            HostCallOutcome::LiveError,
            HostCallOutcome::Unexpected
        ]
    );
}
