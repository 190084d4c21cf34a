//! Golden cases: one folder per case with `request.json`, `settings.json` (or
//! `settings-invalid.json`), optional `host-capabilities.json`, and
//! `expected.json`. See `README.md` for the `expected.json` format; its
//! `"now"` (an RFC 3339 time or `"none"`) sets the clock the module reads.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::host::admission::evaluate;
use crate::host::capabilities::{HostCapabilities, HostEnvironment};
use crate::host::clock::WasiClock;
use crate::host::runtime::PolicyModule;
use crate::suite::expect::{check, render_outcome};
use crate::suite::file::load_golden_case;

/// Contents of `expected.json`: the same expectation as a suite case's
/// `expect:` (one format for "request + settings → expectation").
pub use crate::suite::expect::Expectation as Expected;

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
    let mut clocked = HashMap::new();
    for case in &cases {
        if let Some(failure) = run_case_with(policy, case, &mut clocked) {
            report.failures.push(failure);
        }
    }
    Ok(report)
}

/// Runs one case; `None` when it passed.
pub fn run_case(policy: &PolicyModule, case: &GoldenCase) -> Option<CaseFailure> {
    run_case_with(policy, case, &mut HashMap::new())
}

/// [`run_case`], with the modules already built for other clocks (each
/// clock is a compilation).
fn run_case_with(
    policy: &PolicyModule,
    case: &GoldenCase,
    clocked: &mut HashMap<WasiClock, PolicyModule>,
) -> Option<CaseFailure> {
    match check_case(policy, case, clocked) {
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

fn check_case(
    policy: &PolicyModule,
    case: &GoldenCase,
    clocked: &mut HashMap<WasiClock, PolicyModule>,
) -> Result<(Vec<String>, String)> {
    let inputs = load_golden_case(&case.dir)?;
    let policy = match inputs.now {
        Some(clock) if clock != policy.clock() => match clocked.entry(clock) {
            std::collections::hash_map::Entry::Occupied(entry) => &*entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                &*entry.insert(policy.with_clock(clock)?)
            }
        },
        _ => policy,
    };
    let env = Arc::new(HostEnvironment::new(HostCapabilities::from_fixtures(
        inputs.fixtures,
    )?));
    let evaluation = evaluate(policy, Arc::clone(&env), &inputs.settings, &inputs.request);
    let evaluation = match evaluation {
        Ok(evaluation) => evaluation,
        Err(e) => {
            return Ok((
                vec![format!("evaluation failed: {e:#}")],
                format!("(error)\n{}", env.trace()),
            ))
        }
    };
    let problems = check(
        &inputs.expected,
        &evaluation.outcome,
        &env.calls(),
        inputs.request.get("object"),
    );
    Ok((problems, render_outcome(&evaluation.outcome)))
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
