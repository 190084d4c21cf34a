//! The whole admission as policy-server 1.31 runs it, on policy-evaluator
//! 0.30.4's waPC path (read from their sources, tags `v1.31.0` and
//! `v0.30.4`):
//!
//! * engine: `wasmtime::Config::new()` with `epoch_interruption(true)`
//!   (policy-server's `lib.rs`: on whenever an evaluation limit is set,
//!   which its default of 2 s is), nothing else: Cranelift's defaults,
//!   wasm backtraces on, on-demand instance allocation; an epoch tick every
//!   second and a deadline of the limit in ticks;
//! * once per policy: `WasmtimeEngineProviderBuilder::new().engine(..)
//!   .module(..).build_pre()` (policy-evaluator's `StackPre::new`: an
//!   `InstancePre` of the module linked against waPC and WASI, no WASI
//!   parameters, no resource limits);
//! * per request (`WapcStack::new_from_pre`): `rehydrate` (a new `Store`
//!   and instance from the `InstancePre`), `WapcHost::new` (runs `_start`
//!   and `wapc_init`), one `validate` call, then the stack is dropped.
//!
//! The host callback serves the bench's fixtures (policy-evaluator's sends
//! each call to policy-server's callback handler); the JSON policy-evaluator
//! writes around the call (the `ValidationRequest` and the response it
//! parses) is the server's, outside this measurement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use policy_harness::host::cache::{self, CacheMode};
use policy_harness::host::capabilities::HostEnvironment;
use wapc::WapcHost;
use wasmtime_provider::wasmtime;
use wasmtime_provider::{EpochDeadlines, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre};

use crate::stats::{measure, Stats};

/// policy-server's default evaluation limit, in seconds (= epoch ticks: it
/// increments the epoch every second).
const DEADLINE_TICKS: u64 = 2;
/// Runs of the whole admission; its target takes their median.
pub const ADMISSION_RUNS: usize = 3;

/// Increments the engine's epoch every second, as policy-server does.
struct Ticker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            // The thread only sleeps and increments a counter.
            let _ = h.join();
        }
    }
}

/// The module prepared as policy-evaluator prepares it.
pub struct ServerPath {
    pre: WasmtimeEngineProviderPre,
    env: Arc<HostEnvironment>,
    _ticker: Ticker,
}

impl ServerPath {
    /// Compiles `bytes` (or loads them from the harness's cache, keyed by
    /// this engine's configuration) and builds the `InstancePre`.
    ///
    /// # Errors
    ///
    /// The engine, the module or the linking fails.
    pub fn new(bytes: &[u8], env: Arc<HostEnvironment>) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine =
            wasmtime::Engine::new(&config).map_err(|e| anyhow!("cannot create the engine: {e}"))?;
        let module = cache::load_or_compile(&engine, bytes, &CacheMode::from_env())?;
        let pre = WasmtimeEngineProviderBuilder::new()
            .engine(engine.clone())
            .module(module)
            .build_pre()
            .map_err(|e| anyhow!("cannot build the InstancePre: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("bench-epoch".to_owned())
            .spawn(move || {
                // Short sleeps so that dropping the ticker is quick.
                let mut slept = Duration::ZERO;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                    slept += Duration::from_millis(20);
                    if slept >= Duration::from_secs(1) {
                        engine.increment_epoch();
                        slept = Duration::ZERO;
                    }
                }
            })
            .context("cannot start the epoch thread")?;
        Ok(Self {
            pre,
            env,
            _ticker: Ticker {
                stop,
                handle: Some(handle),
            },
        })
    }

    /// A new store and instance from the `InstancePre` (no guest code runs).
    fn rehydrate(&self) -> Result<wasmtime_provider::WasmtimeEngineProvider> {
        self.pre
            .rehydrate(Some(EpochDeadlines {
                wapc_init: DEADLINE_TICKS,
                wapc_func: DEADLINE_TICKS,
            }))
            .map_err(|e| anyhow!("rehydrate: {e}"))
    }

    /// `WapcHost::new` on a rehydrated provider: `_start`, `wapc_init`.
    fn host(&self, provider: wasmtime_provider::WasmtimeEngineProvider) -> Result<WapcHost> {
        let env = Arc::clone(&self.env);
        WapcHost::new(
            Box::new(provider),
            Some(Box::new(
                move |_id, binding, namespace, operation, payload| {
                    env.host_call(binding, namespace, operation, payload)
                },
            )),
        )
        .map_err(|e| anyhow!("WapcHost::new: {e}"))
    }

    /// One request: new instance, `validate`, drop.
    ///
    /// # Errors
    ///
    /// Instantiation or the call fails.
    pub fn admit(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let host = self.host(self.rehydrate()?)?;
        let answer = host
            .call("validate", payload)
            .map_err(|e| anyhow!("validate: {e}"))?;
        drop(host);
        Ok(answer)
    }

    /// Instantiate and drop, no call.
    ///
    /// # Errors
    ///
    /// Instantiation fails.
    pub fn fixed(&self) -> Result<()> {
        drop(self.host(self.rehydrate()?)?);
        Ok(())
    }

    /// The fixed part of a request, timed step by step: rehydrate,
    /// `WapcHost::new` (`_start` + `wapc_init`), drop; and all three in
    /// one region.
    ///
    /// # Errors
    ///
    /// Instantiation fails.
    pub fn time_fixed(&self, n: usize, budget: Duration) -> Result<FixedPart> {
        for _ in 0..3 {
            self.fixed()?;
        }
        let (mut re, mut init, mut dr) = (Vec::new(), Vec::new(), Vec::new());
        let start = Instant::now();
        while re.len() < n.max(1) {
            let t0 = Instant::now();
            let provider = self.rehydrate()?;
            let t1 = Instant::now();
            let host = self.host(provider)?;
            let t2 = Instant::now();
            drop(host);
            let t3 = Instant::now();
            re.push((t1 - t0).as_secs_f64());
            init.push((t2 - t1).as_secs_f64());
            dr.push((t3 - t2).as_secs_f64());
            if re.len() >= crate::stats::MIN_SAMPLES && start.elapsed() >= budget {
                break;
            }
        }
        let whole = measure(n, budget, 3, || self.fixed())?;
        Ok(FixedPart {
            rehydrate: Stats::of(re),
            init: Stats::of(init),
            drop: Stats::of(dr),
            whole,
        })
    }
}

/// The fixed part of a fresh instance, step by step.
#[derive(Debug, Clone, Copy)]
pub struct FixedPart {
    /// `WasmtimeEngineProviderPre::rehydrate`: store, instance, WASI context.
    pub rehydrate: Stats,
    /// `WapcHost::new`: `_start` and `wapc_init` in the guest.
    pub init: Stats,
    /// Dropping the `WapcHost`: store and linear memory released.
    pub drop: Stats,
    /// The three in one timed region.
    pub whole: Stats,
}

/// What the policy-server path measured.
#[derive(Debug, Clone)]
pub struct ServerRun {
    /// Scenario 1, fresh instance per request, [`ADMISSION_RUNS`] runs.
    pub admission: Vec<Stats>,
    /// The keyless scenario (9) on the same path.
    pub keyless: Option<Stats>,
    /// The fixed part.
    pub fixed: FixedPart,
}

impl ServerRun {
    /// Median of the runs' medians of the whole admission.
    #[must_use]
    pub fn admission_median(&self) -> Option<f64> {
        let mut m: Vec<f64> = self.admission.iter().map(|s| s.median).collect();
        if m.is_empty() {
            return None;
        }
        m.sort_by(f64::total_cmp);
        Some(m[m.len() / 2])
    }
}
