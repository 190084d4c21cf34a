//! Golden cases: one folder per case with `request.json`, `settings.json` (or
//! `settings-invalid.json`), optional `host-capabilities.json`, and
//! `expected.json`. See `README.md` for the `expected.json` format.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::host::admission::{admission_request, evaluate, read_json_file, Outcome};
use crate::host::capabilities::{HostCapabilities, HostEnvironment};
use crate::host::runtime::PolicyModule;

fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Contents of `expected.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expected {
    /// `false`: `validate_settings` must reject the settings.
    #[serde(default)]
    pub settings_valid: Option<bool>,
    /// Expected `allowed` (required unless `settingsValid` is `false`).
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
    /// Keys that must be present in `auditAnnotations`.
    #[serde(default)]
    pub audit_annotation_keys: Vec<String>,
    /// Absent: not checked. `null`: no patch. Otherwise: the exact JSON Patch.
    #[serde(default, deserialize_with = "present")]
    pub patch: Option<Value>,
    /// Exact number of host calls (guest log events excluded).
    #[serde(default)]
    pub host_calls: Option<usize>,
}

impl Expected {
    fn check_consistency(&self, settings_invalid_file: bool) -> Result<()> {
        let expects_invalid = self.settings_valid == Some(false);
        if settings_invalid_file && !expects_invalid {
            bail!("the case has settings-invalid.json, so expected.json must say \"settingsValid\": false");
        }
        if expects_invalid {
            if self.allowed.is_some()
                || self.code.is_some()
                || !self.warnings_contain.is_empty()
                || !self.audit_annotation_keys.is_empty()
                || self.patch.is_some()
            {
                bail!(
                    "with \"settingsValid\": false only messageContains, messageNotContains and hostCalls \
                     can be checked"
                );
            }
        } else if self.allowed.is_none() {
            bail!("expected.json must set \"allowed\" (or \"settingsValid\": false)");
        }
        Ok(())
    }
}

/// One case folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldenCase {
    /// Folder name.
    pub name: String,
    /// Folder path.
    pub dir: PathBuf,
}

/// A failing case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// Folder name.
    pub name: String,
    /// Each mismatch (or the error that prevented the check).
    pub problems: Vec<String>,
    /// What the harness produced, for context.
    pub actual: String,
}

/// Outcome of a whole golden directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoldenReport {
    /// Number of cases run.
    pub total: usize,
    /// Failing cases.
    pub failures: Vec<CaseFailure>,
}

impl GoldenReport {
    /// `true` when every case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Human-readable report of every failure.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "golden: {} case(s), {} passed, {} failed",
            self.total,
            self.total - self.failures.len(),
            self.failures.len()
        );
        for failure in &self.failures {
            let _ = writeln!(out, "\n--- FAIL {}", failure.name);
            for problem in &failure.problems {
                let _ = writeln!(out, "  - {}", problem.replace('\n', "\n    "));
            }
            let _ = writeln!(out, "  actual: {}", failure.actual.replace('\n', "\n    "));
        }
        out
    }
}

/// Lists the case folders of `dir` (sorted; hidden entries skipped). Fails
/// when there is none.
pub fn discover(dir: &Path) -> Result<Vec<GoldenCase>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list golden directory {}", dir.display()))?;
    let mut cases = Vec::new();
    for entry in entries {
        let entry =
            entry.with_context(|| format!("cannot list golden directory {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        cases.push(GoldenCase {
            name,
            dir: entry.path(),
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    if cases.is_empty() {
        bail!("golden directory {} has no case folder", dir.display());
    }
    Ok(cases)
}

/// Runs every case of `dir` with `policy`.
pub fn run_dir(policy: &PolicyModule, dir: &Path) -> Result<GoldenReport> {
    let cases = discover(dir)?;
    let mut report = GoldenReport {
        total: cases.len(),
        failures: Vec::new(),
    };
    for case in &cases {
        if let Some(failure) = run_case(policy, case) {
            report.failures.push(failure);
        }
    }
    Ok(report)
}

/// Runs one case; `None` when it passed.
pub fn run_case(policy: &PolicyModule, case: &GoldenCase) -> Option<CaseFailure> {
    match check_case(policy, case) {
        Ok((problems, _)) if problems.is_empty() => None,
        Ok((problems, actual)) => Some(CaseFailure {
            name: case.name.clone(),
            problems,
            actual,
        }),
        Err(e) => Some(CaseFailure {
            name: case.name.clone(),
            problems: vec![format!("cannot run the case: {e:#}")],
            actual: "(no result)".to_owned(),
        }),
    }
}

fn check_case(policy: &PolicyModule, case: &GoldenCase) -> Result<(Vec<String>, String)> {
    let dir = &case.dir;
    let expected_value = read_json_file(&dir.join("expected.json"), "expected")?;
    let expected: Expected =
        serde_json::from_value(expected_value).context("invalid expected.json")?;

    let valid_path = dir.join("settings.json");
    let invalid_path = dir.join("settings-invalid.json");
    let (settings_path, invalid_file) = match (valid_path.is_file(), invalid_path.is_file()) {
        (true, false) => (valid_path, false),
        (false, true) => (invalid_path, true),
        (true, true) => bail!("the case has both settings.json and settings-invalid.json"),
        (false, false) => bail!("the case has neither settings.json nor settings-invalid.json"),
    };
    expected.check_consistency(invalid_file)?;
    let settings = read_json_file(&settings_path, "settings")?;
    let request = admission_request(read_json_file(&dir.join("request.json"), "request")?)?;
    let caps_path = dir.join("host-capabilities.json");
    let capabilities = if caps_path.is_file() {
        HostCapabilities::from_file(&caps_path)?
    } else {
        HostCapabilities::none()
    };

    let env = Arc::new(HostEnvironment::new(capabilities));
    let evaluation = evaluate(policy, Arc::clone(&env), &settings, &request);
    let calls = env.calls();
    let evaluation = match evaluation {
        Ok(evaluation) => evaluation,
        Err(e) => {
            return Ok((
                vec![format!("evaluation failed: {e:#}")],
                format!("(error)\n{}", env.trace()),
            ))
        }
    };

    let mut problems = Vec::new();
    let actual;
    match &evaluation.outcome {
        Outcome::SettingsInvalid { message } => {
            actual = format!("settings rejected: {message:?}");
            if expected.settings_valid != Some(false) {
                problems.push(format!(
                    "settings: expected valid, but validate_settings rejected them: {message:?}"
                ));
            } else {
                check_message(&expected, message.as_deref(), &mut problems);
            }
        }
        Outcome::Response(response) => {
            actual = serde_json::to_string_pretty(response)
                .unwrap_or_else(|e| format!("{response:?} ({e})"));
            if expected.settings_valid == Some(false) {
                problems.push(
                    "settings: expected validate_settings to reject them, but they were accepted"
                        .to_owned(),
                );
            } else {
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
                        problems.push(format!("code: expected {code}, got {:?}", response.code()));
                    }
                }
                check_message(&expected, response.message(), &mut problems);
                let warnings = response.warnings.clone().unwrap_or_default();
                for want in &expected.warnings_contain {
                    if !warnings.iter().any(|w| w.contains(want.as_str())) {
                        problems.push(format!(
                            "warnings: none contains {want:?}; got {warnings:?}"
                        ));
                    }
                }
                let annotations = response.audit_annotations.clone().unwrap_or_default();
                for key in &expected.audit_annotation_keys {
                    if !annotations.contains_key(key) {
                        let keys: Vec<&String> = annotations.keys().collect();
                        problems.push(format!(
                            "auditAnnotations: missing key {key:?}; got keys {keys:?}"
                        ));
                    }
                }
                if let Some(want) = &expected.patch {
                    match response.decoded_patch() {
                        Ok(got) => {
                            let got = got.unwrap_or(Value::Null);
                            if &got != want {
                                problems.push(format!(
                                    "patch: expected {}\n got {}",
                                    pretty(want),
                                    pretty(&got)
                                ));
                            }
                        }
                        Err(e) => problems.push(format!("patch: cannot decode: {e:#}")),
                    }
                }
            }
        }
    }
    if let Some(want) = expected.host_calls {
        if calls.len() != want {
            let list: Vec<String> = calls.iter().map(ToString::to_string).collect();
            problems.push(format!(
                "hostCalls: expected {want}, got {}: {list:#?}",
                calls.len()
            ));
        }
    }
    Ok((problems, actual))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn check_message(expected: &Expected, message: Option<&str>, problems: &mut Vec<String>) {
    let text = message.unwrap_or_default();
    for want in &expected.message_contains {
        if !text.contains(want.as_str()) {
            problems.push(format!(
                "message: expected to contain {want:?}, got {message:?}"
            ));
        }
    }
    for unwanted in &expected.message_not_contains {
        if text.contains(unwanted.as_str()) {
            problems.push(format!(
                "message: expected NOT to contain {unwanted:?}, got {message:?}"
            ));
        }
    }
}

/// The policy module the tests run: `$POLICY_WASM` if set, else the parent
/// crate's release build, built with `cargo build --release --target
/// wasm32-wasip1` when missing.
///
/// # Errors
/// When `$POLICY_WASM` names no file or the build fails.
pub fn policy_module() -> Result<PathBuf> {
    use anyhow::ensure;
    if let Some(path) = std::env::var_os("POLICY_WASM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        ensure!(
            path.is_file(),
            "POLICY_WASM={} does not exist",
            path.display()
        );
        return Ok(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(parent) = manifest.parent() else {
        bail!("harness has no parent directory");
    };
    let module = parent.join("target/wasm32-wasip1/release/kritis_attestation_policy.wasm");
    if !module.is_file() {
        eprintln!("{} is missing: building the policy", module.display());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip1"])
            .current_dir(parent)
            .status()
            .context("cannot run cargo build for the policy")?;
        ensure!(
            status.success(),
            "cargo build --release --target wasm32-wasip1 failed in {}",
            parent.display()
        );
        ensure!(
            module.is_file(),
            "the build did not produce {}",
            module.display()
        );
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expected_patch_absent_null_or_ops() {
        let absent: Expected = serde_json::from_value(json!({"allowed": true})).expect("absent");
        assert_eq!(absent.patch, None);
        let null: Expected =
            serde_json::from_value(json!({"allowed": true, "patch": null})).expect("null");
        assert_eq!(null.patch, Some(Value::Null));
        assert!(serde_json::from_value::<Expected>(json!({"allowed": true, "typo": 1})).is_err());
    }

    #[test]
    fn consistency_rules() {
        let invalid: Expected = serde_json::from_value(json!({"settingsValid": false})).expect("e");
        assert!(invalid.check_consistency(true).is_ok());
        let no_allowed: Expected = serde_json::from_value(json!({"code": 1})).expect("e");
        assert!(no_allowed.check_consistency(false).is_err());
        let allowed: Expected = serde_json::from_value(json!({"allowed": false})).expect("e");
        assert!(allowed.check_consistency(true).is_err());
    }
}
