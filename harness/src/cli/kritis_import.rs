//! `policy-harness kritis-import`: kritis resources → policy settings.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::kritis_import;

/// `policy-harness kritis-import`.
#[derive(Debug, Args)]
pub struct KritisImportArgs {
    /// `require` of every imported policy: `all` (the policy's default) or
    /// `any` (kritis 0.2 / ACK kritis-validation-hook behaviour).
    #[arg(long, value_name = "all|any", default_value = "all", value_parser = ["all", "any"])]
    pub require: String,
    /// Print JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
    /// YAML files as `kubectl get -o yaml` prints them (`-` for stdin).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// `policy-harness kritis-import`: prints the settings on stdout, and what
/// was skipped on stderr.
pub fn handle(args: &KritisImportArgs) -> Result<()> {
    let mut sources = Vec::new();
    for path in &args.files {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
        } else {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
        };
        sources.push((path.display().to_string(), text));
    }
    let options = kritis_import::Options {
        require_any: args.require == "any",
    };
    let import = kritis_import::import(&sources, options)?;
    for s in &import.skipped {
        eprintln!("policy-harness: skipped: {s}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&import.settings)?);
    } else {
        print!("{}", kritis_import::render_yaml(&import)?);
    }
    Ok(())
}
