//! `policy-harness inspect`: the metadata embedded in a module, like `kwctl inspect`.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;

use crate::oci::metadata::{custom_sections, read_metadata, render_inspection, METADATA_SECTION};
use crate::oci::registry::{read_module, RegistryOptions};

/// `policy-harness inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print the embedded metadata as JSON (exactly the section's content).
    #[arg(long)]
    pub json: bool,
    /// Registries (HOST:PORT) reached over plain HTTP (loopback ones always are).
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// The module: a file, or `registry://HOST/REPO:TAG` / `registry://HOST/REPO@sha256:…`.
    #[arg(value_name = "MODULE.wasm")]
    pub module: PathBuf,
}

/// `policy-harness inspect`.
pub fn handle(args: &InspectArgs) -> Result<()> {
    let options = RegistryOptions {
        plain_http: false,
        insecure_registries: args.insecure_registry.clone(),
        extra_roots: Default::default(),
    };
    let module = read_module(&args.module, &options)?;
    let name = args.module.display();
    let sections = custom_sections(&module, METADATA_SECTION)
        .with_context(|| format!("cannot read {name}"))?;
    let metadata = read_metadata(&module)
        .with_context(|| format!("cannot read the metadata of {name}"))?
        .ok_or_else(|| {
            anyhow!(
                "no Kubewarden metadata ({METADATA_SECTION} section) in {name}: annotate it with \
                 `policy-harness annotate` or `kwctl annotate`"
            )
        })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&metadata)?);
    } else {
        print!("{}", render_inspection(&module, &metadata, sections.len())?);
    }
    Ok(())
}
