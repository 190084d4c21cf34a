//! Loading and running a policy module, the way Kubewarden's policy-server
//! and `kwctl run` do: `wapc::WapcHost` on top of `wasmtime_provider`
//! (synchronous flavour), WASI preview1 with no preopened directories, no
//! environment variables, no arguments and no network, and the host's wall
//! clock (or, for tests, a fixed one or none: see [`crate::host::clock`]).
//!
//! On top of what the provider does, this module:
//! * builds the `wasmtime::Engine` itself (epoch interruption on, wasm
//!   backtraces off so that trap messages stay readable),
//! * runs an epoch ticker thread that enforces the evaluation deadline,
//! * sets a linear-memory limit through the provider's `ResourceLimits`,
//! * caches compiled modules on disk (see [`crate::host::cache`]),
//! * tells apart a waPC *guest error* (the policy reported an error) from a
//!   *trap*, an *exit* or a *deadline* (the policy crashed or was stopped).

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use wapc::WapcHost;
use wasmtime_provider::wasmtime;
use wasmtime_provider::{EpochDeadlines, ResourceLimits, WasmtimeEngineProviderBuilder};
use wasmtime_provider::{WasmtimeEngineProvider, WasmtimeEngineProviderPre};

use crate::host::cache::{self, CacheMode};
use crate::host::capabilities::HostEnvironment;
use crate::host::clock::{self, WasiClock};

/// Length of one epoch tick. The deadline is expressed in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Text that `wasmtime_provider` puts in the guest error when the epoch
/// deadline interrupts a waPC call (`WasmtimeEngineProvider::call`), and in the
/// initialisation error when `wapc_init`/`_start` is interrupted.
/// policy-evaluator matches the same text (`WAPC_EPOCH_INTERRUPTION_ERR_MSG`).
const DEADLINE_MARKER: &str = "execution deadline exceeded";
/// `Display` of every `wasmtime::Trap` (wasm backtraces are disabled, so the
/// trap is the whole message).
const TRAP_PREFIX: &str = "wasm trap:";
/// `Display` of `wasmtime_wasi::I32Exit` (the guest called `proc_exit`).
const EXIT_PREFIX: &str = "Exited with i32 exit status";

/// Default deadline of one waPC call, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
/// Default limit of the guest's linear memory, in MiB.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 256;

/// Limits enforced on the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deadline of each waPC call (and of the module's initialisation), in
    /// milliseconds. `0` disables the deadline.
    pub timeout_ms: u64,
    /// Maximum size of the guest's linear memory, in MiB. `0` means no limit.
    pub max_memory_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_memory_mb: DEFAULT_MAX_MEMORY_MB,
        }
    }
}

impl Limits {
    fn epoch_ticks(&self) -> Option<u64> {
        if self.timeout_ms == 0 {
            return None;
        }
        let tick_ms = EPOCH_TICK.as_millis().max(1) as u64;
        Some(self.timeout_ms.div_ceil(tick_ms).max(1))
    }

    fn resource_limits(&self) -> Option<ResourceLimits> {
        if self.max_memory_mb == 0 {
            return None;
        }
        let bytes = self
            .max_memory_mb
            .saturating_mul(1024 * 1024)
            .try_into()
            .unwrap_or(usize::MAX);
        Some(ResourceLimits {
            max_memory_size: Some(bytes),
            max_table_elements: None,
        })
    }
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("policy-harness-epoch".to_owned())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .context("cannot start the epoch ticker thread")?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            // The thread only sleeps and increments a counter: it cannot
            // panic, and it exits within one tick.
            let _ = handle.join();
        }
    }
}

/// A compiled policy module, ready to be instantiated many times.
///
/// Compile once (per process) with [`PolicyModule::load`], then create one
/// [`PolicyInstance`] per evaluation with [`PolicyModule::instantiate`].
pub struct PolicyModule {
    pre: WasmtimeEngineProviderPre,
    limits: Limits,
    /// The module as given (before any clock shim), to build the same
    /// policy with another clock ([`PolicyModule::with_clock`]).
    source: Arc<[u8]>,
    cache: CacheMode,
    clock: WasiClock,
    // Declared last: dropped after the instances' engine users.
    _ticker: Option<EpochTicker>,
}

impl fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyModule")
            .field("limits", &self.limits)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl PolicyModule {
    /// Reads and compiles the module at `path`.
    pub fn load(path: &Path, limits: Limits, cache: &CacheMode) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read policy module {}", path.display()))?;
        Self::from_bytes(&bytes, limits, cache)
            .with_context(|| format!("cannot load policy module {}", path.display()))
    }

    /// Compiles a module from its bytes (binary wasm, or WAT text), with
    /// the host's real wall clock (as policy-server runs it).
    pub fn from_bytes(bytes: &[u8], limits: Limits, cache: &CacheMode) -> Result<Self> {
        Self::from_bytes_with_clock(bytes, limits, cache, WasiClock::Host)
    }

    /// The same policy with the module's WASI realtime clock set to `clock`
    /// (compiled again: the clock is a shim in the module, see
    /// [`crate::host::clock`]). The TEST flag `--now` uses this.
    pub fn with_clock(&self, clock: WasiClock) -> Result<Self> {
        Self::from_bytes_with_clock(&self.source, self.limits, &self.cache, clock)
    }

    /// The realtime clock the module reads.
    pub fn clock(&self) -> WasiClock {
        self.clock
    }

    /// Compiles a module from its bytes with the given WASI realtime clock
    /// ([`WasiClock::Host`]: the host's, unchanged module).
    pub fn from_bytes_with_clock(
        bytes: &[u8],
        limits: Limits,
        cache: &CacheMode,
        wasi_clock: WasiClock,
    ) -> Result<Self> {
        let source: Arc<[u8]> = Arc::from(bytes);
        let shimmed;
        let bytes = if wasi_clock == WasiClock::Host {
            bytes
        } else {
            shimmed = clock::instrument(bytes, wasi_clock)?;
            &shimmed[..]
        };
        let mut config = wasmtime::Config::new();
        // Trap messages must name the trap ("wasm trap: wasm `unreachable`
        // instruction executed"); with backtraces on, wasmtime_provider's
        // `err.to_string()` would only show the (usually symbol-less) backtrace.
        config.wasm_backtrace_max_frames(None);
        // `perf record` sees guest functions by name (with a module that keeps
        // its name section) when asked: `POLICY_HARNESS_PERFMAP=1`.
        if std::env::var_os("POLICY_HARNESS_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let ticks = limits.epoch_ticks();
        if ticks.is_some() {
            config.epoch_interruption(true);
        }
        let engine = wasmtime::Engine::new(&config)
            .map_err(|e| anyhow!("cannot create the wasmtime engine: {e}"))?;

        let module = cache::load_or_compile(&engine, bytes, cache)?;

        let mut builder = WasmtimeEngineProviderBuilder::new()
            .engine(engine.clone())
            .module(module)
            // Like policy-server: no argv, no env, no preopened directories.
            .wasi_params(wapc::WasiParams::default());
        if let Some(resource_limits) = limits.resource_limits() {
            builder = builder.enable_resource_limits(resource_limits);
        }
        let pre = builder
            .build_pre()
            .map_err(|e| anyhow!("cannot link the module against waPC and WASI: {e}"))?;

        let ticker = match ticks {
            Some(_) => Some(EpochTicker::start(engine)?),
            None => None,
        };
        Ok(Self {
            pre,
            limits,
            source,
            cache: cache.clone(),
            clock: wasi_clock,
            _ticker: ticker,
        })
    }

    /// The limits this policy was loaded with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Instantiates the module (runs `_start`/`wapc_init` under the deadline)
    /// with host calls served by `env`.
    pub fn instantiate(&self, env: Arc<HostEnvironment>) -> Result<PolicyInstance> {
        let deadlines = self.limits.epoch_ticks().map(|ticks| EpochDeadlines {
            wapc_init: ticks,
            wapc_func: ticks,
        });
        let provider: WasmtimeEngineProvider = self
            .pre
            .rehydrate(deadlines)
            .map_err(|e| anyhow!("cannot create a wasmtime store: {e}"))?;
        let callback_env = Arc::clone(&env);
        let host = WapcHost::new(
            Box::new(provider),
            Some(Box::new(
                move |_id, binding, namespace, operation, payload| {
                    callback_env.host_call(binding, namespace, operation, payload)
                },
            )),
        )
        .map_err(|e| {
            let message = e.to_string();
            if message.contains(DEADLINE_MARKER) {
                anyhow!(
                    "policy initialisation exceeded the {} ms deadline ({message})",
                    self.limits.timeout_ms
                )
            } else {
                anyhow!("cannot instantiate the policy module: {message}")
            }
        })?;
        Ok(PolicyInstance {
            host,
            limits: self.limits,
        })
    }
}

/// How a waPC call that did not produce a response failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// The guest reported an error through `__guest_error` (or its handler
    /// returned failure). policy-server turns this into a 500 rejection.
    Guest(String),
    /// The guest trapped (e.g. a Rust panic is an `unreachable` trap).
    Trap(String),
    /// The guest called WASI `proc_exit`.
    Exit(String),
    /// The epoch deadline stopped the guest.
    Deadline,
    /// waPC-level failure that is neither of the above.
    Host(String),
}

impl CallFailure {
    /// `true` for failures that stop the harness (non-zero exit), `false` for
    /// a guest error, which is an answer of the policy.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, CallFailure::Guest(_))
    }

    fn classify(error: wapc::errors::Error) -> Self {
        match error {
            wapc::errors::Error::GuestCallFailure(message) => {
                if message.contains(DEADLINE_MARKER) {
                    CallFailure::Deadline
                } else if message.starts_with(TRAP_PREFIX) {
                    CallFailure::Trap(message)
                } else if message.starts_with(EXIT_PREFIX) {
                    CallFailure::Exit(message)
                } else {
                    CallFailure::Guest(message)
                }
            }
            other => CallFailure::Host(other.to_string()),
        }
    }

    /// The error `policy-harness` reports for a fatal failure.
    pub fn into_error(self, operation: &str, limits: Limits) -> anyhow::Error {
        match self {
            CallFailure::Guest(message) => {
                anyhow!("policy returned an error from `{operation}`: {message}")
            }
            CallFailure::Trap(message) => {
                let hint = if limits.max_memory_mb > 0 {
                    format!(
                        " (a Rust panic or abort shows as `unreachable`; an allocation beyond the \
                         {} MiB memory limit aborts the same way)",
                        limits.max_memory_mb
                    )
                } else {
                    String::new()
                };
                anyhow!("policy trapped during `{operation}`: {message}{hint}")
            }
            CallFailure::Exit(message) => {
                anyhow!("policy exited during `{operation}`: {message}")
            }
            CallFailure::Deadline => anyhow!(
                "policy evaluation exceeded the {} ms deadline (operation `{operation}` interrupted)",
                limits.timeout_ms
            ),
            CallFailure::Host(message) => {
                anyhow!("waPC call `{operation}` failed: {message}")
            }
        }
    }
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Guest(m) => write!(f, "guest error: {m}"),
            CallFailure::Trap(m) => write!(f, "trap: {m}"),
            CallFailure::Exit(m) => write!(f, "exit: {m}"),
            CallFailure::Deadline => write!(f, "deadline exceeded"),
            CallFailure::Host(m) => write!(f, "host error: {m}"),
        }
    }
}

/// One instantiated policy (one wasmtime store).
pub struct PolicyInstance {
    host: WapcHost,
    limits: Limits,
}

impl fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PolicyInstance {
    /// Calls the waPC operation `operation` with `payload`.
    ///
    /// `Ok(Err(_))` is a guest error (the policy answered with an error);
    /// traps, exits and deadlines are returned as `Err`.
    pub fn call(
        &self,
        operation: &str,
        payload: &[u8],
    ) -> Result<std::result::Result<Vec<u8>, String>> {
        match self.call_raw(operation, payload) {
            Ok(bytes) => Ok(Ok(bytes)),
            Err(CallFailure::Guest(message)) => Ok(Err(message)),
            Err(failure) => Err(failure.into_error(operation, self.limits)),
        }
    }

    /// Calls `operation`, returning the classified failure.
    pub fn call_raw(
        &self,
        operation: &str,
        payload: &[u8],
    ) -> std::result::Result<Vec<u8>, CallFailure> {
        self.host
            .call(operation, payload)
            .map_err(CallFailure::classify)
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}
