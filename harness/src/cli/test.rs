//! `policy-harness test`: runs suites (a policy manifest against workloads,
//! or golden cases) and prints one line per case, or JUnit XML.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::host::cache::CacheMode;
use crate::host::capabilities::LiveCapabilities;
use crate::host::runtime::{Limits, DEFAULT_MAX_MEMORY_MB, DEFAULT_TIMEOUT_MS};
use crate::oci::keyless::{KeylessLive, TrustRoot};
use crate::oci::registry::{is_registry_reference, LiveRegistry, RegistryOptions};
use crate::oci::sources::apply_sources_file;
use crate::suite::file::identity::LEGACY_WARNING;
use crate::suite::file::{discover, ModuleSource};
use crate::suite::output::{render_junit, render_text};
use crate::suite::runner::{run_all, ModuleCache, RunOptions};

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per case and a summary.
    Text,
    /// JUnit XML on standard output.
    Junit,
}

/// `policy-harness test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Suite files, or folders searched for suites (`policy-tests.yaml` and
    /// `*-test.yaml` files whose header is `apiVersion:
    /// policy-harness.kritis.dev/v1`, `kind: Suite`; other tools' files of
    /// those names are skipped) and golden-case folders (default: the
    /// current folder).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run only the cases whose name (or whose suite's name) contains TEXT,
    /// a case-sensitive substring, not a pattern; repeat for several. A run
    /// that selects no case fails.
    #[arg(long = "run", value_name = "TEXT")]
    pub run: Vec<String>,
    /// Say which files were skipped as other tools' (kyverno-test.yaml,
    /// chainsaw-test.yaml…) and why.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Also write the JUnit XML report to FILE (the text report still goes
    /// to standard output): one run for both.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Answer from the registry the `oci` host calls no fixture matches
    /// (v1/manifest_digest, v2/verify, v1/oci_manifest), as `run
    /// --allow-network` does; without it such a call fails, and the case
    /// says how to give it an answer.
    #[arg(long)]
    pub allow_network: bool,
    /// kwctl's Sigstore trust root (a ClientTrustConfig JSON with a
    /// `trustedRoot`) for keyless `oci`/`v2/verify` under --allow-network,
    /// as `run` takes it.
    #[arg(long, value_name = "FILE", requires = "allow_network")]
    pub sigstore_trust_config: Option<PathBuf>,
    /// Run this module (a file or `registry://…`) instead of the one each
    /// suite or policy names.
    #[arg(long, value_name = "MODULE")]
    pub module: Option<PathBuf>,
    /// TEST flag: the time the module's WASI realtime clock reads (RFC
    /// 3339), or `none`, for the cases that set no `now` themselves
    /// (a golden case's expected.json may); default the host's clock.
    #[arg(long, value_name = "RFC3339|none", value_parser = super::run::parse_now)]
    pub now: Option<crate::host::clock::WasiClock>,
    /// `text` (default) or `junit`.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Deadline of each waPC call, in milliseconds (0: none).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
    /// Limit of the guest's linear memory, in MiB (0: none).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MAX_MEMORY_MB)]
    pub max_memory_mb: u64,
    /// Do not use the compiled-module cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Registry (HOST:PORT) reached over plain HTTP for `registry://`
    /// modules; loopback ones always are.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// kwctl's sources file, for `registry://` modules.
    #[arg(long, value_name = "FILE")]
    pub sources_path: Option<PathBuf>,
}

/// Runs the suites; exit status 1 when anything failed.
///
/// # Errors
/// A path that does not exist or holds no suite, or an unreadable sources
/// file. Everything else is reported per suite or case.
pub fn handle(args: &TestArgs) -> Result<ExitCode> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let discovery = discover(&paths)?;
    for path in &discovery.legacy {
        eprintln!(
            "policy-harness: warning: {} {LEGACY_WARNING}",
            path.display()
        );
    }
    if args.verbose {
        for (path, what) in &discovery.skipped {
            eprintln!(
                "policy-harness: skipped {}: not a policy-harness suite ({what})",
                path.display()
            );
        }
    }
    let mut registry = RegistryOptions {
        plain_http: false,
        insecure_registries: args.insecure_registry.clone(),
        extra_roots: Default::default(),
    };
    if let Some(path) = &args.sources_path {
        apply_sources_file(path, &mut registry)?;
    }
    let module_override = args.module.as_ref().map(|m| {
        if is_registry_reference(m) {
            ModuleSource::Registry(m.to_string_lossy().into_owned())
        } else {
            ModuleSource::File(m.clone())
        }
    });
    let options = RunOptions {
        module_override,
        registry,
        limits: Limits {
            timeout_ms: args.timeout_ms,
            max_memory_mb: args.max_memory_mb,
        },
        cache: if args.no_cache {
            CacheMode::Disabled
        } else {
            CacheMode::from_env()
        },
        select: args.run.clone(),
        live: None,
        now: args.now,
    };
    // The same live host as `run --allow-network`: the registry, and
    // keyless verification over it.
    let live: Option<Arc<dyn LiveCapabilities>> = if args.allow_network {
        let trust = match &args.sigstore_trust_config {
            Some(path) => Some(Arc::new(TrustRoot::from_file(path)?)),
            None => None,
        };
        let registry = Arc::new(LiveRegistry::new(options.registry.clone()));
        Some(Arc::new(KeylessLive::new(
            registry,
            options.registry.clone(),
            trust,
        )))
    } else {
        None
    };
    let options = RunOptions { live, ..options };
    let report = run_all(&discovery.sources, &options, &mut ModuleCache::default());
    if !args.run.is_empty() && report.suites.is_empty() {
        anyhow::bail!(
            "--run {}: no case of the suites found has a name (or a suite name) containing it",
            args.run.join(", --run ")
        );
    }
    match args.output {
        OutputFormat::Text => print!("{}", render_text(&report)),
        OutputFormat::Junit => print!("{}", render_junit(&report)),
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, render_junit(&report))
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
