//! Runs suites: the module once per source, `validate_settings` first, then
//! every case on a fresh instance; a request the API server would not send
//! to the policy (its rules, an AdmissionPolicy's namespace) is admitted
//! without running it, as in a cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::host::admission::{evaluate, validate_settings, Outcome};
use crate::host::cache::CacheMode;
use crate::host::capabilities::{HostCapabilities, HostEnvironment};
use crate::host::response::AdmissionResponse;
use crate::host::runtime::{Limits, PolicyModule};
use crate::oci::registry::{load_policy, RegistryOptions};
use crate::suite::expect::{check, render_outcome};
use crate::suite::file::{Case, CaseRequest, ModuleSource, SettingsOrigin, Suite, SuiteSource};

/// How suites are run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Replaces the module of every suite (`--module`).
    pub module_override: Option<ModuleSource>,
    /// For `registry://` modules.
    pub registry: RegistryOptions,
    /// Deadline and memory limit of each call.
    pub limits: Limits,
    /// Compiled-module cache.
    pub cache: CacheMode,
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseStatus {
    /// Every expectation met.
    Passed,
    /// The mismatches (or the error that prevented the check).
    Failed(Vec<String>),
    /// Not run, and why.
    NotRun(String),
}

/// One case (one request of it) and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    /// Case name, with ` [Kind/name]` when its resource holds several objects.
    pub name: String,
    /// Result.
    pub status: CaseStatus,
    /// Set when the request never reached the policy, and why.
    pub not_sent: Option<String>,
    /// What the policy produced (for failures).
    pub actual: Option<String>,
    /// Duration.
    pub duration: Duration,
}

/// One suite and its cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// Display name.
    pub name: String,
    /// The suite file or golden folder.
    pub source: String,
    /// `true` for a golden-case folder (a suite of one case).
    pub golden: bool,
    /// Where the settings come from.
    pub policy: Option<String>,
    /// The module run.
    pub module: Option<String>,
    /// A failure of the suite itself: unreadable, no module, settings
    /// rejected while its cases expect them valid.
    pub error: Option<String>,
    /// The cases.
    pub cases: Vec<CaseReport>,
    /// Duration.
    pub duration: Duration,
}

impl SuiteReport {
    /// Number of failed cases.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| matches!(c.status, CaseStatus::Failed(_)))
            .count()
    }

    /// Number of cases not run.
    #[must_use]
    pub fn not_run(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| matches!(c.status, CaseStatus::NotRun(_)))
            .count()
    }

    /// `true` when the suite and all its cases passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.failed() == 0 && self.not_run() == 0
    }
}

/// Everything run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The suites, in the order run.
    pub suites: Vec<SuiteReport>,
}

impl Report {
    /// `true` when everything passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.suites.iter().all(SuiteReport::passed)
    }

    /// `(cases, passed, failed, not run, suite errors)`.
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let cases: usize = self.suites.iter().map(|s| s.cases.len()).sum();
        let failed: usize = self.suites.iter().map(SuiteReport::failed).sum();
        let not_run: usize = self.suites.iter().map(SuiteReport::not_run).sum();
        let errors = self.suites.iter().filter(|s| s.error.is_some()).count();
        (cases, cases - failed - not_run, failed, not_run, errors)
    }
}

/// Compiled modules, once per source.
#[derive(Debug, Default)]
pub struct ModuleCache {
    loaded: HashMap<ModuleSource, std::result::Result<Arc<PolicyModule>, String>>,
}

impl ModuleCache {
    fn get(
        &mut self,
        source: &ModuleSource,
        options: &RunOptions,
    ) -> std::result::Result<Arc<PolicyModule>, String> {
        self.loaded
            .entry(source.clone())
            .or_insert_with(|| {
                load_policy(
                    &source.as_path(),
                    &options.registry,
                    options.limits,
                    &options.cache,
                )
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"))
            })
            .clone()
    }

    /// Adds an already compiled module under `source`.
    pub fn insert(&mut self, source: ModuleSource, module: Arc<PolicyModule>) {
        self.loaded.insert(source, Ok(module));
    }
}

/// Loads and runs every suite of `sources`.
#[must_use]
pub fn run_all(sources: &[SuiteSource], options: &RunOptions, modules: &mut ModuleCache) -> Report {
    let suites = sources
        .iter()
        .map(|source| {
            let started = Instant::now();
            match Suite::load(source) {
                Ok(suite) => run_suite(&suite, options, modules),
                Err(e) => SuiteReport {
                    name: source.path().display().to_string(),
                    source: source.path().display().to_string(),
                    golden: matches!(source, SuiteSource::GoldenCase(_)),
                    policy: None,
                    module: None,
                    error: Some(format!("cannot load the suite: {e:#}")),
                    cases: Vec::new(),
                    duration: started.elapsed(),
                },
            }
        })
        .collect();
    Report { suites }
}

/// Runs one loaded suite.
#[must_use]
pub fn run_suite(suite: &Suite, options: &RunOptions, modules: &mut ModuleCache) -> SuiteReport {
    let started = Instant::now();
    let module = options.module_override.as_ref().or(suite.module.as_ref());
    let mut report = SuiteReport {
        name: suite.name.clone(),
        source: suite.source.path().display().to_string(),
        golden: matches!(suite.source, SuiteSource::GoldenCase(_)),
        policy: describe_settings(&suite.settings_origin),
        module: module.map(ModuleSource::display),
        error: None,
        cases: Vec::new(),
        duration: Duration::ZERO,
    };
    let Some(module) = module else {
        report.error = Some(
            "no module: set module: in the suite, spec.module in the policy, or pass --module"
                .to_owned(),
        );
        report.duration = started.elapsed();
        return report;
    };
    let policy = match modules.get(module, options) {
        Ok(policy) => policy,
        Err(e) => {
            report.error = Some(format!("cannot load the module: {e}"));
            report.duration = started.elapsed();
            return report;
        }
    };

    let env = Arc::new(HostEnvironment::new(HostCapabilities::none()));
    let settings_message = match validate_settings(&policy, env, &suite.settings) {
        Ok(answer) if answer.valid => None,
        Ok(answer) => Some(answer.message.unwrap_or_else(|| "(no message)".to_owned())),
        Err(e) => {
            report.error = Some(format!("validate_settings failed: {e:#}"));
            report.duration = started.elapsed();
            return report;
        }
    };
    if let Some(message) = &settings_message {
        if suite
            .cases
            .iter()
            .any(|c| !c.expect.expects_invalid_settings())
        {
            report.error = Some(format!(
                "settings are not valid: {}",
                locate_settings_message(&suite.settings_origin, message)
            ));
        }
    }
    for case in &suite.cases {
        report
            .cases
            .extend(run_case(suite, case, &policy, settings_message.is_some()));
    }
    report.duration = started.elapsed();
    report
}

fn run_case(
    suite: &Suite,
    case: &Case,
    policy: &PolicyModule,
    settings_invalid: bool,
) -> Vec<CaseReport> {
    let requests = match &case.requests {
        Ok(requests) => requests,
        Err(e) => {
            return vec![CaseReport {
                name: case.name.clone(),
                status: CaseStatus::Failed(vec![format!("cannot run the case: {e}")]),
                not_sent: None,
                actual: None,
                duration: Duration::ZERO,
            }]
        }
    };
    requests
        .iter()
        .map(|request| {
            let name = match &request.label {
                Some(label) => format!("{} [{label}]", case.name),
                None => case.name.clone(),
            };
            if settings_invalid && !case.expect.expects_invalid_settings() {
                return CaseReport {
                    name,
                    status: CaseStatus::NotRun("the settings are not valid".to_owned()),
                    not_sent: None,
                    actual: None,
                    duration: Duration::ZERO,
                };
            }
            let started = Instant::now();
            let mut report = run_request(suite, case, policy, request);
            report.name = name;
            report.duration = started.elapsed();
            report
        })
        .collect()
}

fn run_request(
    suite: &Suite,
    case: &Case,
    policy: &PolicyModule,
    request: &CaseRequest,
) -> CaseReport {
    let mut report = CaseReport {
        name: String::new(),
        status: CaseStatus::Passed,
        not_sent: None,
        actual: None,
        duration: Duration::ZERO,
    };
    let not_sent = if case.expect.expects_invalid_settings() {
        None
    } else {
        suite
            .manifest()
            .and_then(|m| m.skip_reason(&request.request))
    };
    let env = Arc::new(HostEnvironment::new(match HostCapabilities::from_fixtures(
        case.fixtures.clone(),
    ) {
        Ok(caps) => caps,
        Err(e) => {
            report.status = CaseStatus::Failed(vec![format!("host capabilities: {e:#}")]);
            return report;
        }
    }));
    let outcome = if let Some(reason) = &not_sent {
        let uid = request
            .request
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        report.not_sent = Some(reason.clone());
        Outcome::Response(AdmissionResponse {
            uid: uid.to_owned(),
            allowed: true,
            ..Default::default()
        })
    } else {
        match evaluate(policy, Arc::clone(&env), &suite.settings, &request.request) {
            Ok(evaluation) => evaluation.outcome,
            Err(e) => {
                report.status = CaseStatus::Failed(vec![format!("evaluation failed: {e:#}")]);
                report.actual = Some(format!("(error)\n{}", env.trace()));
                return report;
            }
        }
    };
    let mut problems = check(
        &case.expect,
        &outcome,
        &env.calls(),
        request.request.get("object"),
    );
    if let (Some(reason), false) = (&not_sent, problems.is_empty()) {
        problems.push(format!(
            "the request is not sent to the policy ({reason}), so the cluster admits it"
        ));
    }
    report.actual = Some(render_outcome(&outcome));
    if !problems.is_empty() {
        if let Outcome::Response(response) = &outcome {
            let shows_message = problems.iter().any(|p| p.starts_with("message:"));
            if let (false, Some(message)) = (shows_message, response.message()) {
                problems.push(format!("the policy said: {}", cut(message, 400)));
            }
        }
        report.status = CaseStatus::Failed(problems);
    }
    report
}

fn describe_settings(origin: &SettingsOrigin) -> Option<String> {
    match origin {
        SettingsOrigin::Manifest(m) => Some(m.describe()),
        SettingsOrigin::File(f) => Some(format!("settings {}", f.display())),
        SettingsOrigin::Inline(f) => Some(format!("settings written in {}", f.display())),
        SettingsOrigin::Default => None,
    }
}

/// Names where an invalid setting is: the manifest (file, kind, name) and
/// the field under `spec.settings`. A policy that reports problems as
/// `path: message` joined by `; ` (as this project's policy does) gets each
/// path prefixed with `spec.settings.`; other messages are given whole.
#[must_use]
pub fn locate_settings_message(origin: &SettingsOrigin, message: &str) -> String {
    let (place, prefix) = match origin {
        SettingsOrigin::Manifest(m) => (m.describe(), "spec.settings"),
        SettingsOrigin::File(f) => (f.display().to_string(), ""),
        SettingsOrigin::Inline(f) => (format!("{} (settings)", f.display()), ""),
        SettingsOrigin::Default => ("the default settings ({})".to_owned(), ""),
    };
    let parts: Vec<String> = message
        .split("; ")
        .map(|part| match (prefix.is_empty(), part.split_once(": ")) {
            (false, Some((path, rest))) if looks_like_path(path) => {
                format!("{prefix}.{path}: {rest}")
            }
            (false, _) => format!("{prefix}: {part}"),
            (true, _) => part.to_owned(),
        })
        .collect();
    format!("{place}: {}", parts.join("; "))
}

fn looks_like_path(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
}

/// At most `max` characters of `text`, on one line.
#[must_use]
pub fn cut(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut out: String = one_line.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn settings_messages_name_the_manifest_field() {
        let origin = SettingsOrigin::File(PathBuf::from("s.json"));
        assert_eq!(
            locate_settings_message(&origin, "a[0].b: bad"),
            "s.json: a[0].b: bad"
        );
        let manifest = crate::suite::manifest::PolicyManifest {
            file: PathBuf::from("p.yaml"),
            document: 0,
            kind: crate::suite::manifest::PolicyKind::ClusterAdmissionPolicy,
            name: "k".into(),
            namespace: None,
            module: None,
            settings: Value::Null,
            mutating: None,
            mode: None,
            rules: None,
        };
        let origin = SettingsOrigin::Manifest(manifest);
        assert_eq!(
            locate_settings_message(
                &origin,
                "attestationAuthorities[0].publicKeyData: not a PEM public key; unknown field `x`, expected one of `a`"
            ),
            "p.yaml (ClusterAdmissionPolicy k): spec.settings.attestationAuthorities[0].publicKeyData: \
             not a PEM public key; spec.settings: unknown field `x`, expected one of `a`"
        );
    }

    #[test]
    fn cut_keeps_one_line() {
        assert_eq!(cut("a\n  b", 10), "a b");
        assert_eq!(cut("abcdef", 3), "abc…");
    }
}
