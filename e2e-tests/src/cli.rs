//! Command line: `policy-harness run` (mirrors `kwctl run`),
//! `policy-harness sign` and `policy-harness kritis-import`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::cache::CacheMode;
use crate::capabilities::{HostCapabilities, HostEnvironment};
use crate::evaluate::{admission_request, evaluate, read_json_file, Verdict};
use crate::kritis_import;
use crate::runtime::{Limits, DEFAULT_MAX_MEMORY_MB, DEFAULT_TIMEOUT_MS};
use crate::sign::{attest, payload_for, ImageRef, RsaScheme, SigningKey};

/// Runs Kubewarden waPC policies like `kwctl run`, and signs attestations.
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
    /// Print a signed SIMPLE_SIGNING_JSON attestation for an image.
    Sign(SignArgs),
    /// Convert kritis resources (AttestationAuthority, GenericAttestationPolicy,
    /// AdmissionAllowlist; YAML, several documents, List kinds) into settings.
    KritisImport(KritisImportArgs),
    /// Embed policy-metadata.yml in the module (like `kwctl annotate`).
    Annotate(crate::metadata::AnnotateArgs),
    /// Print the Kubewarden metadata embedded in a module (like `kwctl inspect`).
    Inspect(crate::metadata::InspectArgs),
    /// Publish a module to an OCI registry as `kwctl push` does; prints its digest.
    Push(crate::registry::PushArgs),
    /// Time the policy module against the same code run natively (issue 7);
    /// writes bench/results.md.
    Bench(crate::bench::BenchArgs),
}

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

/// `policy-harness run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy settings as inline JSON (default `{}`).
    #[arg(long, value_name = "JSON", conflicts_with = "settings_path")]
    pub settings_json: Option<String>,
    /// Policy settings from a JSON file.
    #[arg(long, value_name = "FILE")]
    pub settings_path: Option<PathBuf>,
    /// AdmissionReview or bare AdmissionRequest (JSON).
    #[arg(long, value_name = "FILE")]
    pub request_path: PathBuf,
    /// Host-call fixtures (JSON list); without it every host call fails.
    #[arg(long, value_name = "FILE")]
    pub host_capabilities: Option<PathBuf>,
    /// Print every host call (and guest log event) to stderr.
    #[arg(long)]
    pub trace_host_calls: bool,
    /// Deadline of each waPC call, in milliseconds (0: none).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
    /// Limit of the guest's linear memory, in MiB (0: none).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MAX_MEMORY_MB)]
    pub max_memory_mb: u64,
    /// Do not use the compiled-module cache (also: POLICY_HARNESS_NO_CACHE=1).
    #[arg(long)]
    pub no_cache: bool,
    /// Answer `oci`/`v1/manifest_digest` from the registry when no fixture matches.
    #[arg(long)]
    pub allow_network: bool,
    /// Registry (HOST:PORT) reached over plain HTTP; loopback ones always are.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// The policy module (wasm32-wasip1 binary, or WAT text), or
    /// `registry://HOST/REPO:TAG` / `registry://HOST/REPO@sha256:HEX`.
    #[arg(value_name = "MODULE.wasm")]
    pub module: PathBuf,
}

/// `policy-harness sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Private key, PEM: RSA (PKCS#8 / PKCS#1) or EC P-256/P-384 (PKCS#8 / SEC1).
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// `publicKeyId` written in the attestation.
    #[arg(long, value_name = "ID")]
    pub key_id: String,
    /// Image to attest: REPO@sha256:HEX.
    #[arg(
        long,
        value_name = "REPO@sha256:HEX",
        required_unless_present = "payload"
    )]
    pub image: Option<String>,
    /// Sign these exact bytes instead of the generated payload.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["image", "identity"])]
    pub payload: Option<PathBuf>,
    /// RSA scheme: pkcs1 (PKCS#1 v1.5, default) or pss (PSS, salt 32).
    #[arg(long, value_name = "pkcs1|pss")]
    pub scheme: Option<RsaScheme>,
    /// docker-reference written in the payload (default: the image's repository).
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(&args),
        Command::Sign(args) => sign(&args).map(|()| ExitCode::SUCCESS),
        Command::KritisImport(args) => kritis_import(&args).map(|()| ExitCode::SUCCESS),
        Command::Annotate(args) => {
            crate::metadata::annotate_command(&args).map(|()| ExitCode::SUCCESS)
        }
        Command::Inspect(args) => {
            crate::metadata::inspect_command(&args).map(|()| ExitCode::SUCCESS)
        }
        Command::Push(args) => crate::registry::push_command(&args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => crate::bench::bench(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("policy-harness: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_settings(args: &RunArgs) -> Result<Value> {
    match (&args.settings_json, &args.settings_path) {
        (Some(json), _) => serde_json::from_str(json).context("--settings-json is not valid JSON"),
        (None, Some(path)) => read_json_file(path, "settings"),
        (None, None) => Ok(Value::Object(serde_json::Map::new())),
    }
}

/// `policy-harness run`: prints the AdmissionResponse on stdout.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let settings = load_settings(args)?;
    let request = admission_request(read_json_file(&args.request_path, "request")?)
        .with_context(|| format!("invalid request file {}", args.request_path.display()))?;
    let capabilities = match &args.host_capabilities {
        Some(path) => HostCapabilities::from_file(path)?,
        None => HostCapabilities::none(),
    };
    let limits = Limits {
        timeout_ms: args.timeout_ms,
        max_memory_mb: args.max_memory_mb,
    };
    let cache = if args.no_cache {
        CacheMode::Disabled
    } else {
        CacheMode::from_env()
    };
    let registry_options = crate::registry::RegistryOptions {
        plain_http: false,
        insecure_registries: args.insecure_registry.clone(),
    };
    let policy = crate::registry::load_policy(&args.module, &registry_options, limits, &cache)?;

    let mut env = HostEnvironment::new(capabilities);
    if args.allow_network {
        env = env.with_live(Arc::new(crate::registry::LiveRegistry::new(
            registry_options,
        )));
    }
    let env = Arc::new(env);
    let evaluation = evaluate(&policy, Arc::clone(&env), &settings, &request);
    if args.trace_host_calls {
        eprint!("{}", env.trace());
    }
    match evaluation?.verdict {
        Verdict::SettingsInvalid { message } => {
            eprintln!(
                "Provided settings are not valid: {}",
                message.as_deref().unwrap_or("(no message)")
            );
            Ok(ExitCode::FAILURE)
        }
        Verdict::Response(response) => {
            let line = serde_json::to_string(&response)
                .context("cannot serialize the AdmissionResponse")?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `policy-harness sign`: prints the attestation on stdout.
pub fn sign(args: &SignArgs) -> Result<()> {
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read key file {}", args.key.display()))?;
    let key = SigningKey::from_pem(&pem)
        .with_context(|| format!("invalid key file {}", args.key.display()))?;
    let payload = match (&args.payload, &args.image) {
        (Some(path), _) => std::fs::read(path)
            .with_context(|| format!("cannot read payload file {}", path.display()))?,
        (None, Some(image)) => payload_for(&ImageRef::parse(image)?, args.identity.as_deref())?,
        (None, None) => anyhow::bail!("either --image or --payload is required"),
    };
    let attestation = attest(&key, &args.key_id, &payload, args.scheme)?;
    println!(
        "{}",
        serde_json::to_string(&attestation).context("cannot serialize the attestation")?
    );
    Ok(())
}

/// `policy-harness kritis-import`: prints the settings on stdout, and what
/// was skipped on stderr.
pub fn kritis_import(args: &KritisImportArgs) -> Result<()> {
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
