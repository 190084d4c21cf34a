//! Timing: each scenario's `validate` in the module (fresh instance, warm
//! instance) and natively, the module's compilation and instantiation, and
//! what the measurements say once gathered.

mod fixtures;
mod native;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use policy_harness::host::capabilities::{HostCall, HostCallOutcome, HostEnvironment};
use policy_harness::host::runtime::{PolicyInstance, PolicyModule};
use serde_json::Value;
use wasmtime_provider::wasmtime;

use crate::counts::Counts;
use crate::machine::{self, OpenSsl};
use crate::scenarios::{Group, Scenario, Scheme, EXTRA_SIGNATURES};
use crate::server::ServerRun;
use crate::stats::{measure, Stats};
use kritis_attestation_policy::evaluate::Work;
use native::{native_validate, FixtureHost};

pub use fixtures::{fixtures, fixtures_json, host_capabilities};

/// Uncached compilations timed.
pub const COMPILE_RUNS: usize = 3;
/// Untimed calls before each measurement.
const WARMUP: usize = 3;

/// The timings of one scenario.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario's id.
    pub id: &'static str,
    /// The scenario's title.
    pub title: String,
    /// Bytes of the `validate` payload.
    pub payload_len: usize,
    /// New instance per call; `None` for the slope scenarios.
    pub fresh: Option<Stats>,
    /// One instance, called again and again.
    pub warm: Stats,
    /// The same crate, in-process.
    pub native: Stats,
    /// Natively, the payload only tokenised (`serde_json` skipping every
    /// value): the least any JSON reader of these bytes pays.
    pub tokenise: Stats,
    /// Host calls one `validate` makes.
    pub host_calls: usize,
    /// Those host calls replayed on the harness's host alone (fixture
    /// lookups, recording): what the module's time holds that is not the
    /// policy's; `None` without host calls.
    pub host_replay: Option<Stats>,
    /// What the policy did (natively, same decisions): verifications,
    /// attestations, host calls.
    pub work: Option<Work>,
    /// The scheme whose verifications dominate (worst-case candidates).
    pub verify_scheme: Option<Scheme>,
    /// Distinct images (worst-case candidates; 0 otherwise).
    pub images: usize,
}

/// Everything measured in one run.
#[derive(Debug, Clone)]
pub struct Measurements {
    /// Bytes of the module.
    pub module_size: usize,
    /// Uncached compilation; `None` in a partial run (`--only`).
    pub compile: Option<Stats>,
    /// Instantiate + drop, no call.
    pub instantiate: Stats,
    /// One per scenario run, in order.
    pub rows: Vec<Row>,
    /// OpenSSL on the same machine; `None` in a partial run.
    pub openssl: Option<OpenSsl>,
    /// The whole admission as policy-server runs it; `None` in a partial
    /// run.
    pub server: Option<ServerRun>,
    /// Retired instructions (callgrind); `None` in a partial run or
    /// without valgrind.
    pub counts: Option<Counts>,
}

impl Measurements {
    /// The row of scenario `id`, if it ran.
    #[must_use]
    pub fn row(&self, id: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// Fresh-instance median of scenario `id`.
    #[must_use]
    pub fn fresh(&self, id: &str) -> Option<f64> {
        self.row(id).and_then(|r| r.fresh).map(|s| s.median)
    }

    /// Warm-instance median of scenario `id`.
    #[must_use]
    pub fn warm(&self, id: &str) -> Option<f64> {
        self.row(id).map(|r| r.warm.median)
    }

    /// Cost of one verification of `scheme` (wasm warm, native), from the
    /// slope scenarios.
    #[must_use]
    pub fn slope(&self, scheme: Scheme) -> Option<(f64, f64)> {
        let (id1, idk) = scheme.slope_ids();
        let one = self.row(id1)?;
        let many = self.row(idk)?;
        let k = EXTRA_SIGNATURES as f64;
        Some((
            (many.warm.median - one.warm.median) / k,
            (many.native.median - one.native.median) / k,
        ))
    }
}

/// The `accepted` field of a `validate` answer.
fn accepted(response: &[u8]) -> Result<bool> {
    let v: Value = serde_json::from_slice(response).context("validate answered no JSON")?;
    v.get("accepted")
        .and_then(Value::as_bool)
        .ok_or_else(|| anyhow!("validate answered no `accepted`: {v}"))
}

fn call(instance: &PolicyInstance, op: &str, payload: &[u8]) -> Result<Vec<u8>> {
    instance
        .call(op, payload)?
        .map_err(|e| anyhow!("the policy returned an error from `{op}`: {e}"))
}

/// Times `validate` in the module and natively.
pub struct Runner<'a> {
    module: &'a PolicyModule,
    env: Arc<HostEnvironment>,
    fresh_n: usize,
    warm_n: usize,
    budget: Duration,
}

impl<'a> Runner<'a> {
    /// `fresh_n` fresh-instance samples per scenario, 5/2 as many warm and
    /// native ones, each measurement capped at `budget`.
    #[must_use]
    pub fn new(
        module: &'a PolicyModule,
        env: Arc<HostEnvironment>,
        fresh_n: usize,
        budget: Duration,
    ) -> Self {
        Self {
            module,
            env,
            fresh_n,
            warm_n: fresh_n.saturating_mul(5) / 2,
            budget,
        }
    }

    fn instantiate(&self) -> Result<PolicyInstance> {
        self.module.instantiate(Arc::clone(&self.env))
    }

    /// Instantiate + drop, no call.
    ///
    /// # Errors
    ///
    /// Instantiation failed.
    pub fn time_instantiation(&self) -> Result<Stats> {
        measure(self.warm_n, self.budget, WARMUP, || {
            self.instantiate().map(drop)
        })
    }

    /// Checks the scenario's answers, then times it.
    ///
    /// # Errors
    ///
    /// The module fails, rejects the settings, answers another verdict than
    /// expected, or answers differently from the native build.
    pub fn run(&self, s: &Scenario) -> Result<Row> {
        let calls = self.check(s)?;
        let host_calls = calls.len();
        let fresh = if matches!(s.group, Group::Main | Group::Bounds) {
            Some(measure(self.fresh_n, self.budget, WARMUP, || {
                let instance = self.instantiate()?;
                call(&instance, "validate", &s.payload)?;
                Ok(())
            })?)
        } else {
            None
        };
        let instance = self.instantiate()?;
        let warm = measure(self.warm_n, self.budget, WARMUP, || {
            call(&instance, "validate", &s.payload).map(drop)
        })?;
        drop(instance);
        let host = FixtureHost::of(s);
        let native = measure(self.warm_n, self.budget, WARMUP, || {
            native_validate(&s.payload, &host).map(drop)
        })?;
        let tokenise = measure(self.warm_n, self.budget, WARMUP, || {
            serde_json::from_slice::<serde::de::IgnoredAny>(&s.payload)
                .map(drop)
                .map_err(Into::into)
        })?;
        let host_replay = if calls.is_empty() {
            None
        } else {
            let requests: Vec<(HostCall, Vec<u8>)> = calls
                .into_iter()
                .map(|c| {
                    // The recorded request is the payload parsed as JSON
                    // (the SDK sends JSON, an image reference as a JSON
                    // string): written back, it is what the guest sent.
                    let payload = serde_json::to_vec(&c.request).unwrap_or_default();
                    (c, payload)
                })
                .collect();
            Some(measure(self.warm_n, self.budget, WARMUP, || {
                for (c, payload) in &requests {
                    self.env
                        .host_call(&c.binding, &c.namespace, &c.operation, payload)
                        .map_err(|e| anyhow!("replaying {c}: {e}"))?;
                }
                Ok(())
            })?)
        };
        Ok(Row {
            id: s.id,
            title: s.title.clone(),
            payload_len: s.payload.len(),
            fresh,
            warm,
            native,
            tokenise,
            host_calls,
            host_replay,
            work: Some(kritis_attestation_policy::evaluate::validate_counting(&s.payload, &host).1),
            verify_scheme: s.verify_scheme,
            images: s.images,
        })
    }

    /// Correctness first: the settings pass, the verdict is the expected
    /// one, and the module answers exactly what the same code answers
    /// natively. Returns the host calls one `validate` made.
    fn check(&self, s: &Scenario) -> Result<Vec<HostCall>> {
        // As policy-server does once when it loads the policy.
        let instance = self.instantiate()?;
        let answer = call(&instance, "validate_settings", &s.settings)?;
        let v: Value = serde_json::from_slice(&answer)?;
        if v.get("valid") != Some(&Value::Bool(true)) {
            bail!("scenario {}: settings rejected: {v}", s.id);
        }
        let before = self.env.calls().len();
        let wasm_answer = call(&instance, "validate", &s.payload)?;
        let calls: Vec<HostCall> = self.env.calls().split_off(before);
        let native_answer = native_validate(&s.payload, &FixtureHost::of(s))?;
        if accepted(&wasm_answer)? != s.expect_allowed {
            bail!(
                "scenario {}: expected accepted={}, the module answered {}",
                s.id,
                s.expect_allowed,
                String::from_utf8_lossy(&wasm_answer)
            );
        }
        if wasm_answer != native_answer {
            bail!(
                "scenario {}: the module and the native build answer differently:\n  wasm:   {}\n  native: {}",
                s.id,
                String::from_utf8_lossy(&wasm_answer),
                String::from_utf8_lossy(&native_answer)
            );
        }
        if let Some(c) = calls
            .iter()
            .find(|c| c.outcome != HostCallOutcome::Response)
        {
            bail!("scenario {}: a host call no fixture answers: {c}", s.id);
        }
        Ok(calls)
    }

    /// The module asked the host only what a scenario's fixtures answer
    /// (the registry source's `oci`/`v2/verify`).
    ///
    /// # Errors
    ///
    /// The module made a host call no fixture answers.
    pub fn ensure_only_fixture_calls(&self) -> Result<()> {
        let calls = self.env.calls();
        if let Some(call) = calls
            .iter()
            .find(|c| c.outcome != HostCallOutcome::Response)
        {
            bail!("the policy made a host call no scenario expects: {call}");
        }
        Ok(())
    }
}

/// [`COMPILE_RUNS`] uncached compilations of `bytes`, with an engine
/// configured as the harness's runtime.
///
/// # Errors
///
/// The engine cannot be created or the module does not compile.
pub fn time_compilation(bytes: &[u8]) -> Result<Stats> {
    let engine = machine::engine_like_runtime()?;
    let mut samples = Vec::new();
    for _ in 0..COMPILE_RUNS {
        let t = Instant::now();
        wasmtime::Module::new(&engine, bytes).map_err(|e| anyhow!("compilation failed: {e}"))?;
        samples.push(t.elapsed().as_secs_f64());
    }
    Ok(Stats::of(samples))
}

/// Made-up measurements of a full run, for the tests of the report.
#[cfg(test)]
pub mod fixture {
    use super::{Measurements, Row};
    use crate::machine::{OpenSsl, OpenSslSpeed};
    use crate::stats::Stats;

    /// Stats of `n` samples with this median and p99.
    pub fn stats(n: usize, median: f64, p99: f64) -> Stats {
        Stats { n, median, p99 }
    }

    /// A row: fresh (if any), warm and native medians, p99 = 2 × median.
    pub fn row(id: &'static str, fresh: Option<f64>, warm: f64, native: f64) -> Row {
        Row {
            id,
            title: format!("scenario {id}"),
            payload_len: 10_240,
            fresh: fresh.map(|f| stats(400, f, 2.0 * f)),
            warm: stats(1000, warm, 2.0 * warm),
            native: stats(1000, native, 2.0 * native),
            tokenise: stats(1000, native / 4.0, native / 2.0),
            host_calls: 0,
            host_replay: None,
            work: None,
            verify_scheme: None,
            images: 0,
        }
    }

    /// Every scenario of a full run, OpenSSL and the compilation included.
    pub fn measurements() -> Measurements {
        use crate::counts::Counts;
        use crate::scenarios::Scheme;
        use crate::server::{FixedPart, ServerRun};
        let k = crate::scenarios::EXTRA_SIGNATURES as f64;
        let with_replay = |mut r: Row, replay: f64| {
            r.host_calls = 2;
            r.host_replay = Some(stats(1000, replay, 2.0 * replay));
            r
        };
        let speed = |verify_per_s: f64| {
            Ok(OpenSslSpeed {
                verify_per_s,
                line: format!("verify/s {verify_per_s}"),
            })
        };
        Measurements {
            module_size: 300 * 1024,
            compile: Some(stats(3, 0.120, 0.130)),
            instantiate: stats(1000, 20e-6, 40e-6),
            rows: vec![
                row("1", Some(100e-6), 80e-6, 40e-6),
                row("2", Some(1.5e-3), 1.4e-3, 1.0e-3),
                row("3a", Some(400e-6), 380e-6, 200e-6),
                row("3b", Some(100e-6), 80e-6, 40e-6),
                row("4", Some(5e-3), 4.9e-3, 3e-3),
                row("5", Some(120e-6), 99e-6, 50e-6),
                row("6", Some(90e-6), 70e-6, 35e-6),
                row("sig-rsa2048-1", None, 80e-6, 40e-6),
                row("sig-rsa2048-k", None, 80e-6 + k * 50e-6, 40e-6 + k * 25e-6),
                row("sig-rsa4096-1", None, 300e-6, 150e-6),
                row(
                    "sig-rsa4096-k",
                    None,
                    300e-6 + k * 200e-6,
                    150e-6 + k * 100e-6,
                ),
                row("sig-p256-1", None, 200e-6, 100e-6),
                row("sig-p256-k", None, 200e-6 + k * 150e-6, 100e-6 + k * 60e-6),
                with_replay(row("8", Some(60e-6), 20e-6, 6e-6), 5e-6),
                with_replay(row("9", Some(300e-6), 200e-6, 180e-6), 10e-6),
                row("10b", Some(4e-3), 3e-3, 2e-3),
                row("w1", Some(4e-3), 3.5e-3, 2e-3),
            ],
            openssl: Some(OpenSsl::from_parts(
                speed(50_000.0),
                speed(12_500.0),
                speed(20_000.0),
            )),
            server: Some(ServerRun {
                admission: vec![
                    stats(1000, 110e-6, 200e-6),
                    stats(1000, 100e-6, 200e-6),
                    stats(1000, 120e-6, 200e-6),
                ],
                keyless: Some(stats(1000, 300e-6, 400e-6)),
                fixed: FixedPart {
                    rehydrate: stats(1000, 10e-6, 20e-6),
                    init: stats(1000, 20e-6, 40e-6),
                    drop: stats(1000, 5e-6, 10e-6),
                    whole: stats(1000, 35e-6, 70e-6),
                },
            }),
            counts: Some(Counts {
                warm: vec![
                    ("sig-rsa2048-1", 1e6),
                    ("sig-rsa2048-k", 1e6 + k * 400e3),
                    ("sig-p256-1", 1e6),
                    ("sig-p256-k", 1e6 + k * 800e3),
                ],
                fixed: Some(300e3),
                admission: Some(900e3),
                openssl: vec![(Scheme::Rsa2048, Ok(100e3)), (Scheme::P256, Ok(200e3))],
                errors: Vec::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(median: f64) -> Stats {
        Stats {
            n: 1,
            median,
            p99: median,
        }
    }

    fn row(id: &'static str, warm: f64, native: f64) -> Row {
        Row {
            id,
            title: id.to_owned(),
            payload_len: 0,
            fresh: None,
            warm: stats(warm),
            native: stats(native),
            tokenise: stats(native / 4.0),
            host_calls: 0,
            host_replay: None,
            work: None,
            verify_scheme: None,
            images: 0,
        }
    }

    #[test]
    fn slope_is_the_cost_of_one_extra_signature() {
        let k = EXTRA_SIGNATURES as f64;
        let m = Measurements {
            module_size: 0,
            compile: None,
            instantiate: stats(0.0),
            rows: vec![
                row("sig-p256-1", 1.0, 0.5),
                row("sig-p256-k", 1.0 + 2.0 * k, 0.5 + k),
            ],
            openssl: None,
            server: None,
            counts: None,
        };
        assert_eq!(m.slope(Scheme::P256), Some((2.0, 1.0)));
        assert_eq!(m.slope(Scheme::Rsa2048), None);
        assert_eq!(m.warm("sig-p256-1"), Some(1.0));
        assert_eq!(m.fresh("sig-p256-1"), None);
    }
}
