//! `policy-harness test`: runs suites (a policy manifest against workloads,
//! or golden cases) and prints one line per case, or JUnit XML.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::host::cache::CacheMode;
use crate::host::runtime::{Limits, DEFAULT_MAX_MEMORY_MB, DEFAULT_TIMEOUT_MS};
use crate::oci::registry::{is_registry_reference, RegistryOptions};
use crate::oci::sources::apply_sources_file;
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
    /// Suite files, or folders searched for `policy-tests.yaml`, `*-test.yaml`
    /// and golden-case folders (default: the current folder).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run this module (a file or `registry://…`) instead of the one each
    /// suite or policy names.
    #[arg(long, value_name = "MODULE")]
    pub module: Option<PathBuf>,
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
    let sources = discover(&paths)?;
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
    };
    let report = run_all(&sources, &options, &mut ModuleCache::default());
    match args.output {
        OutputFormat::Text => print!("{}", render_text(&report)),
        OutputFormat::Junit => print!("{}", render_junit(&report)),
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
