//! Golden-case folders (`request.json`, `settings.json` or
//! `settings-invalid.json`, `expected.json`, optional
//! `host-capabilities.json`), read as one-case suites.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::loaded::{Case, CaseRequest, SettingsOrigin, Suite, SuiteSource};
use crate::host::admission::{admission_request as request_of_review, read_json_file};
use crate::host::capabilities::Fixture;
use crate::host::clock::WasiClock;
use crate::host::replay::load_fixtures;
use crate::suite::expect::Expectation;

/// `true` when `dir` is a golden-case folder (it has `expected.json`).
#[must_use]
pub fn is_golden_case(dir: &Path) -> bool {
    dir.join("expected.json").is_file()
}

/// What a golden-case folder holds.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenInputs {
    /// The expectation (`expected.json`).
    pub expected: Expectation,
    /// The settings.
    pub settings: Value,
    /// `true` when they come from `settings-invalid.json`.
    pub settings_invalid_file: bool,
    /// The AdmissionRequest.
    pub request: Value,
    /// The fixtures (`host-capabilities.json`, either format).
    pub fixtures: Vec<Fixture>,
    /// The clock the module reads (`"now"` of `expected.json`: an RFC 3339
    /// time or `"none"`); `None`: the runner's (`--now`, else the host's).
    pub now: Option<WasiClock>,
}

/// Reads a golden-case folder.
///
/// # Errors
/// A missing or invalid file, an expectation that contradicts itself or the
/// settings file's name.
pub fn load_golden_case(dir: &Path) -> Result<GoldenInputs> {
    let mut expected_value = read_json_file(&dir.join("expected.json"), "expected")?;
    // `now` is an input of the case (the clock it is judged at), kept in
    // expected.json beside what it expects rather than in a file of its own.
    let now = match expected_value.as_object_mut().and_then(|m| m.remove("now")) {
        None => None,
        Some(Value::String(text)) => {
            Some(WasiClock::parse(&text).context("expected.json: invalid \"now\"")?)
        }
        Some(other) => bail!("expected.json: \"now\" must be a string, found {other}"),
    };
    let expected: Expectation =
        serde_json::from_value(expected_value).context("invalid expected.json")?;
    let valid_path = dir.join("settings.json");
    let invalid_path = dir.join("settings-invalid.json");
    let (settings_path, settings_invalid_file) =
        match (valid_path.is_file(), invalid_path.is_file()) {
            (true, false) => (valid_path, false),
            (false, true) => (invalid_path, true),
            (true, true) => bail!("the case has both settings.json and settings-invalid.json"),
            (false, false) => {
                bail!("the case has neither settings.json nor settings-invalid.json")
            }
        };
    if settings_invalid_file && !expected.expects_invalid_settings() {
        bail!("the case has settings-invalid.json, so expected.json must say \"settingsValid\": false");
    }
    expected
        .check_consistency()
        .map_err(|e| anyhow::anyhow!("expected.json: {e}"))?;
    let settings = read_json_file(&settings_path, "settings")?;
    let request = request_of_review(read_json_file(&dir.join("request.json"), "request")?)?;
    let caps_path = dir.join("host-capabilities.json");
    let fixtures = if caps_path.is_file() {
        load_fixtures(&caps_path)?
    } else {
        Vec::new()
    };
    Ok(GoldenInputs {
        expected,
        settings,
        settings_invalid_file,
        request,
        fixtures,
        now,
    })
}

/// A golden-case folder as a suite of one case.
pub(super) fn golden_suite(dir: &Path) -> Result<Suite> {
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let inputs = load_golden_case(dir).with_context(|| format!("golden case {}", dir.display()))?;
    let settings_file = if inputs.settings_invalid_file {
        dir.join("settings-invalid.json")
    } else {
        dir.join("settings.json")
    };
    Ok(Suite {
        name: name.clone(),
        source: SuiteSource::GoldenCase(dir.to_owned()),
        module: None,
        now: inputs.now,
        settings: inputs.settings,
        settings_origin: SettingsOrigin::File(settings_file),
        cases: vec![Case {
            name,
            requests: Ok(vec![CaseRequest {
                label: None,
                request: inputs.request,
            }]),
            fixtures: inputs.fixtures,
            cluster: None,
            expect: inputs.expected,
        }],
    })
}
