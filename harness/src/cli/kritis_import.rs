//! `policy-harness kritis-import`: kritis resources → policy settings, or a
//! whole ClusterAdmissionPolicy.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

use crate::kritis_import::{self, DEFAULT_POLICY_NAME};

/// `policy-harness kritis-import`.
#[derive(Debug, Args)]
pub struct KritisImportArgs {
    /// `require` of every imported policy: `all` (the policy's default) or
    /// `any` (kritis 0.2 / ACK kritis-validation-hook behaviour).
    #[arg(long, value_name = "all|any", default_value = "all", value_parser = ["all", "any"])]
    pub require: String,
    /// What to print: the `settings` block, or a whole ClusterAdmissionPolicy
    /// (`manifest`, needs --module).
    #[arg(long, short = 'o', value_name = "settings|manifest", default_value = "settings",
          value_parser = ["settings", "manifest"])]
    pub output: String,
    /// Module reference of the manifest, e.g.
    /// registry://ghcr.io/your-org/policies/kritis-attestation-policy:v0.1.0.
    #[arg(long, value_name = "URI", required_if_eq("output", "manifest"))]
    pub module: Option<String>,
    /// `metadata.name` of the manifest.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_POLICY_NAME)]
    pub name: String,
    /// Print JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
    /// YAML files as `kubectl get -o yaml` prints them (`-` for stdin).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// `policy-harness kritis-import`: prints the settings (or the manifest) on
/// stdout; what was skipped, the warnings and which namespaces are enforced
/// on stderr (and as comments in YAML output).
pub fn handle(args: &KritisImportArgs) -> Result<()> {
    let manifest = args.output == "manifest";
    if !manifest && args.module.is_some() {
        bail!("--module is only used with --output manifest");
    }
    let mut sources = Vec::new();
    for path in &args.files {
        if path.as_os_str() == "-" {
            let text = std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?;
            sources.push(("stdin".to_owned(), text));
        } else {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            sources.push((path.display().to_string(), text));
        }
    }
    let options = kritis_import::Options {
        require_any: args.require == "any",
    };
    let import = kritis_import::import(&sources, options)?;
    for s in &import.skipped {
        eprintln!("policy-harness: skipped: {s}");
    }
    for s in &import.warnings {
        eprintln!("policy-harness: warning: {s}");
    }
    for s in &import.notes {
        eprintln!("policy-harness: {s}");
    }
    if manifest {
        let module = args.module.as_deref().unwrap_or_default();
        let policy = kritis_import::manifest(import.settings.clone(), module, &args.name)
            .map_err(|e| anyhow!(e))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&policy)?);
        } else {
            print!(
                "{}",
                kritis_import::render_yaml(
                    "ClusterAdmissionPolicy generated from kritis resources by policy-harness kritis-import",
                    &import,
                    &policy
                )?
            );
        }
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(&import.settings)?);
    } else {
        print!(
            "{}",
            kritis_import::render_yaml(
                "settings imported from kritis resources by policy-harness kritis-import",
                &import,
                &import.settings
            )?
        );
    }
    Ok(())
}
