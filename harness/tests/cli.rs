//! The `policy-harness` binary, run the way the acceptance tests run it.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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

struct Case {
    dir: TempDir,
    module: String,
    request: String,
}

impl Case {
    fn new(guest: &Guest) -> Self {
        let dir = TempDir::new("cli");
        let module = dir.write("policy.wasm", guest.wasm()).display().to_string();
        let request = dir
            .write(
                "request.json",
                pod_review("uid-7", "ghcr.io/org/app:1").to_string(),
            )
            .display()
            .to_string();
        Self {
            dir,
            module,
            request,
        }
    }

    fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec!["run", "--request-path", self.request.as_str()];
        args.extend_from_slice(extra);
        args.push(self.module.as_str());
        harness(&args, &self.dir.path().join("cache"))
    }
}

fn validate(behavior: Behavior) -> Guest {
    Guest {
        validate: behavior,
        ..Guest::default()
    }
}

fn stdout_json(output: &Output) -> Value {
    let out = text(&output.stdout);
    assert_eq!(
        out.lines().count(),
        1,
        "exactly one line on stdout: {out:?}"
    );
    serde_json::from_str(&out).expect("stdout is JSON")
}

#[test]
fn accepted_request_prints_one_admission_response() {
    let case = Case::new(&validate(Behavior::respond(
        r#"{"accepted":true,"message":"hello"}"#,
    )));
    let output = case.run(&[]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_eq!(
        stdout_json(&output),
        json!({"uid": "uid-7", "allowed": true, "status": {"message": "hello"},
               "auditAnnotations": null, "warnings": null})
    );
    // Second run: loaded from the module cache, same answer.
    let again = case.run(&[]);
    assert_eq!(stdout_json(&again), stdout_json(&output));
    assert!(
        case.dir
            .path()
            .join("cache")
            .read_dir()
            .expect("cache dir")
            .count()
            >= 1
    );
}

#[test]
fn rejection_exits_zero() {
    let case = Case::new(&validate(Behavior::respond(
        r#"{"accepted":false,"message":"no","code":403}"#,
    )));
    let output = case.run(&["--no-cache"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_eq!(
        stdout_json(&output),
        json!({"uid": "uid-7", "allowed": false, "status": {"message": "no", "code": 403},
               "auditAnnotations": null, "warnings": null})
    );
}

/// `{"request": …}` without `kind: AdmissionReview` is read here, with a
/// note: kwctl would read it as a bare AdmissionRequest and fail.
#[test]
fn a_review_without_its_kind_runs_with_a_note_on_kwctl() {
    let case = Case::new(&validate(Behavior::respond(r#"{"accepted":true}"#)));
    let with_kind = case.run(&["--no-cache"]);
    assert!(
        with_kind.status.success(),
        "stderr: {}",
        text(&with_kind.stderr)
    );
    assert!(
        !text(&with_kind.stderr).contains("kwctl"),
        "{}",
        text(&with_kind.stderr)
    );

    let mut review = pod_review("no-kind", "x");
    let map = review.as_object_mut().expect("object");
    map.remove("kind");
    map.remove("apiVersion");
    let path = case.dir.write("no-kind.json", review.to_string());
    let output = harness(
        &[
            "run",
            "--no-cache",
            "--request-path",
            &path.display().to_string(),
            &case.module,
        ],
        &case.dir.path().join("cache"),
    );
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_eq!(stdout_json(&output)["uid"], "no-kind");
    let err = text(&output.stderr);
    assert!(
        err.contains("policy-harness: note: ")
            && err.contains("kwctl reads it as a bare AdmissionRequest"),
        "{err}"
    );
}

#[test]
fn bare_admission_request_is_accepted() {
    let case = Case::new(&validate(Behavior::respond(r#"{"accepted":true}"#)));
    let bare = pod_review("bare-uid", "x")["request"].clone();
    let path = case.dir.write("bare.json", bare.to_string());
    let output = harness(
        &[
            "run",
            "--request-path",
            &path.display().to_string(),
            &case.module,
        ],
        &case.dir.path().join("cache"),
    );
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_eq!(
        stdout_json(&output),
        json!({"uid": "bare-uid", "allowed": true, "auditAnnotations": null, "warnings": null})
    );
}

#[test]
fn invalid_settings_exit_one() {
    let guest = Guest {
        validate_settings: Behavior::respond(r#"{"valid":false,"message":"keys missing"}"#),
        ..Guest::default()
    };
    let case = Case::new(&guest);
    let output = case.run(&["--settings-json", r#"{"x":1}"#]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(
        text(&output.stderr).contains("Provided settings are not valid: keys missing"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn settings_from_file_and_conflicting_flags() {
    let guest = Guest {
        validate_settings: Behavior::ForwardToHost {
            namespace: "test".to_owned(),
            operation: "settings".to_owned(),
        },
        ..Guest::default()
    };
    let case = Case::new(&guest);
    let settings = case
        .dir
        .write("settings.json", r#"{"k": [1]}"#)
        .display()
        .to_string();
    let caps = case
        .dir
        .write(
            "caps.json",
            json!([{"namespace": "test", "operation": "settings", "request": {"k": [1]},
                    "response": {"valid": true}}])
            .to_string(),
        )
        .display()
        .to_string();
    let output = case.run(&["--settings-path", &settings, "--host-capabilities", &caps]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));

    let both = case.run(&["--settings-path", &settings, "--settings-json", "{}"]);
    assert_eq!(both.status.code(), Some(2), "clap usage error");
}

#[test]
fn guest_error_is_a_500_rejection_with_exit_zero() {
    let case = Case::new(&validate(Behavior::GuestError("boom".to_owned())));
    let output = case.run(&[]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let response = stdout_json(&output);
    assert_eq!(response["allowed"], json!(false));
    assert_eq!(response["status"]["code"], json!(500));
    assert!(response["status"]["message"]
        .as_str()
        .expect("message")
        .contains("boom"));
}

#[test]
fn trapping_module_exits_non_zero() {
    let case = Case::new(&validate(Behavior::Trap));
    let output = case.run(&[]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let err = text(&output.stderr);
    assert!(
        err.contains("policy trapped during `validate`") && err.contains("unreachable"),
        "{err}"
    );
}

#[test]
fn endless_module_is_stopped_by_the_deadline() {
    let case = Case::new(&validate(Behavior::Loop));
    let start = Instant::now();
    let output = case.run(&["--timeout-ms", "500"]);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("policy evaluation exceeded the 500 ms deadline"),
        "{err}"
    );
}

#[test]
fn default_deadline_is_two_seconds() {
    let case = Case::new(&validate(Behavior::Loop));
    let output = case.run(&[]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("policy evaluation exceeded the 2000 ms deadline"),
        "{err}"
    );
}

#[test]
fn module_without_guest_call_exits_non_zero() {
    let case = Case::new(&Guest {
        export_guest_call: false,
        ..Guest::default()
    });
    let output = case.run(&[]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert!(err.contains("__guest_call"), "{err}");
}

#[test]
fn bad_inputs_exit_non_zero_with_clear_errors() {
    let case = Case::new(&Guest::default());
    let garbage = case
        .dir
        .write("garbage.wasm", b"definitely not wasm")
        .display()
        .to_string();
    let bad_json = case.dir.write("bad.json", "{").display().to_string();
    let not_object = case.dir.write("list.json", "[1]").display().to_string();
    let missing = case.dir.path().join("missing.json").display().to_string();
    let checks: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--request-path", &case.request, &garbage],
            "cannot compile the WebAssembly module",
        ),
        (
            vec!["run", "--request-path", &missing, &case.module],
            "cannot read request file",
        ),
        (
            vec!["run", "--request-path", &bad_json, &case.module],
            "is not valid JSON",
        ),
        (
            vec!["run", "--request-path", &not_object, &case.module],
            "must be a JSON object",
        ),
        (
            vec![
                "run",
                "--request-path",
                &case.request,
                "--settings-json",
                "{",
                &case.module,
            ],
            "--settings-json is not valid JSON",
        ),
        (
            vec![
                "run",
                "--request-path",
                &case.request,
                "--host-capabilities",
                &bad_json,
                &case.module,
            ],
            "invalid host capabilities file",
        ),
        (
            vec!["run", "--request-path", &case.request, &missing],
            "cannot read policy module",
        ),
    ];
    for (args, needle) in checks {
        let output = harness(&args, &case.dir.path().join("cache"));
        assert!(!output.status.success(), "{args:?} should fail");
        let err = text(&output.stderr);
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
}

#[test]
fn host_calls_are_traced() {
    let guest = validate(Behavior::host_call(
        "oci",
        "v1/manifest_digest",
        r#""ghcr.io/org/app:1""#,
    ));
    let case = Case::new(&guest);
    let caps = case
        .dir
        .write(
            "caps.json",
            json!([{"namespace": "oci", "operation": "v1/manifest_digest", "request": "ghcr.io/org/app:1",
                    "response": {"accepted": true, "message": "digest ok"}}])
            .to_string(),
        )
        .display()
        .to_string();
    let output = case.run(&["--host-capabilities", &caps, "--trace-host-calls"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_eq!(
        stdout_json(&output)["status"]["message"],
        json!("digest ok")
    );
    let err = text(&output.stderr);
    assert!(err.contains("1 host call(s)"), "{err}");
    assert!(
        err.contains("1 x kubewarden/oci/v1/manifest_digest request=\"ghcr.io/org/app:1\""),
        "{err}"
    );

    // Without fixtures the call fails (and the trace says so).
    let output = case.run(&["--trace-host-calls"]);
    assert!(output.status.success());
    assert!(
        text(&output.stderr).contains("UNEXPECTED"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn no_host_call_is_traced_as_zero() {
    let case = Case::new(&Guest::default());
    let output = case.run(&["--trace-host-calls"]);
    assert!(output.status.success());
    assert!(
        text(&output.stderr).contains("0 host call(s)"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn kwctl_command_line_yaml_settings_and_sources_file() {
    // `kwctl run -s S -r R --sources-path F file://MODULE`, settings in YAML.
    let case = Case::new(&validate(Behavior::respond(r#"{"accepted":true}"#)));
    let settings = case.dir.write("settings.yaml", "a: 1\nb: [x, y]\n");
    let sources = case
        .dir
        .write("sources.yaml", "insecure_sources: [\"127.0.0.1:5000\"]\n");
    let request = case.dir.path().join("request.json");
    let module = format!("file://{}", case.module);
    let output = harness(
        &[
            "run",
            "-s",
            &settings.display().to_string(),
            "-r",
            &request.display().to_string(),
            "--sources-path",
            &sources.display().to_string(),
            "--disable-wasmtime-cache",
            "--allow-context-aware",
            "-e",
            "kubewarden",
            &module,
        ],
        &case.dir.path().join("cache"),
    );
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "{\"uid\":\"uid-7\",\"allowed\":true,\"auditAnnotations\":null,\"warnings\":null}\n"
    );
}

#[test]
fn a_call_without_an_answer_says_how_to_give_it_one() {
    let guest = validate(Behavior::host_call(
        "oci",
        "v2/verify",
        r#"{"type":"SigstorePubKeyVerify","image":"ghcr.io/org/app:1","pub_keys":["k"],"annotations":null}"#,
    ));
    let case = Case::new(&guest);
    let output = case.run(&[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // In the host error the policy sees (and may quote, cut): short.
    let message = stdout_json(&output)["status"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(
        message.contains(
            "no matching fixture for host call kubewarden/oci/v2/verify (use --allow-network, \
             a recorded session or a fixture) payload="
        ),
        "{message}"
    );
    // On stderr: every way, and the fixture's shape with this call's fields.
    let stderr = text(&output.stderr);
    for needle in [
        "policy-harness: note: no answer for host call kubewarden/oci/v2/verify: give --allow-network to ask the registry",
        "--record-host-capabilities-interactions FILE",
        "--replay-host-capabilities-interactions FILE",
        r#"[{"namespace": "oci", "operation": "v2/verify", "request": {"annotations":null,"image":"ghcr.io/org/app:1","pub_keys":["k"],"type":"SigstorePubKeyVerify"}, "response": <the answer as JSON>}]"#,
    ] {
        assert!(stderr.contains(needle), "{needle}\n{stderr}");
    }
    // The help of --allow-network names every registry call it serves.
    let help = text(&harness(&["run", "--help"], &case.dir.path().join("cache")).stdout);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("v1/manifest_digest (tags to digests), v2/verify (cosign signatures;"),
        "{help}"
    );
    assert!(help.contains("and v1/oci_manifest"), "{help}");
    let help = text(&harness(&["test", "--help"], &case.dir.path().join("cache")).stdout);
    assert!(help.contains("--allow-network"), "{help}");
}

#[test]
fn recorded_sessions_replay_to_the_same_verdict() {
    let guest = validate(Behavior::host_call(
        "oci",
        "v1/manifest_digest",
        r#""ghcr.io/org/app:1""#,
    ));
    let case = Case::new(&guest);
    for (name, answer) in [
        (
            "success",
            json!({"response": {"accepted": false, "message": "pinned by a recorded digest", "code": 403}}),
        ),
        (
            "error",
            json!({"error": "Callback evaluation failure: manifest unknown"}),
        ),
    ] {
        let mut fixture = json!({"namespace": "oci", "operation": "v1/manifest_digest",
                                 "request": "ghcr.io/org/app:1"});
        fixture
            .as_object_mut()
            .expect("object")
            .extend(answer.as_object().expect("object").clone());
        let caps = case
            .dir
            .write(&format!("{name}.json"), json!([fixture]).to_string())
            .display()
            .to_string();
        let session = case.dir.path().join(format!("{name}-session.yaml"));
        let session = session.display().to_string();
        let recorded = case.run(&[
            "--host-capabilities",
            &caps,
            "--record-host-capabilities-interactions",
            &session,
        ]);
        assert!(recorded.status.success(), "{}", text(&recorded.stderr));
        let written = std::fs::read_to_string(&session).expect("session written");
        assert!(
            written.starts_with(
                "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: ghcr.io/org/app:1\n  response:\n"
            ),
            "{written}"
        );
        if name == "error" {
            assert!(
                written.ends_with("    type: Error\n    message: manifest unknown\n"),
                "{written}"
            );
        }
        let replayed = case.run(&["--replay-host-capabilities-interactions", &session]);
        assert!(replayed.status.success(), "{}", text(&replayed.stderr));
        assert_eq!(stdout_json(&replayed), stdout_json(&recorded), "{name}");
    }
    // kwctl's modes exclude each other.
    let output = case.run(&[
        "--replay-host-capabilities-interactions",
        "a.yaml",
        "--record-host-capabilities-interactions",
        "b.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn every_output_flag_has_the_short_o() {
    let dir = TempDir::new("cli-short-o");
    for command in ["test", "annotate", "kritis-import"] {
        let help = text(&harness(&[command, "--help"], &dir.path().join("cache")).stdout);
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with("-o, --output")),
            "{command}:\n{help}"
        );
    }
}
