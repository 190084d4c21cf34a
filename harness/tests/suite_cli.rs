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
        "apiVersion: policy-harness.kritis.dev/v1
kind: Suite
policy: policies/cluster.yaml
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
        "apiVersion: policy-harness.kritis.dev/v1
kind: Suite
policy: policies/cluster.yaml
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
        "apiVersion: policy-harness.kritis.dev/v1\nkind: Suite\nsettings: {}\ncases:\n  - name: a\n    resource: {apiVersion: v1, kind: Pod, metadata: {name: p}}\n    expect: {allowed: true, messageContain: [x]}\n",
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

const SUITE_HEADER: &str = "apiVersion: policy-harness.kritis.dev/v1\nkind: Suite\n";

/// A suite of two cases on a guest that rejects with `message`.
fn two_case_suite(dir: &TempDir, file: &str, header: &str, message: &str) -> String {
    let guest = Guest {
        validate: Behavior::respond(
            json!({"accepted": false, "message": message, "code": 403}).to_string(),
        ),
        ..Guest::default()
    };
    let module = dir.write("p.wasm", guest.wasm());
    dir.write(
        file,
        format!(
            "{header}name: two cases
settings: {{}}
cases:
  - name: web is rejected
    resource: {{apiVersion: v1, kind: Pod, metadata: {{name: web}}}}
    expect: {{allowed: false, messageContains: [not attested]}}
  - name: api is admitted
    resource: {{apiVersion: v1, kind: Pod, metadata: {{name: api}}}}
    expect: {{allowed: true, messageContains: [\"nothing\"]}}
"
        ),
    );
    module.display().to_string()
}

#[test]
fn other_tools_test_files_are_skipped_and_versions_are_checked() {
    let dir = TempDir::new("test-identity");
    let module = two_case_suite(&dir, "repo/app-test.yaml", SUITE_HEADER, "not attested");
    // Other tools' files of the same names: skipped, not run.
    dir.write(
        "repo/kyverno-test.yaml",
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata: {name: t}\npolicies: [p.yaml]\nresources: [r.yaml]\nresults: []\n",
    );
    dir.write(
        "repo/chainsaw/chainsaw-test.yaml",
        "apiVersion: chainsaw.kyverno.io/v1alpha1\nkind: Test\nmetadata: {name: t}\nspec: {steps: []}\n",
    );
    dir.write(
        "repo/gator-test.yaml",
        "apiVersion: test.gatekeeper.sh/v1alpha1\nkind: Suite\ntests: []\n",
    );
    let repo = dir.path().join("repo").display().to_string();
    let cache = dir.path().join("cache");
    let output = harness(
        &["test", "--module", &module, "--run", "rejected", &repo],
        &cache,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert_line(&output, "  PASS web is rejected");
    assert!(text(&output.stderr).is_empty(), "{}", text(&output.stderr));
    // -v says which and why.
    let output = harness(
        &[
            "test", "-v", "--module", &module, "--run", "rejected", &repo,
        ],
        &cache,
    );
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    for line in [
        format!("policy-harness: skipped {repo}/chainsaw/chainsaw-test.yaml: not a policy-harness suite (apiVersion chainsaw.kyverno.io/v1alpha1, kind Test)"),
        format!("policy-harness: skipped {repo}/gator-test.yaml: not a policy-harness suite (apiVersion test.gatekeeper.sh/v1alpha1, kind Suite)"),
        format!("policy-harness: skipped {repo}/kyverno-test.yaml: not a policy-harness suite (apiVersion cli.kyverno.io/v1alpha1, kind Test)"),
    ] {
        assert!(stderr.lines().any(|l| l == line), "{line}\n{stderr}");
    }
    // Named on the command line, another tool's file is refused.
    let output = harness(
        &[
            "test",
            "--module",
            &module,
            &format!("{repo}/kyverno-test.yaml"),
        ],
        &cache,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("kyverno-test.yaml is not a policy-harness suite (apiVersion cli.kyverno.io/v1alpha1, kind Test): a suite starts with `apiVersion: policy-harness.kritis.dev/v1` and `kind: Suite`"),
        "{}",
        text(&output.stdout)
    );
    // Our group, a version this binary does not read: an error, not a skip.
    dir.write(
        "repo/future-test.yaml",
        "apiVersion: policy-harness.kritis.dev/v2\nkind: Suite\ncases: []\n",
    );
    let output = harness(&["test", "--module", &module, &repo], &cache);
    assert_eq!(output.status.code(), Some(1));
    assert_line(
        &output,
        &format!(
            "  FAIL (suite): cannot load the suite: {repo}/future-test.yaml: apiVersion \
             policy-harness.kritis.dev/v2 is not known to this policy-harness (it reads \
             policy-harness.kritis.dev/v1); upgrade policy-harness, or write the suite in the \
             policy-harness.kritis.dev/v1 format"
        ),
    );
}

#[test]
fn suites_without_a_header_still_run_with_a_warning() {
    let dir = TempDir::new("test-legacy");
    let module = two_case_suite(&dir, "old-test.yaml", "", "not attested");
    let root = dir.path().display().to_string();
    let output = harness(
        &["test", "--module", &module, "--run", "web", &root],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert_line(&output, "  PASS web is rejected");
    assert!(
        text(&output.stderr).contains(&format!(
            "policy-harness: warning: {root}/old-test.yaml has no apiVersion/kind: add \
             `apiVersion: policy-harness.kritis.dev/v1` and `kind: Suite`"
        )),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn run_selects_cases_by_name_and_junit_goes_to_a_file_in_the_same_run() {
    let dir = TempDir::new("test-select");
    let module = two_case_suite(
        &dir,
        "app-test.yaml",
        SUITE_HEADER,
        "image \"x\" is not attested",
    );
    let root = dir.path().display().to_string();
    let cache = dir.path().join("cache");
    // Everything: one failure, printed as plain text (no Rust quoting).
    let junit = dir.path().join("report.xml");
    let output = harness(
        &[
            "test",
            "--module",
            &module,
            "--junit",
            &junit.display().to_string(),
            &root,
        ],
        &cache,
    );
    assert_eq!(output.status.code(), Some(1));
    let failure = "  FAIL api is admitted: allowed: expected true, got false; message: expected \
                   to contain \"nothing\", got \"image \"x\" is not attested\"";
    assert_line(&output, failure);
    assert!(!text(&output.stdout).contains("Some("));
    let xml = std::fs::read_to_string(&junit).expect("JUnit written");
    assert!(
        xml.contains(
            "message: expected to contain &quot;nothing&quot;, got &quot;image &quot;x&quot; is not attested&quot;"
        ),
        "{xml}"
    );
    assert!(!xml.contains("Some("), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2);
    // One case by a substring of its name, -o junit on stdout.
    let output = harness(
        &[
            "test", "--module", &module, "--run", "rejected", "-o", "junit", &root,
        ],
        &cache,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let xml = text(&output.stdout);
    assert_eq!(xml.matches("<testcase ").count(), 1, "{xml}");
    assert!(xml.contains("name=\"web is rejected\""), "{xml}");
    // A suite's name selects all its cases; several --run add up.
    let output = harness(
        &["test", "--module", &module, "--run", "two cases", &root],
        &cache,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_line(&output, "  PASS web is rejected");
    assert_line(&output, failure);
    // Nothing selected: an error, not a green run.
    let output = harness(
        &["test", "--module", &module, "--run", "Web is", &root],
        &cache,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("--run Web is: no case of the suites found"),
        "{}",
        text(&output.stderr)
    );
}

/// A guest that admits with a mutated object (a pinned image).
fn pinning_guest() -> Guest {
    Guest {
        validate: Behavior::respond(
            json!({"accepted": true, "mutated_object": {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "team-a"},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "web", "image": "ghcr.io/org/web:1@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}}}}})
            .to_string(),
        ),
        ..Guest::default()
    }
}

#[test]
fn a_patch_from_a_non_mutating_policy_is_refused_as_policy_server_does() {
    let dir = TempDir::new("test-mutating");
    let module = dir
        .write("p.wasm", pinning_guest().wasm())
        .display()
        .to_string();
    let suite = format!(
        "{SUITE_HEADER}policy: policy.yaml
cases:
  - name: web is pinned
    resource: web.yaml
    namespace: team-a
    expect:
      allowed: true
      images: {{\"containers[web]\": \"ghcr.io/org/web:1@sha256:0000000000000000000000000000000000000000000000000000000000000000\"}}
"
    );
    dir.write("app-test.yaml", &suite);
    dir.write("web.yaml", DEPLOYMENT);
    let cache = dir.path().join("cache");
    let root = dir.path().display().to_string();
    let policy_server_message = "Request rejected by policy namespaced-team-a-team. The policy \
        attempted to mutate the request, but it is currently configured to not allow mutations.";
    for (mutating, passes) in [
        ("", false),
        ("  mutating: false\n", false),
        ("  mutating: true\n", true),
        ("  mutating: false\n  mode: monitor\n", true),
    ] {
        dir.write(
            "policy.yaml",
            MANIFEST.replace("  rules:\n", &format!("{mutating}  rules:\n")),
        );
        let output = harness(&["test", "--module", &module, &root], &cache);
        let out = text(&output.stdout);
        if passes {
            assert_eq!(output.status.code(), Some(0), "{mutating}\n{out}");
            assert_line(&output, "  PASS web is pinned");
            continue;
        }
        assert_eq!(output.status.code(), Some(1), "{mutating}\n{out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("  FAIL web is pinned: allowed: expected true, got false"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            line.contains(&format!("the policy said: {policy_server_message}")),
            "{line}"
        );
        assert!(
            line.contains(
                "Fix: set spec.mutating: true in the manifest, or set \
                           spec.settings.mutateToDigest: false"
            ),
            "{line}"
        );
        assert!(
            line.contains(if mutating.is_empty() {
                "has no spec.mutating (false)"
            } else {
                "has spec.mutating: false"
            }),
            "{line}"
        );
    }

    // run --policy answers as policy-server would, and says how to fix it.
    dir.write(
        "policy.yaml",
        MANIFEST.replace("  rules:\n", "  mutating: false\n  rules:\n"),
    );
    let output = harness(
        &[
            "run",
            "--policy",
            &dir.path().join("policy.yaml").display().to_string(),
            "--resource",
            &dir.path().join("web.yaml").display().to_string(),
            &module,
        ],
        &cache,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let response: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(response["allowed"], json!(false));
    assert_eq!(response["status"]["message"], json!(policy_server_message));
    assert!(response.get("patch").is_none(), "{response}");
    assert!(
        text(&output.stderr).contains("Fix: set spec.mutating: true"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn settings_errors_give_the_yaml_line_not_a_json_position() {
    let dir = TempDir::new("test-settings-line");
    let guest = Guest {
        validate_settings: Behavior::respond(
            r#"{"valid":false,"message":"resolveTags: invalid type: string \"yes\", expected a boolean at line 1 column 78"}"#,
        ),
        ..Guest::default()
    };
    let module = dir.write("p.wasm", guest.wasm()).display().to_string();
    let manifest = MANIFEST.replace(
        "    attestationAuthorities: [{name: a}]\n",
        "    attestationAuthorities: [{name: a}]\n    resolveTags: \"yes\"\n",
    );
    let line = manifest
        .lines()
        .position(|l| l.contains("resolveTags"))
        .expect("line")
        + 1;
    dir.write("policy.yaml", &manifest);
    dir.write(
        "settings.yaml",
        "# settings\nattestationAuthorities:\n  - name: a\nresolveTags: \"yes\"\n",
    );
    dir.write(
        "app-test.yaml",
        format!("{SUITE_HEADER}policy: policy.yaml\ncases:\n  - name: a\n    resource: {{apiVersion: apps/v1, kind: Deployment, metadata: {{name: w}}}}\n    expect: {{allowed: true}}\n"),
    );
    let root = dir.path().display().to_string();
    let cache = dir.path().join("cache");
    let output = harness(&["test", "--module", &module, &root], &cache);
    assert_eq!(output.status.code(), Some(1));
    assert_line(
        &output,
        &format!(
            "  FAIL (suite): settings are not valid: {root}/policy.yaml (AdmissionPolicy team): \
             spec.settings.resolveTags: invalid type: string \"yes\", expected a boolean (line {line})"
        ),
    );
    assert!(!text(&output.stdout).contains("column 78"));
    // run -s FILE.yaml: the file's line.
    let request = dir.write("request.json", pod_review("u", "a:1").to_string());
    let settings = dir.path().join("settings.yaml").display().to_string();
    let output = harness(
        &[
            "run",
            "-s",
            &settings,
            "-r",
            &request.display().to_string(),
            &module,
        ],
        &cache,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr).trim_end(),
        format!(
            "Provided settings are not valid: resolveTags: invalid type: string \"yes\", \
             expected a boolean ({settings} line 4)"
        )
    );
}
