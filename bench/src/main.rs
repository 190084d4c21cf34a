//! `kritis-bench`: the policy module in policy-harness's host against the
//! same code run natively; writes `bench/results.md`.
//!
//! Every scenario is generated in-process with real keys (the TEST-ONLY keys
//! of `testdata/keys/`, through `testkit`) and real signatures (`rsa` /
//! `p256`, through `policy_harness::sign`). Each `validate` payload is timed
//! three ways:
//!
//! * **fresh**: a new instance made from the pre-compiled module for each
//!   call, as policy-server does for every evaluation
//!   (`PolicyModule::instantiate` = `InstancePre` rehydration,
//!   `_start`/`wapc_init`), then `validate`, then the instance is dropped;
//!   the timed region covers all three;
//! * **warm**: `validate` called again and again on one instance;
//! * **native**: `kritis_attestation_policy::validate` on the same bytes, in
//!   this process, plus the response encoding the waPC glue does
//!   (`into_response`, `serde_json::to_vec`).
//!
//! The wasm side runs in the same host as the golden tests
//! (`policy_harness::host::runtime`: wasmtime's default Cranelift
//! configuration, epoch deadline and memory limit as `policy-harness run`).
//! Build in the `bench-release` profile (`cargo run --profile
//! bench-release`): the guest's speed does not depend on how this binary is
//! compiled, but instantiation, compilation and the native column do.
//!
//! Modules: [`scenarios`] (what is sent), [`runner`] (timing), [`stats`]
//! (summaries), [`machine`] (the machine and OpenSSL), [`targets`] (the
//! targets, as data), [`report`] (the Markdown).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod counts;
mod history;
mod live;
mod machine;
mod report;
mod runner;
mod scenarios;
mod server;
mod stats;
mod targets;
mod worst;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use policy_harness::host::cache::CacheMode;
use policy_harness::host::capabilities::HostEnvironment;
use policy_harness::host::runtime::{Limits, PolicyModule};
use testkit::keys::KeyDir;

use crate::machine::{Machine, OpenSsl};
use crate::report::Report;
use crate::runner::{Measurements, Runner, COMPILE_RUNS};
use crate::scenarios::{Keys, Scenario};

const DEFAULT_MODULE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../target/wasm32-wasip1/release/kritis_attestation_policy.wasm"
);
const DEFAULT_OUTPUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/results.md");

/// Benchmark of the policy module against the same code run natively.
#[derive(Debug, Parser)]
#[command(name = "kritis-bench", version)]
struct Args {
    /// The policy module (release build).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_MODULE)]
    module: PathBuf,
    /// Where to write the results (markdown).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_OUTPUT)]
    output: PathBuf,
    /// Fresh-instance samples per scenario; warm-instance and native
    /// measurements take 5/2 as many. Each measurement stops early once
    /// `--budget-ms` is spent (but takes at least 20 samples).
    #[arg(long, value_name = "N", default_value_t = 400)]
    iterations: usize,
    /// Time budget of one measurement, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    budget_ms: u64,
    /// Folder of the TEST-ONLY keys (`rsa2048.key.pem`, `rsa2048.pub.pem`…).
    #[arg(long, value_name = "DIR", default_value = testkit::keys::KEYS_DIR)]
    keys_dir: PathBuf,
    /// Run only these scenarios (ids as in the results, e.g. `1,3b`), with
    /// no compilation timing, no OpenSSL and no target check: for profiling.
    #[arg(long, value_name = "ID,…", value_delimiter = ',')]
    only: Vec<String>,
    /// With `--only`: also count the retired instructions of one warm
    /// `validate` of each scenario run (callgrind), printed on stderr:
    /// figures that do not move with the machine's load, to compare two
    /// builds of the module while other work runs.
    #[arg(long, requires = "only")]
    counts: bool,
    /// Internal: run one instruction-count probe (under callgrind).
    #[arg(long, hide = true, value_enum)]
    count_probe: Option<counts::Probe>,
    /// Internal: the probe's payload file.
    #[arg(long, hide = true, value_name = "FILE")]
    count_payload: Option<PathBuf>,
    /// Internal: the probe's host-capabilities fixture file.
    #[arg(long, hide = true, value_name = "FILE")]
    count_fixtures: Option<PathBuf>,
    /// Internal: how many times the probe repeats its work.
    #[arg(long, hide = true, default_value_t = 1)]
    count_calls: usize,
}

impl Args {
    /// A full run: every scenario, compilation, OpenSSL, targets.
    fn full(&self) -> bool {
        self.only.is_empty()
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(probe) = args.count_probe {
        let payload = args.count_payload.clone().unwrap_or_default();
        return counts::child(
            probe,
            &args.module,
            &payload,
            args.count_fixtures.as_deref(),
            args.count_calls,
        );
    }
    let started = Instant::now();
    let bytes = std::fs::read(&args.module)
        .with_context(|| format!("cannot read the module {}", args.module.display()))?;
    let keys = Keys::load(&KeyDir::new(&args.keys_dir))?;
    eprintln!("bench: signing the scenarios…");
    let scenarios = select(scenarios::all(&keys)?, &args.only)?;

    let compile = if args.full() {
        eprintln!("bench: compiling the module ({COMPILE_RUNS} uncached compilations)…");
        Some(runner::time_compilation(&bytes)?)
    } else {
        None
    };
    let load_average = machine::load_average();
    let limits = Limits::default();
    let module = PolicyModule::from_bytes(&bytes, limits, &CacheMode::from_env())?;
    let env = Arc::new(HostEnvironment::new(runner::host_capabilities(&scenarios)?));
    let runner = Runner::new(
        &module,
        Arc::clone(&env),
        args.iterations,
        Duration::from_millis(args.budget_ms),
    );
    let instantiate = runner.time_instantiation()?;
    // The policy-server path first, in a process that has run nothing
    // else yet: after the 3 MiB candidates, the host's allocator state
    // made every later instance slower (fixed part 53 -> 75 us in one run),
    // which is this process's history, not the policy's cost.
    let server = if args.full() {
        Some(server_run(&bytes, &env, &scenarios, &args)?)
    } else {
        None
    };
    let mut rows = Vec::new();
    for s in &scenarios {
        eprintln!("bench: scenario {}: {}", s.id, s.title);
        rows.push(runner.run(s)?);
    }
    runner.ensure_only_fixture_calls()?;
    let openssl = args.full().then(|| {
        eprintln!("bench: openssl speed…");
        OpenSsl::measure()
    });
    let counts = if args.full() {
        eprintln!("bench: instruction counts (callgrind; a few minutes)…");
        counts::count_all(&args.module, &scenarios)
    } else {
        if args.counts {
            counts::print_warm(&args.module, &scenarios);
        }
        None
    };

    let elapsed = started.elapsed();
    let machine = Machine::describe();
    // The file about to be replaced may hold a run of an earlier day.
    let earlier = std::fs::read_to_string(&args.output)
        .ok()
        .and_then(|previous| history::carried(&previous, &machine.date));
    let report = Report {
        module: args.module.clone(),
        measurements: Measurements {
            module_size: bytes.len(),
            compile,
            instantiate,
            rows,
            openssl,
            server,
            counts,
        },
        machine,
        limits,
        load_average,
        elapsed,
        budget_ms: args.budget_ms,
        earlier,
    };
    write_report(&report, &args.output)?;
    eprintln!(
        "bench: wrote {} in {:.0} s",
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Scenario 1 (three runs) and 9, and the fixed part, on the policy-server
/// path ([`server`]).
fn server_run(
    bytes: &[u8],
    env: &Arc<HostEnvironment>,
    scenarios: &[Scenario],
    args: &Args,
) -> Result<server::ServerRun> {
    eprintln!("bench: the policy-server path (policy-evaluator 0.30.4)…");
    let path = server::ServerPath::new(bytes, Arc::clone(env))?;
    let budget = Duration::from_millis(args.budget_ms);
    let n = args.iterations.saturating_mul(5) / 2;
    let payload = |id: &str| {
        scenarios
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.payload.as_slice())
            .with_context(|| format!("no scenario {id}"))
    };
    let one = payload("1")?;
    let expected = path.admit(one)?;
    let mut admission = Vec::new();
    for _ in 0..server::ADMISSION_RUNS {
        admission.push(stats::measure(n, budget, 3, || {
            let answer = path.admit(one)?;
            if answer != expected {
                bail!("the policy-server path answered differently");
            }
            Ok(())
        })?);
    }
    let keyless = match payload("9") {
        Ok(p) => Some(stats::measure(n, budget, 3, || path.admit(p).map(drop))?),
        Err(_) => None,
    };
    let fixed = path.time_fixed(n, budget)?;
    Ok(server::ServerRun {
        admission,
        keyless,
        fixed,
    })
}

/// The scenarios `--only` names (all of them without it).
fn select(mut all: Vec<Scenario>, only: &[String]) -> Result<Vec<Scenario>> {
    if only.is_empty() {
        return Ok(all);
    }
    for id in only {
        if !all.iter().any(|s| s.id == id) {
            bail!("--only: no scenario {id:?}");
        }
    }
    all.retain(|s| only.iter().any(|id| id == s.id));
    Ok(all)
}

/// Writes the report to `output` and stdout; lists unmet targets on stderr.
fn write_report(report: &Report, output: &Path) -> Result<()> {
    let text = report.render()?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(output, &text).with_context(|| format!("cannot write {}", output.display()))?;
    print!("{text}");
    let unmet: Vec<&str> = targets::evaluate(&report.measurements)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.met == Some(false))
        .map(|c| c.target.id)
        .collect();
    if !unmet.is_empty() {
        eprintln!("bench: targets not met: {}", unmet.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_defaults() {
        let args = Args::try_parse_from(["kritis-bench"]).unwrap();
        assert!(args
            .module
            .ends_with("bench/../target/wasm32-wasip1/release/kritis_attestation_policy.wasm"));
        assert!(args.output.ends_with("bench/results.md"));
        assert_eq!((args.iterations, args.budget_ms), (400, 3000));
        assert!(args.full());
        let args = Args::try_parse_from(["kritis-bench", "--only", "1,3b"]).unwrap();
        assert_eq!(args.only, ["1", "3b"]);
        assert!(!args.full());
    }

    #[test]
    fn only_keeps_the_named_scenarios_and_refuses_unknown_ids() {
        let all = || scenarios::all(&Keys::load(&KeyDir::default()).unwrap()).unwrap();
        let kept = select(all(), &["3b".to_owned(), "1".to_owned()]).unwrap();
        let ids: Vec<&str> = kept.iter().map(|s| s.id).collect();
        assert_eq!(ids, ["1", "3b"]);
        let err = select(all(), &["99".to_owned()]).unwrap_err();
        assert_eq!(err.to_string(), "--only: no scenario \"99\"");
    }
}
