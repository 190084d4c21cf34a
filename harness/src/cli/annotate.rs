//! `policy-harness annotate`: embed policy-metadata.yml like `kwctl annotate`.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use clap::Args;

use crate::oci::metadata::{
    annotate_module, build_metadata, module_protocol_version, EXECUTION_MODE_WAPC,
};

/// `policy-harness annotate`.
#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// Policy metadata (YAML), e.g. policy-metadata.yml.
    #[arg(long, short = 'm', value_name = "FILE")]
    pub metadata_path: PathBuf,
    /// Text stored as the `io.kubewarden.policy.usage` annotation (e.g. README.md).
    #[arg(long, short = 'u', value_name = "FILE")]
    pub usage_path: Option<PathBuf>,
    /// Where to write the annotated module.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output_path: PathBuf,
    /// The policy module (wasm binary).
    #[arg(value_name = "MODULE.wasm")]
    pub module: PathBuf,
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))
}

/// `policy-harness annotate`.
pub fn handle(args: &AnnotateArgs) -> Result<()> {
    let module = std::fs::read(&args.module)
        .with_context(|| format!("cannot read policy module {}", args.module.display()))?;
    let yaml = read_text(&args.metadata_path, "metadata")?;
    let usage = args
        .usage_path
        .as_deref()
        .map(|p| read_text(p, "usage"))
        .transpose()?;
    // Parse first so that a metadata error is reported before compiling.
    let draft = build_metadata(&yaml, usage.as_deref(), "v1")
        .with_context(|| format!("invalid metadata {}", args.metadata_path.display()))?;
    let mode = draft["executionMode"]
        .as_str()
        .unwrap_or(EXECUTION_MODE_WAPC);
    ensure!(
        mode == EXECUTION_MODE_WAPC,
        "executionMode {mode:?}: policy-harness annotates kubewarden-wapc policies only"
    );
    let protocol_version = module_protocol_version(&module).with_context(|| {
        format!(
            "cannot get the protocol version of {}",
            args.module.display()
        )
    })?;
    ensure!(
        protocol_version == "v1",
        "the module answers protocol version {protocol_version:?}; Kubewarden knows only \"v1\""
    );
    let metadata = build_metadata(&yaml, usage.as_deref(), &protocol_version)?;
    let annotated = annotate_module(&module, &metadata)?;
    std::fs::write(&args.output_path, &annotated)
        .with_context(|| format!("cannot write {}", args.output_path.display()))?;
    Ok(())
}
