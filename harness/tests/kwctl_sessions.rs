//! Sessions written by the real kwctl 1.31.0 (`tests/data/kwctl-1.31-sessions`,
//! recorded against a loopback registry), replayed by `run
//! --replay-host-capabilities-interactions` with the real policy: the
//! harness reads kwctl's own YAML (not only the sessions it writes itself)
//! and answers what the live kwctl run answered. The module is
//! `$POLICY_WASM` if set, else the parent crate's release build.

use std::path::{Path, PathBuf};
use std::process::Command;

use policy_harness::golden::policy_module;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/kwctl-1.31-sessions")
        .join(name)
}

fn replayed(name: &str) -> (Value, Value) {
    let dir = case_dir(name);
    let module = policy_module().expect("the policy module");
    let output = Command::new(BIN)
        .args(["run", "--no-cache", "--settings-path"])
        .arg(dir.join("settings.json"))
        .arg("--request-path")
        .arg(dir.join("request.json"))
        .arg("--replay-host-capabilities-interactions")
        .arg(dir.join("session.yml"))
        .arg(&module)
        .output()
        .expect("run policy-harness");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("{name}: no response in {stdout}"));
    let ours: Value = serde_json::from_str(line).expect("the harness's response");
    let text = std::fs::read_to_string(dir.join("kwctl-response.json")).expect("kwctl's response");
    let theirs: Value = serde_json::from_str(&text).expect("kwctl's response is JSON");
    (ours, theirs)
}

#[test]
fn a_kwctl_session_admitting_a_tag_replays_to_kwctls_answer_and_patch() {
    let (ours, theirs) = replayed("tag-pinned");
    assert_eq!(theirs["allowed"], true);
    assert!(theirs["patch"].is_string());
    assert_eq!(ours, theirs);
}

#[test]
fn a_kwctl_session_with_a_host_error_replays_to_kwctls_rejection() {
    let (ours, theirs) = replayed("other-key");
    assert_eq!(theirs["allowed"], false);
    let message = theirs["status"]["message"].as_str().expect("a message");
    assert!(
        message.contains(
            "(host: Callback evaluation failure: Image verification failed: missing signatures"
        ),
        "{message}"
    );
    assert_eq!(ours, theirs);
}
