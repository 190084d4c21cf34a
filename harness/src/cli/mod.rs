//! Command line: one module per subcommand, each holding its clap `Args`
//! and its handler. Nothing outside `cli` imports from here.

mod annotate;
mod audit;
mod inspect;
mod kritis_import;
mod push;
mod run;
mod sign;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use annotate::AnnotateArgs;
pub use audit::AuditArgs;
pub use inspect::InspectArgs;
pub use kritis_import::KritisImportArgs;
pub use push::PushArgs;
pub use run::RunArgs;
pub use sign::SignArgs;
pub use test::TestArgs;

/// Runs Kubewarden waPC policies like `kwctl run`, and the tools around them.
#[derive(Debug, Parser)]
#[command(name = "policy-harness", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate an admission request with a policy module (like `kwctl run`).
    Run(RunArgs),
    /// Sign an image: a SIMPLE_SIGNING_JSON attestation for the annotation
    /// (`--format kritis`), or a cosign signature in the registry
    /// (`--format cosign [--push]`).
    Sign(SignArgs),
    /// Convert kritis resources (AttestationAuthority, GenericAttestationPolicy,
    /// AdmissionAllowlist; YAML, several documents, List kinds) into settings.
    KritisImport(KritisImportArgs),
    /// Embed policy-metadata.yml in the module (like `kwctl annotate`).
    Annotate(AnnotateArgs),
    /// Print the Kubewarden metadata embedded in a module (like `kwctl inspect`).
    Inspect(InspectArgs),
    /// Publish a module to an OCI registry as `kwctl push` does; prints its digest.
    Push(PushArgs),
    /// Run test suites: a policy manifest against workloads, or golden cases.
    Test(TestArgs),
    /// What the audit scanner would report for a folder of objects: one
    /// ALLOWED/WARNED/REJECTED line each; exit 1 if any would be rejected.
    Audit(AuditArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        Command::Run(args) => run::handle(&args),
        Command::Sign(args) => done(sign::handle(&args)),
        Command::KritisImport(args) => done(kritis_import::handle(&args)),
        Command::Annotate(args) => done(annotate::handle(&args)),
        Command::Inspect(args) => done(inspect::handle(&args)),
        Command::Push(args) => done(push::handle(&args)),
        Command::Test(args) => test::handle(&args),
        Command::Audit(args) => audit::handle(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("policy-harness: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
