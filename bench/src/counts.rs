//! Retired instructions, counted by callgrind: figures that do not move
//! with the machine's load, beside the times that do.
//!
//! Each count runs this binary again under `valgrind --tool=callgrind`, in
//! a probe mode (`--count-probe`) that prepares everything outside
//! [`counted_region`] and repeats the measured work `--count-calls` times
//! inside it; callgrind collects only inside that function
//! (`--toggle-collect`), the Cranelift-compiled guest code included. The
//! children use a cache directory of their own: under valgrind wasmtime
//! sees valgrind's CPU, whose compiled code must not replace the native
//! run's cache entry.
//!
//! OpenSSL is counted on the loop whose time the report uses: `openssl
//! speed -seconds 1 ALG` under callgrind, the inclusive instructions of
//! `EVP_PKEY_verify` divided by its calls (one-time setup, such as RSA's
//! Montgomery context, amortised as in the time; the module's slope leaves
//! its key decoding out the same way). Valgrind reports its own CPU model
//! to OpenSSL, so OpenSSL may take a more generic path than natively (no
//! `adx`): its count is then an upper bound of the native one, and the
//! module's ratio a lower bound.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use policy_harness::host::cache::CacheMode;
use policy_harness::host::capabilities::{HostCapabilities, HostEnvironment};
use policy_harness::host::runtime::{Limits, PolicyModule};

use crate::scenarios::{Scenario, Scheme, EXTRA_SIGNATURES};
use crate::server::ServerPath;

/// What a probe child measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Probe {
    /// `validate` on one warm instance (the harness's runtime).
    Warm,
    /// The policy-server path: instantiate + `wapc_init` + drop.
    Fixed,
    /// The policy-server path: instantiate, `validate`, drop.
    Admission,
}

/// Instructions per call of each probe, and OpenSSL's.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Warm `validate` of the slope scenarios, per call, by id.
    pub warm: Vec<(&'static str, f64)>,
    /// Fresh instance's fixed part (policy-server path), per instance.
    pub fixed: Option<f64>,
    /// Scenario 1's whole admission (policy-server path), per request.
    pub admission: Option<f64>,
    /// OpenSSL's verification, per scheme.
    pub openssl: Vec<(Scheme, Result<f64, String>)>,
    /// What could not be counted, and why.
    pub errors: Vec<String>,
}

impl Counts {
    /// Instructions of one verification in the module (the slope).
    #[must_use]
    pub fn slope(&self, scheme: Scheme) -> Option<f64> {
        let (id1, idk) = scheme.slope_ids();
        let get = |id: &str| self.warm.iter().find(|(i, _)| *i == id).map(|(_, v)| *v);
        Some((get(idk)? - get(id1)?) / EXTRA_SIGNATURES as f64)
    }

    /// OpenSSL's instructions for one verification of `scheme`.
    #[must_use]
    pub fn openssl(&self, scheme: Scheme) -> Option<f64> {
        self.openssl
            .iter()
            .find(|(s, _)| *s == scheme)
            .and_then(|(_, r)| r.as_ref().ok().copied())
    }
}

/// The only place callgrind collects in a probe child.
#[inline(never)]
fn counted_region(work: &mut dyn FnMut() -> Result<()>, calls: usize) -> Result<()> {
    for _ in 0..calls {
        work()?;
    }
    Ok(())
}

/// A probe child: prepares, then runs `calls` times inside
/// [`counted_region`].
///
/// # Errors
///
/// The module cannot be loaded or a call fails.
pub fn child(
    probe: Probe,
    module: &Path,
    payload: &Path,
    fixtures: Option<&Path>,
    calls: usize,
) -> Result<()> {
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let payload =
        std::fs::read(payload).with_context(|| format!("cannot read {}", payload.display()))?;
    let capabilities = match fixtures {
        Some(path) => HostCapabilities::from_file(path)?,
        None => HostCapabilities::none(),
    };
    let env = Arc::new(HostEnvironment::new(capabilities));
    match probe {
        Probe::Warm => {
            let m = PolicyModule::from_bytes(&bytes, Limits::default(), &CacheMode::from_env())?;
            let instance = m.instantiate(env)?;
            let mut call = || {
                instance
                    .call("validate", &payload)?
                    .map(drop)
                    .map_err(|e| anyhow!("validate: {e}"))
            };
            call()?;
            counted_region(&mut call, calls)
        }
        Probe::Fixed => {
            let server = ServerPath::new(&bytes, env)?;
            server.fixed()?;
            counted_region(&mut || server.fixed(), calls)
        }
        Probe::Admission => {
            let server = ServerPath::new(&bytes, env)?;
            server.admit(&payload)?;
            counted_region(&mut || server.admit(&payload).map(drop), calls)
        }
    }
}

/// Whether `valgrind` can be run.
fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The collected total of a callgrind output file.
fn callgrind_total(path: &Path) -> Result<u64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no totals in {}", path.display()))
}

/// Runs one probe child under callgrind: instructions per call.
fn count_probe(
    work: &Path,
    module: &Path,
    name: &str,
    probe: Probe,
    payload: &[u8],
    fixtures: Option<&serde_json::Value>,
    calls: usize,
) -> Result<f64> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let payload_path = work.join(format!("{name}.json"));
    std::fs::write(&payload_path, payload)?;
    let fixtures_path = work.join(format!("{name}.fixtures.json"));
    if let Some(f) = fixtures {
        std::fs::write(&fixtures_path, serde_json::to_vec(f)?)?;
    }
    let out = work.join(format!("{name}.callgrind"));
    let probe_arg = match probe {
        Probe::Warm => "warm",
        Probe::Fixed => "fixed",
        Probe::Admission => "admission",
    };
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--toggle-collect=*counted_region*"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .arg("--module")
        .arg(module)
        .args(["--count-probe", probe_arg, "--count-payload"])
        .arg(&payload_path)
        .args(["--count-calls", &calls.to_string()])
        .args(
            fixtures
                .map(|_| vec!["--count-fixtures".as_ref(), fixtures_path.as_os_str()])
                .unwrap_or_default(),
        )
        .env("POLICY_HARNESS_CACHE_DIR", work.join("cache"))
        .stdout(std::process::Stdio::null())
        .output()
        .context("cannot run valgrind")?;
    if !status.status.success() {
        bail!(
            "callgrind run of {name} failed: {}",
            String::from_utf8_lossy(&status.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    let total = callgrind_total(&out)?;
    if total == 0 {
        bail!("callgrind collected nothing for {name} (no `counted_region` symbol?)");
    }
    Ok(total as f64 / calls as f64)
}

/// Inclusive instructions of `function` in a `callgrind_annotate
/// --inclusive=yes` listing.
fn inclusive(listing: &str, function: &str) -> Option<u64> {
    listing.lines().find_map(|l| {
        let (count, rest) = l.trim_start().split_once(' ')?;
        let name = rest.split_whitespace().find(|w| w.contains(':'))?;
        let f = name.rsplit(':').next()?;
        (f == function).then(|| count.replace(',', "").parse().ok())?
    })
}

/// How many times `function` was called, from a callgrind output file
/// written with `--compress-strings=no` (each `cfn=` line names the callee,
/// and the `calls=` line after it counts the calls).
fn calls_to(raw: &str, function: &str) -> u64 {
    let mut pending = false;
    let mut total = 0;
    for line in raw.lines() {
        if let Some(name) = line.strip_prefix("cfn=") {
            pending = name.trim() == function;
        } else if let Some(rest) = line.strip_prefix("calls=") {
            if pending {
                total += rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            pending = false;
        }
    }
    total
}

/// `openssl speed -seconds 1 ALG` under callgrind: the inclusive
/// instructions of `EVP_PKEY_verify` over its calls, i.e. one verification
/// in `openssl speed`'s loop (its one-time setup amortised, as in the
/// time it reports).
fn count_openssl(work: &Path, scheme: Scheme) -> Result<f64> {
    let alg = crate::machine::openssl_algorithm(scheme);
    let out = work.join(format!("openssl-{alg}.callgrind"));
    let o = Command::new("valgrind")
        .args(["--tool=callgrind", "--compress-strings=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .args(["openssl", "speed", "-seconds", "1", alg])
        .output()
        .context("cannot run valgrind openssl speed")?;
    if !o.status.success() {
        bail!(
            "valgrind openssl speed {alg}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let raw =
        std::fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let calls = calls_to(&raw, "EVP_PKEY_verify");
    if calls == 0 {
        bail!("`openssl speed {alg}` made no EVP_PKEY_verify call under callgrind");
    }
    let listing = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100"])
        .arg(&out)
        .output()
        .context("cannot run callgrind_annotate")?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    let verify = inclusive(&listing, "EVP_PKEY_verify")
        .ok_or_else(|| anyhow!("no EVP_PKEY_verify in the callgrind listing"))?;
    Ok(verify as f64 / calls as f64)
}

/// Counts every probe; `None` without valgrind.
#[must_use]
pub fn count_all(module: &Path, scenarios: &[Scenario]) -> Option<Counts> {
    let work = probe_dir()?;
    let mut counts = Counts::default();
    let payload = |id: &str| scenarios.iter().find(|s| s.id == id).map(|s| &s.payload);
    let note = |what: &str, r: Result<f64>, counts: &mut Counts| match r {
        Ok(v) => Some(v),
        Err(e) => {
            counts.errors.push(format!("{what}: {e:#}"));
            None
        }
    };
    for scheme in [Scheme::Rsa2048, Scheme::P256] {
        let (id1, idk) = scheme.slope_ids();
        for (id, calls) in [(id1, 20), (idk, 3)] {
            let Some(p) = payload(id) else { continue };
            eprintln!("bench: callgrind: warm {id}…");
            let r = count_probe(&work, module, id, Probe::Warm, p, None, calls);
            if let Some(v) = note(id, r, &mut counts) {
                counts.warm.push((id, v));
            }
        }
    }
    eprintln!("bench: callgrind: fixed part…");
    let r = count_probe(&work, module, "fixed", Probe::Fixed, b"", None, 20);
    counts.fixed = note("fixed part", r, &mut counts);
    if let Some(p) = payload("1") {
        eprintln!("bench: callgrind: whole admission (scenario 1)…");
        let r = count_probe(&work, module, "admission-1", Probe::Admission, p, None, 10);
        counts.admission = note("whole admission", r, &mut counts);
    }
    for scheme in [Scheme::Rsa2048, Scheme::P256] {
        eprintln!("bench: callgrind: openssl {}…", scheme.label());
        let r = count_openssl(&work, scheme).map_err(|e| format!("{e:#}"));
        counts.openssl.push((scheme, r));
    }
    let _ = std::fs::remove_dir_all(&work);
    Some(counts)
}

/// The folder the probes' payloads and callgrind files go to, created;
/// `None` (said on stderr) without valgrind or when it cannot be made.
fn probe_dir() -> Option<PathBuf> {
    if !valgrind_available() {
        eprintln!("bench: valgrind not found: no instruction counts");
        return None;
    }
    let work = std::env::temp_dir().join(format!("kritis-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("bench: cannot create {}: {e}", work.display());
        return None;
    }
    Some(work)
}

/// Instructions of one warm `validate` of each scenario, on stderr
/// (`--only … --counts`): for comparing two builds of the module.
pub fn print_warm(module: &Path, scenarios: &[Scenario]) {
    let Some(work) = probe_dir() else { return };
    for s in scenarios {
        // The scenario's host answers, so that a host path is counted as
        // it runs, not as it fails.
        let fixtures = crate::runner::fixtures(std::slice::from_ref(s));
        let fixtures = (!fixtures.is_empty()).then(|| crate::runner::fixtures_json(&fixtures));
        match count_probe(
            &work,
            module,
            s.id,
            Probe::Warm,
            &s.payload,
            fixtures.as_ref(),
            10,
        ) {
            Ok(v) => eprintln!(
                "bench: callgrind: warm {}: {:.0} instructions per call",
                s.id, v
            ),
            Err(e) => eprintln!("bench: callgrind: warm {}: {e:#}", s.id),
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inclusive_counts_from_callgrind_annotate() {
        let listing = "--------\nIr  file:function\n--------\n\
            12,345,678 (100.0%)  ???:_start [/usr/bin/openssl]\n\
               140,000 ( 1.13%)  ???:EVP_PKEY_verify [/usr/lib/x86_64-linux-gnu/libcrypto.so.3]\n\
                20,000 ( 0.16%)  ???:BN_MONT_CTX_set_locked [/usr/lib/libcrypto.so.3]\n";
        assert_eq!(inclusive(listing, "EVP_PKEY_verify"), Some(140_000));
        assert_eq!(inclusive(listing, "BN_MONT_CTX_set_locked"), Some(20_000));
        assert_eq!(inclusive(listing, "EVP_PKEY_sign"), None);
    }

    #[test]
    fn counts_the_calls_of_a_function() {
        let raw = "fn=main\ncfn=EVP_PKEY_verify\ncalls=7 0x10\n0x20 500\n\
                   cfn=EVP_PKEY_sign\ncalls=3 0x30\n0x40 9\nfn=loop\n\
                   cfn=EVP_PKEY_verify\ncalls=2 0x10\n0x50 100\n";
        assert_eq!(calls_to(raw, "EVP_PKEY_verify"), 9);
        assert_eq!(calls_to(raw, "EVP_PKEY_sign"), 3);
        assert_eq!(calls_to(raw, "RSA_verify"), 0);
    }

    #[test]
    fn slope_is_per_extra_signature() {
        let k = EXTRA_SIGNATURES as f64;
        let c = Counts {
            warm: vec![("sig-p256-1", 1e6), ("sig-p256-k", 1e6 + k * 5e5)],
            ..Counts::default()
        };
        assert_eq!(c.slope(Scheme::P256), Some(5e5));
        assert_eq!(c.slope(Scheme::Rsa2048), None);
    }
}
