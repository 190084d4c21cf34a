//! `examples/policy-repo/` on the real policy: its suites pass through its
//! CI step, and deliberately broken copies (a wrong key, a tag, an invalid
//! setting, a typo in a manifest) fail with the expected lines and exit
//! status 1.
//!
//! The module is `$POLICY_WASM` if set, else the parent crate's release
//! build (see `policy_harness::golden::policy_module`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;
use policy_harness::golden::policy_module;

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness lives in the project")
        .to_owned()
}

fn example() -> PathBuf {
    project_root().join("examples/policy-repo")
}

fn module() -> String {
    policy_module()
        .unwrap_or_else(|e| panic!("{e:#}"))
        .display()
        .to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn test_suites(repo: &Path, extra: &[&str]) -> Output {
    let module = module();
    let mut args = vec!["test", "--module", module.as_str()];
    args.extend_from_slice(extra);
    let repo = repo.display().to_string();
    args.push(&repo);
    Command::new(BIN)
        .args(&args)
        .output()
        .expect("run policy-harness")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of the example with `edit` applied to one of its files.
fn broken_copy(tag: &str, file: &str, edit: impl FnOnce(String) -> String) -> TempDir {
    let dir = TempDir::new(tag);
    copy_dir(&example(), dir.path());
    let path = dir.path().join(file);
    let before = std::fs::read_to_string(&path).expect("read");
    let after = edit(before.clone());
    assert_ne!(before, after, "the edit of {file} changed nothing");
    std::fs::write(&path, after).expect("write");
    dir
}

fn assert_line_starts(output: &Output, prefix: &str, contains: &[&str]) {
    let out = text(&output.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}:\n{out}"));
    for needle in contains {
        assert!(line.contains(needle), "{needle:?} missing from {line:?}");
    }
}

#[test]
fn the_example_passes_through_its_ci_step() {
    let junit = TempDir::new("policy-repo-junit");
    let report = junit.path().join("policy-tests.xml");
    // A wrapper counting the harness's runs: the JUnit report must come
    // from the same run as the text (it once ran every suite twice).
    let runs = junit.path().join("runs");
    let wrapper = junit.path().join("policy-harness");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\nexec '{BIN}' \"$@\"\n",
            runs.display()
        ),
    )
    .expect("wrapper");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let output = Command::new(example().join("ci/policy-tests.sh"))
        .env("POLICY_HARNESS", &wrapper)
        .env("POLICY_MODULE", module())
        .env("JUNIT_REPORT", &report)
        .output()
        .expect("run the CI step");
    let out = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{out}\n{}",
        text(&output.stderr)
    );
    assert!(!out.contains("FAIL") && !out.contains("SKIP"), "{out}");
    for line in [
        "  PASS shop workloads are admitted [Deployment/web]",
        "  PASS shop workloads are admitted [CronJob/nightly-report]",
        "  PASS pod with an attested image volume is admitted",
        "  PASS an image referenced by tag is rejected",
        "  PASS allowlisted platform image is admitted without a host call",
        "  PASS break-glass admits an unattested image with a warning",
        "  PASS worker attested by the build only is rejected",
        "  PASS api by tag is pinned to the attested digest",
        "summary: 2 suite(s), 16 case(s): 16 passed, 0 failed, 0 not run",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
    let xml = std::fs::read_to_string(&report).expect("JUnit report written");
    assert!(
        xml.contains("<testsuites name=\"policy-harness\" tests=\"16\" failures=\"0\" errors=\"0\" skipped=\"0\""),
        "{xml}"
    );
    let runs = std::fs::read_to_string(&runs).expect("runs logged");
    assert_eq!(
        runs.lines().count(),
        1,
        "one run for text and JUnit:\n{runs}"
    );
}

#[test]
fn other_tools_test_files_beside_the_suites_are_skipped() {
    let dir = TempDir::new("policy-repo-kyverno");
    copy_dir(&example(), dir.path());
    std::fs::write(
        dir.path().join("kyverno-test.yaml"),
        "apiVersion: cli.kyverno.io/v1alpha1
kind: Test
metadata:
  name: require-labels
policies: [kyverno/require-labels.yaml]
resources: [workloads/shop.yaml]
results:
  - policy: require-labels
    rule: check-team
    resources: [web]
    kind: Deployment
    result: pass
",
    )
    .expect("kyverno test");
    std::fs::create_dir_all(dir.path().join("e2e")).expect("mkdir");
    std::fs::write(
        dir.path().join("e2e/chainsaw-test.yaml"),
        "apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata:
  name: deploy
spec:
  steps:
    - try:
        - apply: {file: ../workloads/shop.yaml}
",
    )
    .expect("chainsaw test");
    let output = test_suites(dir.path(), &["-v"]);
    let out = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l == "summary: 2 suite(s), 16 case(s): 16 passed, 0 failed, 0 not run"),
        "{out}"
    );
    let stderr = text(&output.stderr);
    for file in ["e2e/chainsaw-test.yaml", "kyverno-test.yaml"] {
        assert!(
            stderr.contains(&format!(
                "policy-harness: skipped {}/{file}: not a policy-harness suite",
                dir.path().display()
            )),
            "{file}\n{stderr}"
        );
    }
}

#[test]
fn a_non_mutating_manifest_that_pins_fails_with_the_fix() {
    let dir = broken_copy(
        "policy-repo-not-mutating",
        "policies/payments-admission-policy.yaml",
        |text| text.replace("  mutating: true\n", "  mutating: false\n"),
    );
    let output = test_suites(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_line_starts(
        &output,
        "  FAIL api by tag is pinned to the attested digest: allowed: expected true, got false",
        &[
            "the policy said: Request rejected by policy namespaced-payments-payments-attestations. \
             The policy attempted to mutate the request, but it is currently configured to not \
             allow mutations.",
            "payments-admission-policy.yaml (AdmissionPolicy payments-attestations) has \
             spec.mutating: false",
            "Fix: set spec.mutating: true in the manifest, or set spec.settings.mutateToDigest: \
             false",
        ],
    );
    // The cases without a patch are unchanged.
    assert!(
        text(&output.stdout)
            .contains("summary: 2 suite(s), 16 case(s): 15 passed, 1 failed, 0 not run"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn a_wrong_key_fails_the_attested_workloads() {
    let wrong_key = std::fs::read_to_string(project_root().join("testdata/keys/rsa2048b.pub.pem"))
        .expect("key");
    let dir = broken_copy(
        "policy-repo-wrong-key",
        "policies/cluster-admission-policy.yaml",
        |text| {
            let start = text
                .find("-----BEGIN PUBLIC KEY-----")
                .expect("build's key");
            let end = text.find("-----END PUBLIC KEY-----").expect("end") + 24;
            let indented: Vec<String> = wrong_key
                .trim_end()
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 {
                        l.to_owned()
                    } else {
                        format!("          {l}")
                    }
                })
                .collect();
            format!("{}{}{}", &text[..start], indented.join("\n"), &text[end..])
        },
    );
    let output = test_suites(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    assert_line_starts(
        &output,
        "  FAIL shop workloads are admitted [Deployment/web]: allowed: expected true, got false",
        &["policy built-by-ci requires authority build: signature with key build-key-1 does not verify"],
    );
    assert_line_starts(
        &output,
        "  FAIL pod with an attested image volume is admitted: allowed: expected true, got false",
        &[],
    );
    // What does not depend on the key still passes.
    assert_line_starts(
        &output,
        "  PASS an image referenced by tag is rejected",
        &[],
    );
    assert_line_starts(
        &output,
        "summary: 2 suite(s), 16 case(s): 12 passed, 4 failed",
        &[],
    );
}

#[test]
fn a_tag_instead_of_a_digest_fails_its_case() {
    let dir = broken_copy("policy-repo-tag", "workloads/shop.yaml", |text| {
        let start = text.find("shop/web@sha256:").expect("web's digest");
        let end = start + "shop/web@sha256:".len() + 64;
        format!("{}shop/web:1.4{}", &text[..start], &text[end..])
    });
    let output = test_suites(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_line_starts(
        &output,
        "  FAIL shop workloads are admitted [Deployment/web]: allowed: expected true, got false; the policy said: \
         image registry.example.com/shop/web:1.4 is not attested: it is referenced by tag 1.4, not by digest",
        &[],
    );
    assert_line_starts(
        &output,
        "  PASS shop workloads are admitted [CronJob/nightly-report]",
        &[],
    );
    assert_line_starts(
        &output,
        "summary: 2 suite(s), 16 case(s): 15 passed, 1 failed",
        &[],
    );
}

#[test]
fn an_invalid_setting_fails_the_suite_with_file_and_field() {
    let dir = broken_copy(
        "policy-repo-invalid-setting",
        "policies/payments-admission-policy.yaml",
        |text| text.replace("[build, qa]", "[build, qa, security]"),
    );
    let output = test_suites(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let manifest = dir.path().join("policies/payments-admission-policy.yaml");
    assert_line_starts(
        &output,
        &format!(
            "  FAIL (suite): settings are not valid: {} (AdmissionPolicy payments-attestations): \
             spec.settings.attestationPolicies[0].attestationAuthorityNames[2]: no authority named \"security\"",
            manifest.display()
        ),
        &[],
    );
    assert_line_starts(
        &output,
        "  SKIP api attested by build and qa is admitted: not run, the settings are not valid",
        &[],
    );
    assert_line_starts(
        &output,
        "summary: 2 suite(s), 16 case(s): 10 passed, 0 failed, 6 not run, 1 suite error(s) — FAILED",
        &[],
    );

    // The same in JUnit: an <error> for the suite, the cases <skipped>.
    let output = test_suites(dir.path(), &["--output", "junit"]);
    assert_eq!(output.status.code(), Some(1));
    let xml = text(&output.stdout);
    assert!(
        xml.contains("<testcase name=\"(suite)\" classname=\"payments namespace policy\""),
        "{xml}"
    );
    assert!(
        xml.contains("attestationAuthorityNames[2]: no authority named &quot;security&quot;"),
        "{xml}"
    );
    assert_eq!(xml.matches("<skipped ").count(), 6, "{xml}");
}

#[test]
fn a_typo_in_a_manifest_is_not_silently_ignored() {
    let dir = broken_copy(
        "policy-repo-typo",
        "policies/cluster-admission-policy.yaml",
        |text| text.replace("  settings:\n", "  setting:\n"),
    );
    let output = test_suites(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_line_starts(
        &output,
        "  FAIL (suite): cannot load the suite: ",
        &[
            "policy-tests.yaml: policy: cannot use the policy",
            "cluster-admission-policy.yaml: document 0 (ClusterAdmissionPolicy kritis-attestations): \
             spec.setting: unknown field of a ClusterAdmissionPolicy",
        ],
    );
}

#[test]
fn regenerate_sh_reproduces_the_committed_workloads() {
    let dir = TempDir::new("policy-repo-regenerate");
    copy_dir(&example(), dir.path());
    let output = Command::new(dir.path().join("regenerate.sh"))
        .env("HARNESS", BIN)
        .env("PROJECT_ROOT", project_root())
        .output()
        .expect("run regenerate.sh");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    for sub in ["workloads", "host-capabilities"] {
        for entry in std::fs::read_dir(example().join(sub)).expect("list") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_owned();
            let committed = std::fs::read_to_string(&path).expect("read");
            let regenerated =
                std::fs::read_to_string(dir.path().join(sub).join(&name)).expect("regenerated");
            assert_eq!(
                committed,
                regenerated,
                "{sub}/{}: run examples/policy-repo/regenerate.sh",
                name.to_string_lossy()
            );
        }
    }
}
