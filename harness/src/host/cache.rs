//! On-disk cache of compiled modules.
//!
//! Cranelift takes seconds to compile a policy; the result is stored with
//! `wasmtime::Module::serialize` and loaded back with
//! `Module::deserialize`. The file name is the sha256 of the module bytes
//! plus a hash of `Engine::precompile_compatibility_hash()`, which covers the
//! wasmtime version, the target and every compilation setting (epoch
//! interruption included), so an entry is only ever read by an engine that
//! produced it.
//!
//! Location: `$POLICY_HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/policy-harness`,
//! else `$HOME/.cache/policy-harness`. `POLICY_HARNESS_NO_CACHE=1` (or
//! `--no-cache`) disables it. Failing to write the cache only prints a warning.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, Context, Result};
use sha2::{Digest, Sha256};
use wasmtime_provider::wasmtime::{Engine, Module};

/// Environment variable that disables the cache when set to a non-empty value
/// other than `0`.
pub const NO_CACHE_ENV: &str = "POLICY_HARNESS_NO_CACHE";
/// Environment variable that overrides the cache directory.
pub const CACHE_DIR_ENV: &str = "POLICY_HARNESS_CACHE_DIR";

/// Whether, and where, compiled modules are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheMode {
    /// Always compile.
    Disabled,
    /// Cache compiled modules in this directory.
    Dir(PathBuf),
}

impl CacheMode {
    /// The cache configured by the environment (see the module docs).
    pub fn from_env() -> Self {
        if let Some(value) = std::env::var_os(NO_CACHE_ENV) {
            if !value.is_empty() && value != "0" {
                return CacheMode::Disabled;
            }
        }
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty(CACHE_DIR_ENV) {
            return CacheMode::Dir(PathBuf::from(dir));
        }
        if let Some(dir) = non_empty("XDG_CACHE_HOME") {
            return CacheMode::Dir(PathBuf::from(dir).join("policy-harness"));
        }
        if let Some(home) = non_empty("HOME") {
            return CacheMode::Dir(PathBuf::from(home).join(".cache").join("policy-harness"));
        }
        CacheMode::Disabled
    }
}

/// File name of the cache entry of `bytes` compiled by `engine`.
pub fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    // `DefaultHasher::new()` uses fixed keys: stable for a given build.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{hex}-{:016x}.cwasm", hasher.finish())
}

/// Returns the compiled module, from the cache when possible.
pub fn load_or_compile(engine: &Engine, bytes: &[u8], mode: &CacheMode) -> Result<Module> {
    let dir = match mode {
        CacheMode::Disabled => return compile(engine, bytes),
        CacheMode::Dir(dir) => dir,
    };
    let path = dir.join(cache_key(engine, bytes));
    if let Ok(serialized) = std::fs::read(&path) {
        // SAFETY: `deserialize` trusts the bytes to be the output of
        // `Module::serialize`. Entries are only written by `store` below, under
        // a name derived from the engine's compatibility hash, and wasmtime
        // still checks the embedded version/configuration header (a mismatch
        // or a truncated file is an error, handled by recompiling). A cache
        // directory writable by someone untrusted is outside this harness'
        // threat model. The bytes are read into memory rather than mapped
        // (`deserialize_file`), so a file changed later cannot fault the
        // process.
        match unsafe { Module::deserialize(engine, &serialized) } {
            Ok(module) => return Ok(module),
            Err(e) => eprintln!(
                "policy-harness: warning: ignoring unusable cache entry {}: {e}",
                path.display()
            ),
        }
    }
    let module = compile(engine, bytes)?;
    if let Err(e) = store(&module, dir, &path) {
        eprintln!(
            "policy-harness: warning: cannot write the module cache in {}: {e:#}",
            dir.display()
        );
    }
    Ok(module)
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Module> {
    Module::new(engine, bytes).map_err(|e| anyhow!("cannot compile the WebAssembly module: {e:?}"))
}

fn store(module: &Module, dir: &Path, path: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let serialized = module
        .serialize()
        .map_err(|e| anyhow!("cannot serialize the compiled module: {e}"))?;
    // Write then rename, so that a concurrent reader never sees a partial file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, serialized).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))?;
    Ok(())
}
