//! `policy-harness push`: publish a module as `kwctl push` does.

use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use clap::Args;

use crate::oci::metadata::read_metadata;
use crate::oci::registry::{oci_annotations, push_module, RegistryOptions};

/// `policy-harness push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push a module that has no Kubewarden metadata (like `kwctl push --force`).
    #[arg(long)]
    pub force: bool,
    /// Plain HTTP instead of HTTPS (loopback registries always use it).
    #[arg(long, alias = "insecure")]
    pub plain_http: bool,
    /// The (annotated) policy module.
    #[arg(value_name = "MODULE.wasm")]
    pub module: PathBuf,
    /// Where to publish it.
    #[arg(value_name = "registry://HOST[:PORT]/REPO[:TAG]")]
    pub destination: String,
}

/// `policy-harness push`: prints the manifest digest on stdout.
pub fn handle(args: &PushArgs) -> Result<()> {
    let module = std::fs::read(&args.module)
        .with_context(|| format!("cannot read policy module {}", args.module.display()))?;
    ensure!(
        module.starts_with(b"\0asm"),
        "{} is not a wasm binary",
        args.module.display()
    );
    let metadata = read_metadata(&module)
        .with_context(|| format!("cannot read the metadata of {}", args.module.display()))?;
    let annotations = match &metadata {
        Some(m) => Some(oci_annotations(m)),
        None if args.force => {
            eprintln!("policy-harness: warning: pushing a module without Kubewarden metadata");
            None
        }
        None => bail!(
            "{} has no Kubewarden metadata: annotate it first (`policy-harness annotate`), or \
             use --force",
            args.module.display()
        ),
    };
    let options = RegistryOptions {
        plain_http: args.plain_http,
        insecure_registries: Vec::new(),
        extra_roots: Default::default(),
    };
    let pushed = push_module(&module, &args.destination, annotations, &options)?;
    eprintln!(
        "policy-harness: pushed {} as {}",
        args.module.display(),
        pushed.immutable_ref
    );
    println!("{}", pushed.digest);
    Ok(())
}
