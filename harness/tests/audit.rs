//! `policy-harness audit`: the audit scanner's requests for a folder of
//! objects, judged by the real policy module.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TempDir;
use policy_harness::golden::policy_module;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");

fn golden(case: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../e2e-tests/golden")
        .join(case)
        .join(file)
}

/// The stored object of a golden case's request.
fn object(case: &str) -> Value {
    let text = std::fs::read_to_string(golden(case, "request.json")).expect("golden request");
    let review: Value = serde_json::from_str(&text).expect("json");
    review["request"]["object"].clone()
}

fn yaml(value: &Value) -> String {
    serde_yaml::to_string(value).expect("yaml")
}

/// Runs `audit` over `dir` with the settings of the namespace-in-warn
/// golden case (`trial` warns, the rest of the cluster denies).
fn audit(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let module = policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let metadata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-metadata.yml");
    let out = Command::new(BIN)
        .arg("audit")
        .arg("--settings")
        .arg(golden("rollout-warn-namespace-admitted", "settings.json"))
        .arg("--module")
        .arg(&module)
        .arg("--metadata")
        .arg(&metadata)
        .args(extra)
        .arg(dir)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn one_line_per_object_and_exit_1_when_one_would_be_rejected() {
    let dir = TempDir::new("audit");
    // An attested Deployment (YAML), a Pod of the warn namespace and a
    // ConfigMap in a List (JSON), an unattested CronJob (second document).
    let deployment = object("audit-deployment-attested");
    let pod = object("rollout-warn-namespace-admitted");
    let cronjob = object("audit-cronjob-unattested");
    let configmap = object("kind-configmap-untouched");
    dir.write("apps/deployment.yaml", yaml(&deployment));
    dir.write(
        "trial.json",
        json!({"apiVersion": "v1", "kind": "List", "items": [pod, configmap]}).to_string(),
    );
    dir.write(
        "batch.yml",
        format!("---\n# nothing here\n---\n{}", yaml(&cronjob)),
    );
    dir.write("notes.txt", "not an object file");

    let (code, stdout, stderr) = audit(dir.path(), &["-v"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    // Files in sorted order: apps/deployment.yaml, batch.yml, trial.json.
    assert_eq!(lines[0], "ALLOWED Deployment default/app");
    assert!(
        lines[1].starts_with(
            "REJECTED CronJob default/app: image registry.example.com/team/app@sha256:"
        ) && lines[1].contains("policy cluster requires authority demo-aa"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("WARNED Pod trial/app: enforcement is warn, so admitted; would reject: image registry.example.com/team/app@sha256:"),
        "{stdout}"
    );
    assert_eq!(
        lines[3],
        "audit: 3 object(s): 1 allowed, 1 warned, 1 rejected; 1 skipped (kinds not in the rules)"
    );
    assert!(
        stderr.contains("skipped ConfigMap in ") && stderr.contains("trial.json"),
        "{stderr}"
    );

    // Without the CronJob nothing would be rejected: exit 0.
    std::fs::remove_file(dir.path().join("batch.yml")).expect("remove");
    let (code, stdout, stderr) = audit(dir.path(), &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.ends_with(
        "audit: 2 object(s): 1 allowed, 1 warned, 0 rejected; 1 skipped (kinds not in the rules, -v lists them)\n"
    ), "{stdout}");
}

#[test]
fn the_audit_is_judged_at_the_clock_given() {
    let dir = TempDir::new("audit");
    let pod = object("expiry-in-warning-window");
    dir.write("vendor.yaml", yaml(&pod));
    let settings = golden("expiry-in-warning-window", "settings.json");
    let module = policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let metadata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-metadata.yml");
    let run = |now: &str| {
        let out = Command::new(BIN)
            .arg("audit")
            .arg("-s")
            .arg(&settings)
            .arg("-m")
            .arg(&module)
            .arg("--metadata")
            .arg(&metadata)
            .args(["--now", now])
            .arg(dir.path())
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run("2026-12-28T00:00:00Z");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.starts_with("WARNED Pod default/app: image vendor.example.com/agent:1.2 is admitted by allowlist pattern vendor.example.com/agent:* only until 2026-12-31T00:00:00Z (in 3 days)"), "{stdout}");
    let (code, stdout, stderr) = run("2027-01-01T00:00:00Z");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.starts_with(
            "REJECTED Pod default/app: image vendor.example.com/agent:1.2 is not attested"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("note: admissionAllowlists[0].patterns[0] expired at 2026-12-31T00:00:00Z"),
        "{stderr}"
    );
}

#[test]
fn the_live_kritis_resources_come_from_cluster_resources() {
    let dir = TempDir::new("audit");
    let module = policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let metadata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-metadata.yml");
    // As kwctl: the policy is granted the kinds its embedded metadata lists.
    let annotated = dir.path().join("annotated.wasm");
    let out = Command::new(BIN)
        .arg("annotate")
        .arg("-m")
        .arg(&metadata)
        .arg("-o")
        .arg(&annotated)
        .arg(&module)
        .output()
        .expect("annotate runs");
    assert!(out.status.success(), "{out:?}");
    // The cluster: the kritis resources the golden case's fixtures list.
    let text = std::fs::read_to_string(golden("live-demo-gap-attested", "host-capabilities.json"))
        .expect("fixtures");
    let fixtures: Vec<Value> = serde_json::from_str(&text).expect("json");
    let mut items = Vec::new();
    for fixture in &fixtures {
        let list = fixture["response"]["items"].as_array().expect("items");
        items.extend(list.iter().cloned());
    }
    dir.write(
        "cluster/kritis.json",
        json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    );
    for case in ["live-demo-gap-attested", "live-demo-gap-unattested"] {
        let mut pod = object(case);
        pod["metadata"]["name"] = json!(case);
        dir.write(&format!("objects/{case}.yaml"), yaml(&pod));
    }
    let out = Command::new(BIN)
        .arg("audit")
        .arg("-s")
        .arg(golden("live-demo-gap-attested", "settings.json"))
        .arg("-m")
        .arg(&annotated)
        .arg("--allow-context-aware")
        .arg("--cluster-resources")
        .arg(dir.path().join("cluster"))
        .arg(dir.path().join("objects"))
        .output()
        .expect("audit runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0], "ALLOWED Pod default/live-demo-gap-attested",
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("REJECTED Pod default/live-demo-gap-unattested: image ")
            && lines[1].contains("policy default/demo-gap requires authority default/demo-aa"),
        "{stdout}"
    );
}
