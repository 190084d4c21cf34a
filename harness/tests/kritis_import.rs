//! `kritis-import` on ACK's three seed resources: the exact settings, the
//! unknown kind reported, and the result accepted by the real policy's
//! `validate_settings` and able to admit an attested image.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/kritis-import"
    ))
}

fn import(extra: &[&str]) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_policy-harness"))
        .arg("kritis-import")
        .args(extra)
        .arg(dir().join("seed.yaml"))
        .output()
        .expect("run policy-harness");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let settings: Value = if extra.contains(&"--json") {
        serde_json::from_str(&stdout).expect("json")
    } else {
        serde_yaml::from_str(&stdout).expect("yaml")
    };
    (settings, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn seed_resources_become_the_expected_settings() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let (settings, stderr) = import(&["--require", "any", "--json"]);
    assert_eq!(settings, expected);
    assert!(
        stderr.contains(
            "ImageSecurityPolicy \"legacy-isp\": not a kritis resource this policy imports"
        ),
        "{stderr}"
    );
    // YAML output carries the same settings, and the skip as a comment.
    let (yaml_settings, _) = import(&["--require", "any"]);
    assert_eq!(yaml_settings, expected);
    // Without --require any, the policy's default (all) applies.
    let (default_settings, _) = import(&["--json"]);
    assert!(default_settings["attestationPolicies"][0]
        .get("require")
        .is_none());
}

#[test]
fn imported_settings_are_valid_for_the_policy_and_admit_an_attested_pod() {
    let module = policy_harness::golden::policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let (settings, _) = import(&["--require", "any", "--json"]);
    let settings_file =
        std::env::temp_dir().join(format!("kritis-import-{}.json", std::process::id()));
    std::fs::write(&settings_file, settings.to_string()).expect("write settings");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../e2e-tests/golden/pod-attested-digest/request.json");
    let out = Command::new(env!("CARGO_BIN_EXE_policy-harness"))
        .args(["run", "--settings-path"])
        .arg(&settings_file)
        .arg("--request-path")
        .arg(golden)
        .arg(module)
        .output()
        .expect("run policy-harness");
    let _ = std::fs::remove_file(&settings_file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response: Value = serde_json::from_slice(&out.stdout).expect("response");
    assert_eq!(response["allowed"], true, "{response}");
}
