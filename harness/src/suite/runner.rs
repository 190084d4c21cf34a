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
use crate::host::capabilities::{HostCapabilities, HostEnvironment, LiveCapabilities};
use crate::host::clock::{expiry_notes, WasiClock};
use crate::host::response::AdmissionResponse;
use crate::host::runtime::{Limits, PolicyModule};
use crate::oci::registry::{load_policy, RegistryOptions};
use crate::suite::expect::{check, render_outcome};
use crate::suite::file::{Case, CaseRequest, ModuleSource, SettingsOrigin, Suite, SuiteSource};
use crate::suite::yaml::{strip_json_position, PathStep, SettingsSource};

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
    /// `--run`: only the cases whose name, or whose suite's name, contains
    /// one of these (case-sensitive substrings); empty: every case.
    pub select: Vec<String>,
    /// `--allow-network`: answers the host calls no fixture matches (the
    /// registry's `oci` capabilities).
    pub live: Option<Arc<dyn LiveCapabilities>>,
    /// `--now` (TEST flag): the module's realtime clock for the suites that
    /// set none themselves; `None`: the host's.
    pub now: Option<WasiClock>,
}

impl RunOptions {
    fn selects(&self, suite: &str, case: &str) -> bool {
        self.select.is_empty()
            || self
                .select
                .iter()
                .any(|s| case.contains(s.as_str()) || suite.contains(s.as_str()))
    }
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
    loaded: HashMap<(ModuleSource, WasiClock), std::result::Result<Arc<PolicyModule>, String>>,
}

impl ModuleCache {
    fn get(
        &mut self,
        source: &ModuleSource,
        options: &RunOptions,
        clock: WasiClock,
    ) -> std::result::Result<Arc<PolicyModule>, String> {
        if clock != WasiClock::Host {
            // The same module with a clock shim: compiled once per clock.
            if let Some(found) = self.loaded.get(&(source.clone(), clock)) {
                return found.clone();
            }
            let clocked = self.get(source, options, WasiClock::Host).and_then(|m| {
                m.with_clock(clock)
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"))
            });
            self.loaded.insert((source.clone(), clock), clocked.clone());
            return clocked;
        }
        self.loaded
            .entry((source.clone(), WasiClock::Host))
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
        self.loaded.insert((source, module.clock()), Ok(module));
    }
}

/// Loads and runs every suite of `sources`.
#[must_use]
pub fn run_all(sources: &[SuiteSource], options: &RunOptions, modules: &mut ModuleCache) -> Report {
    let suites = sources
        .iter()
        .filter_map(|source| {
            let started = Instant::now();
            match Suite::load(source) {
                Ok(mut suite) => {
                    let name = suite.name.clone();
                    suite.cases.retain(|c| options.selects(&name, &c.name));
                    if suite.cases.is_empty() {
                        return None;
                    }
                    Some(run_suite(&suite, options, modules))
                }
                // A suite that cannot be read is reported even under
                // `--run`: whether it holds a selected case is unknown.
                Err(e) => Some(SuiteReport {
                    name: source.path().display().to_string(),
                    source: source.path().display().to_string(),
                    golden: matches!(source, SuiteSource::GoldenCase(_)),
                    policy: None,
                    module: None,
                    error: Some(format!("cannot load the suite: {e:#}")),
                    cases: Vec::new(),
                    duration: started.elapsed(),
                }),
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
    let clock = suite.now.or(options.now).unwrap_or_default();
    for note in expiry_notes(&suite.settings, clock) {
        eprintln!("policy-harness: note: {}: {note}", suite.name);
    }
    let policy = match modules.get(module, options, clock) {
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
        report.cases.extend(run_case(
            suite,
            case,
            &policy,
            settings_message.is_some(),
            options,
        ));
    }
    report.duration = started.elapsed();
    report
}

fn run_case(
    suite: &Suite,
    case: &Case,
    policy: &PolicyModule,
    settings_invalid: bool,
    options: &RunOptions,
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
            let mut report = run_request(suite, case, policy, request, options);
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
    options: &RunOptions,
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
    let mut env = HostEnvironment::new(
        match HostCapabilities::from_fixtures(case.fixtures.clone()) {
            Ok(caps) => caps,
            Err(e) => {
                report.status = CaseStatus::Failed(vec![format!("host capabilities: {e:#}")]);
                return report;
            }
        },
    );
    if let Some(live) = &options.live {
        env = env.with_live(Arc::clone(live));
    }
    if let Some(cluster) = &case.cluster {
        let host = cluster.host(env.live());
        env = env.with_live(Arc::new(host));
    }
    let env = Arc::new(env);
    let mut mutation_fix = None;
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
            Ok(evaluation) => match (evaluation.outcome, suite.manifest()) {
                // What policy-server does with the answer before the API
                // server sees it (a patch from a non-mutating policy).
                (Outcome::Response(response), Some(manifest)) => {
                    let (response, fix) = manifest.apply_policy_server(response);
                    mutation_fix = fix;
                    Outcome::Response(response)
                }
                (outcome, _) => outcome,
            },
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
        if let Some(fix) = mutation_fix {
            problems.push(fix);
        }
        problems.extend(env.unanswered_hints());
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
    let key = |k: &str| PathStep::Key(k.to_owned());
    let (place, prefix, source) = match origin {
        SettingsOrigin::Manifest(m) => (
            m.describe(),
            "spec.settings",
            Some(SettingsSource {
                file: m.file.clone(),
                document: m.document,
                prefix: vec![key("spec"), key("settings")],
            }),
        ),
        SettingsOrigin::File(f) => (
            f.display().to_string(),
            "",
            Some(SettingsSource {
                file: f.clone(),
                document: 0,
                prefix: Vec::new(),
            }),
        ),
        SettingsOrigin::Inline(f) => (
            format!("{} (settings)", f.display()),
            "",
            Some(SettingsSource {
                file: f.clone(),
                document: 0,
                prefix: vec![key("settings")],
            }),
        ),
        SettingsOrigin::Default => ("the default settings ({})".to_owned(), "", None),
    };
    // The policy's positions are in the compact JSON it was given, not in
    // the user's file: dropped, and the file's own line given instead.
    let text = source
        .as_ref()
        .and_then(|s| std::fs::read_to_string(&s.file).ok());
    let parts: Vec<String> = message
        .split("; ")
        .map(|part| {
            let part = strip_json_position(part);
            let line = match (&source, &text) {
                (Some(source), Some(text)) => source
                    .line_of(text, part)
                    .map_or_else(String::new, |l| format!(" (line {l})")),
                _ => String::new(),
            };
            match (prefix.is_empty(), part.split_once(": ")) {
                (false, Some((path, rest))) if looks_like_path(path) => {
                    format!("{prefix}.{path}: {rest}{line}")
                }
                (false, _) => format!("{prefix}: {part}{line}"),
                (true, _) => format!("{part}{line}"),
            }
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
