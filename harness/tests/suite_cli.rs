//! `policy-harness test` and the policy-as-code flags of `run`, on WAT
//! guests (the real policy runs the example in `tests/policy_repo.rs`).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{pod_review, Behavior, Guest, TempDir};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");

fn harness(args: &[&str], cache_dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("POLICY_HARNESS_CACHE_DIR", cache_dir)
        .env_remove("POLICY_HARNESS_NO_CACHE")
        .output()
        .expect("run policy-harness")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(output: &Output) -> Vec<String> {
    text(&output.stdout).lines().map(str::to_owned).collect()
}

fn assert_line(output: &Output, line: &str) {
    let out = text(&output.stdout);
    assert!(
        out.lines().any(|l| l == line),
        "line {line:?} missing from stdout:\n{out}\nstderr:\n{}",
        text(&output.stderr)
    );
}

/// A guest whose `validate` forwards its whole payload to the host as
/// `kubewarden/test/echo`; with no fixture the call fails, and
/// `--trace-host-calls` shows the payload, i.e. what the policy was given.
fn echo_guest() -> Guest {
    Guest {
        validate: Behavior::ForwardToHost {
            namespace: "test".to_owned(),
            operation: "echo".to_owned(),
        },
        ..Guest::default()
    }
}

/// The JSON payload of the first traced host call.
fn traced_payload(stderr: &str) -> Value {
    let line = stderr
        .lines()
        .find(|l| l.contains("#1: kubewarden/test/echo request="))
        .unwrap_or_else(|| panic!("no traced call in:\n{stderr}"));
    let start = line.find("request=").expect("request=") + "request=".len();
    let end = line.rfind(" -> ").expect(" -> ");
    serde_json::from_str(&line[start..end]).expect("payload is JSON")
}

const MANIFEST: &str = "apiVersion: policies.kubewarden.io/v1
kind: AdmissionPolicy
metadata:
  name: team
  namespace: team-a
spec:
  module: registry://ghcr.io/org/policy:v1
  rules:
    - apiGroups: [apps]
      apiVersions: [v1]
      resources: [deployments]
      operations: [CREATE]
  settings:
    attestationAuthorities: [{name: a}]
";

const DEPLOYMENT: &str = "# a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers: [{name: web, image: 'ghcr.io/org/web:1'}]
";

#[test]
fn run_builds_the_review_from_a_policy_manifest_and_a_resource() {
    let dir = TempDir::new("run-policy");
    let module = dir.write("policy.wasm", echo_guest().wasm());
    let manifest = dir.write("policy.yaml", MANIFEST);
    let resource = dir.write("deployment.yaml", DEPLOYMENT);
    let output = harness(
        &[
            "run",
            "--policy",
            &manifest.display().to_string(),
            "--resource",
            &resource.display().to_string(),
            "--trace-host-calls",
            &module.display().to_string(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let payload = traced_payload(&text(&output.stderr));
    assert_eq!(
        payload["settings"],
        json!({"attestationAuthorities": [{"name": "a"}]})
    );
    let request = &payload["request"];
    assert_eq!(
        request["kind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert_eq!(
        request["resource"],
        json!({"group": "apps", "version": "v1", "resource": "deployments"})
    );
    assert_eq!(request["requestKind"], request["kind"]);
    assert_eq!(request["name"], "web");
    // The AdmissionPolicy's namespace is the default namespace.
    assert_eq!(request["namespace"], "team-a");
    assert_eq!(request["object"]["metadata"]["namespace"], "team-a");
    assert_eq!(request["operation"], "CREATE");
    assert_eq!(request["dryRun"], false);
    assert_eq!(request["uid"].as_str().map(str::len), Some(36));
    // The response is the guest error (the echo call has no fixture).
    let response: Value = serde_json::from_str(text(&output.stdout).trim()).expect("json");
    assert_eq!(response["uid"], request["uid"]);
}

#[test]
fn run_replays_a_kwctl_session_and_notes_requests_the_rules_skip() {
    let dir = TempDir::new("run-replay");
    let guest = Guest {
        validate: Behavior::host_call("oci", "v1/manifest_digest", r#""ghcr.io/org/app:1""#),
        ..Guest::default()
    };
    let module = dir.write("policy.wasm", guest.wasm());
    let session = dir.write(
        "session.yml",
        "---\n- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: ghcr.io/org/app:1\n  response:\n    type: Success\n    payload: '{\"accepted\":false,\"message\":\"from the recording\"}'\n",
    );
    let request = dir.write(
        "request.json",
        pod_review("u1", "ghcr.io/org/app:1").to_string(),
    );
    let manifest = dir.write("policy.yaml", MANIFEST);
    let output = harness(
        &[
            "run",
            "--policy",
            &manifest.display().to_string(),
            "--request-path",
            &request.display().to_string(),
            "--replay-host-capabilities-interactions",
            &session.display().to_string(),
            &module.display().to_string(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let response: Value = serde_json::from_str(text(&output.stdout).trim()).expect("json");
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["message"], "from the recording");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "would not reach the policy (AdmissionPolicy team governs namespace team-a only"
        ),
        "{stderr}"
    );

    // The same recording through --host-capabilities (either format is read).
    let output = harness(
        &[
            "run",
            "--request-path",
            &request.display().to_string(),
            "--host-capabilities",
            &session.display().to_string(),
            &module.display().to_string(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("from the recording"));
}

#[test]
fn run_refuses_conflicting_inputs() {
    let dir = TempDir::new("run-conflicts");
    let module = dir.write("policy.wasm", Guest::default().wasm());
    let manifest = dir.write("policy.yaml", MANIFEST);
    let resource = dir.write("two.yaml", format!("{DEPLOYMENT}---\n{DEPLOYMENT}"));
    let m = module.display().to_string();
    let p = manifest.display().to_string();
    let r = resource.display().to_string();
    let cache = dir.path().join("cache");
    let out = harness(
        &[
            "run",
            "--policy",
            &p,
            "--settings-json",
            "{}",
            "--resource",
            &r,
            &m,
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = harness(&["run", "--resource", &r, "--request-path", &r, &m], &cache);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = harness(&["run", &m], &cache);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = harness(&["run", "--resource", &r, &m], &cache);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("holds 2 documents"),
        "{}",
        text(&out.stderr)
    );
}

/// A suite folder: a guest that rejects every request with a fixed message.
fn rejecting_repo(dir: &TempDir) {
    let guest = Guest {
        validate: Behavior::respond(
            r#"{"accepted":false,"message":"image ghcr.io/org/web:1 is not attested","code":403}"#,
        ),
        ..Guest::default()
    };
    dir.write("module/policy.wasm", guest.wasm());
    dir.write(
        "policies/cluster.yaml",
        MANIFEST
            .replace("kind: AdmissionPolicy", "kind: ClusterAdmissionPolicy")
            .replace("  namespace: team-a\n", "")
            .replace(
                "module: registry://ghcr.io/org/policy:v1",
                "module: file://../module/policy.wasm",
            ),
    );
    dir.write("workloads/web.yaml", DEPLOYMENT);
    dir.write(
        "policy-tests.yaml",
        "policy: policies/cluster.yaml
cases:
  - name: web is rejected
    resource: workloads/web.yaml
    expect:
      allowed: false
      code: 403
      messageContains: [not attested]
  - name: web is admitted (wrong on purpose)
    resource: workloads/web.yaml
    namespace: prod
    expect:
      allowed: true
  - name: pods are not sent to the policy
    resource: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: []}}
    expect:
      allowed: true
  - name: a case whose file is missing
    resource: workloads/missing.yaml
    expect:
      allowed: true
",
    );
    dir.write("workloads/not-a-suite.yaml", "kind: Nothing\n");
}

#[test]
fn test_prints_one_line_per_case_and_fails_on_any_failure() {
    let dir = TempDir::new("test-text");
    rejecting_repo(&dir);
    let root = dir.path().display().to_string();
    let output = harness(&["test", &root], &dir.path().join("cache"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_line(&output, &format!("suite {root}/policy-tests.yaml"));
    assert_line(
        &output,
        &format!("  policy: {root}/policies/cluster.yaml (ClusterAdmissionPolicy team)"),
    );
    assert_line(
        &output,
        &format!("  module: {root}/policies/../module/policy.wasm"),
    );
    assert_line(&output, "  PASS web is rejected");
    assert_line(
        &output,
        "  FAIL web is admitted (wrong on purpose): allowed: expected true, got false; \
         the policy said: image ghcr.io/org/web:1 is not attested",
    );
    assert_line(
        &output,
        "  PASS pods are not sent to the policy (not sent to the policy: no rule of spec.rules \
         matches CREATE core/v1 pods)",
    );
    let out = lines(&output);
    let missing = out
        .iter()
        .find(|l| l.starts_with("  FAIL a case whose file is missing: cannot run the case: "))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(
        missing.contains("policy-tests.yaml: cases[3].resource: cannot read resource file"),
        "{missing}"
    );
    assert_line(
        &output,
        "summary: 1 suite(s), 4 case(s): 2 passed, 2 failed, 0 not run — FAILED",
    );
}

#[test]
fn test_junit_output() {
    let dir = TempDir::new("test-junit");
    rejecting_repo(&dir);
    let root = dir.path().display().to_string();
    let output = harness(
        &["test", "--output", "junit", &root],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(1));
    let xml = text(&output.stdout);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "),
        "{xml}"
    );
    for needle in [
        "<testsuites name=\"policy-harness\" tests=\"4\" failures=\"2\" errors=\"0\" skipped=\"0\"",
        &format!("<testsuite name=\"{root}/policy-tests.yaml\" tests=\"4\" failures=\"2\""),
        "<testcase name=\"web is rejected\"",
        "<failure message=\"allowed: expected true, got false; the policy said: image ghcr.io/org/web:1 is not attested\" type=\"expectation\">",
        "</testsuites>",
    ] {
        assert!(xml.contains(needle), "{needle:?} missing:\n{xml}");
    }
    assert_eq!(xml.matches("<testcase ").count(), 4);
}

#[test]
fn module_override_settings_files_and_invalid_settings() {
    let dir = TempDir::new("test-settings");
    let guest = Guest {
        validate_settings: Behavior::respond(
            r#"{"valid":false,"message":"attestationAuthorities[0].publicKeyData: not a PEM public key"}"#,
        ),
        ..Guest::default()
    };
    let module = dir.write("built.wasm", guest.wasm());
    dir.write("policies/cluster.yaml", MANIFEST);
    dir.write(
        "cluster-test.yaml",
        "policy: policies/cluster.yaml
cases:
  - name: anything
    resource: {apiVersion: apps/v1, kind: Deployment, metadata: {name: w}}
    expect: {allowed: true}
  - name: the settings are refused
    resource: {apiVersion: apps/v1, kind: Deployment, metadata: {name: w}}
    expect:
      settingsValid: false
      messageContains: [not a PEM public key]
",
    );
    let root = dir.path().display().to_string();
    let output = harness(
        &["test", "--module", &module.display().to_string(), &root],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_line(
        &output,
        &format!(
            "  FAIL (suite): settings are not valid: {root}/policies/cluster.yaml (AdmissionPolicy team): \
             spec.settings.attestationAuthorities[0].publicKeyData: not a PEM public key"
        ),
    );
    assert_line(
        &output,
        "  SKIP anything: not run, the settings are not valid",
    );
    assert_line(&output, "  PASS the settings are refused");
}

#[test]
fn invalid_suites_name_the_file_and_the_yaml_path() {
    let dir = TempDir::new("test-invalid");
    let module = dir.write("p.wasm", Guest::default().wasm());
    let suite = dir.write(
        "typo-test.yaml",
        "settings: {}\ncases:\n  - name: a\n    resource: {apiVersion: v1, kind: Pod, metadata: {name: p}}\n    expect: {allowed: true, messageContain: [x]}\n",
    );
    let output = harness(
        &[
            "test",
            "--module",
            &module.display().to_string(),
            &suite.display().to_string(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(1));
    let out = text(&output.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("  FAIL (suite): cannot load the suite: invalid suite file "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("typo-test.yaml"), "{line}");
    assert!(
        line.contains("cases[0].expect: unknown field `messageContain`"),
        "{line}"
    );

    let nothing = TempDir::new("test-nothing");
    nothing.write("README.md", "no suite here");
    let output = harness(
        &["test", &nothing.path().display().to_string()],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no suite under"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn golden_case_folders_are_suites() {
    let dir = TempDir::new("test-golden");
    let guest = Guest {
        validate: Behavior::respond(r#"{"accepted":false,"message":"no","code":403}"#),
        ..Guest::default()
    };
    let module = dir.write("p.wasm", guest.wasm());
    for (name, expected) in [
        ("golden/rejects", json!({"allowed": false, "code": 403})),
        ("golden/admits", json!({"allowed": true})),
    ] {
        dir.write(
            &format!("{name}/request.json"),
            pod_review("u", "a:1").to_string(),
        );
        dir.write(&format!("{name}/settings.json"), "{}");
        dir.write(&format!("{name}/expected.json"), expected.to_string());
    }
    let golden = dir.path().join("golden");
    let output = harness(
        &[
            "test",
            "--module",
            &module.display().to_string(),
            &golden.display().to_string(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_line(
        &output,
        &format!("golden cases (module {})", module.display()),
    );
    assert_line(
        &output,
        "  FAIL admits: allowed: expected true, got false; the policy said: no",
    );
    assert_line(&output, "  PASS rejects");
    // One golden folder on its own.
    let output = harness(
        &[
            "test",
            "--module",
            &module.display().to_string(),
            &golden.join("rejects").display().to_string(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
}
