//! `policy-harness run`: one admission through a policy module, printed as
//! `kwctl run` prints it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use crate::host::admission::{
    admission_request, evaluate, read_json_file, read_yaml_file, Outcome,
};
use crate::host::cache::CacheMode;
use crate::host::capabilities::{HostCapabilities, HostEnvironment};
use crate::host::clock::{expiry_notes, WasiClock};
use crate::host::cluster::{gate_fixtures, run_access, Cluster, ClusterHost, ContextAwareAccess};
use crate::host::replay::{load_fixtures, record_session};
use crate::host::runtime::{Limits, DEFAULT_MAX_MEMORY_MB, DEFAULT_TIMEOUT_MS};
use crate::oci::keyless::{KeylessLive, TrustRoot};
use crate::oci::registry::{load_policy, LiveRegistry, RegistryOptions};
use crate::oci::sources::apply_sources_file;
use crate::suite::manifest::PolicyManifest;
use crate::suite::review::{
    admission_request as request_for_object, deterministic_uid, RequestOptions,
};
use crate::suite::yaml::{read_documents, strip_json_position, PathStep, SettingsSource};

/// `policy-harness run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy settings as inline JSON (default `{}`).
    #[arg(long, value_name = "JSON", conflicts_with_all = ["settings_path", "policy"])]
    pub settings_json: Option<String>,
    /// Policy settings from a YAML or JSON file (as `kwctl run -s`).
    #[arg(long, short = 's', value_name = "FILE", conflicts_with = "policy")]
    pub settings_path: Option<PathBuf>,
    /// Settings from the `spec.settings` of a ClusterAdmissionPolicy or
    /// AdmissionPolicy manifest.
    #[arg(long, value_name = "MANIFEST")]
    pub policy: Option<PathBuf>,
    /// Which policy of a manifest file holding several.
    #[arg(long, value_name = "NAME", requires = "policy")]
    pub policy_name: Option<String>,
    /// AdmissionReview or bare AdmissionRequest, JSON (as `kwctl run -r`).
    #[arg(
        long,
        short = 'r',
        value_name = "FILE",
        required_unless_present = "resource"
    )]
    pub request_path: Option<PathBuf>,
    /// A Kubernetes object (YAML or JSON, one document), sent as the API
    /// server would send its CREATE.
    #[arg(long, value_name = "OBJECT", conflicts_with = "request_path")]
    pub resource: Option<PathBuf>,
    /// Host-call fixtures: the harness's JSON list or a kwctl session file;
    /// without it every host call fails.
    #[arg(long, value_name = "FILE")]
    pub host_capabilities: Option<PathBuf>,
    /// Host-call answers recorded by `kwctl run
    /// --record-host-capabilities-interactions` (kwctl's flag).
    #[arg(long, value_name = "FILE")]
    pub replay_host_capabilities_interactions: Option<PathBuf>,
    /// Print every host call (and guest log event) to stderr.
    #[arg(long)]
    pub trace_host_calls: bool,
    /// Deadline of each waPC call, in milliseconds (0: none).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
    /// Limit of the guest's linear memory, in MiB (0: none).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MAX_MEMORY_MB)]
    pub max_memory_mb: u64,
    /// Do not use the compiled-module cache (also: POLICY_HARNESS_NO_CACHE=1;
    /// kwctl's `--disable-wasmtime-cache` is the same flag).
    #[arg(long, alias = "disable-wasmtime-cache")]
    pub no_cache: bool,
    /// kwctl's runtime selector: only `kubewarden` (waPC) is run here.
    #[arg(long, short = 'e', value_name = "MODE", value_parser = ["kubewarden"])]
    pub execution_mode: Option<String>,
    /// As kwctl: let the policy read the Kubernetes resource types its
    /// metadata lists (`contextAwareResources`, embedded by `annotate`);
    /// without it, and without --policy, every read is refused with
    /// policy-evaluator's text. With --policy, the manifest's
    /// `spec.contextAwareResources` is what is granted (policy-server's
    /// rule; an AdmissionPolicy is granted nothing).
    #[arg(long)]
    pub allow_context_aware: bool,
    /// Resource files (YAML/JSON, `---` documents or a `List`, as `kubectl
    /// get -o yaml` prints them), or folders of them, served as the cluster
    /// to the policy's Kubernetes reads (list_resources_by_namespace,
    /// list_resources_all, get_resource) of the types it is granted.
    #[arg(long, value_name = "PATH")]
    pub cluster_resources: Vec<PathBuf>,
    /// Answer from the registry the `oci` host calls no fixture matches:
    /// v1/manifest_digest (tags to digests), v2/verify (cosign signatures;
    /// keyless ones with --sigstore-trust-config) and v1/oci_manifest.
    /// Without it such a call fails, and the policy rejects.
    #[arg(long)]
    pub allow_network: bool,
    /// Write the host calls of this run and their answers (from the
    /// registry with --allow-network, or from fixtures) to FILE in kwctl's
    /// session format, as `kwctl run --record-host-capabilities-interactions`
    /// does; replay it with --replay-host-capabilities-interactions, or use
    /// it as a suite's hostCapabilities.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "replay_host_capabilities_interactions"
    )]
    pub record_host_capabilities_interactions: Option<PathBuf>,
    /// Registry (HOST:PORT) reached over plain HTTP; loopback ones always are.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// kwctl's sources file: `insecure_sources` (plain HTTP) and
    /// `source_authorities` (extra CA certificates per registry).
    #[arg(long, value_name = "FILE")]
    pub sources_path: Option<PathBuf>,
    /// kwctl's Sigstore trust root (a ClientTrustConfig JSON with a
    /// `trustedRoot`) for keyless `oci`/`v2/verify` under --allow-network;
    /// without it keyless verification is a host error (no default offline).
    #[arg(long, value_name = "FILE", requires = "allow_network")]
    pub sigstore_trust_config: Option<PathBuf>,
    /// TEST flag: the time the module's WASI realtime clock reads (RFC
    /// 3339, e.g. 2026-12-01T00:00:00Z), or `none` for a clock that refuses
    /// (expiring exceptions then admit nothing). Default: the host's clock,
    /// as policy-server gives it.
    #[arg(long, value_name = "RFC3339|none", value_parser = parse_now)]
    pub now: Option<WasiClock>,
    /// The policy module (wasm32-wasip1 binary, or WAT text), or
    /// `registry://HOST/REPO:TAG` / `registry://HOST/REPO@sha256:HEX`.
    #[arg(value_name = "MODULE.wasm")]
    pub module: PathBuf,
}

/// [`load_policy`] with the module's realtime clock set to `clock`: one
/// compilation of the module with its clock shim (see
/// [`crate::host::clock`]), the module as given for the host's clock.
pub(crate) fn load_policy_at(
    module: &std::path::Path,
    options: &crate::oci::registry::RegistryOptions,
    limits: Limits,
    cache: &CacheMode,
    clock: WasiClock,
) -> Result<crate::host::runtime::PolicyModule> {
    if clock == WasiClock::Host {
        return load_policy(module, options, limits, cache);
    }
    let bytes = crate::oci::registry::read_module(module, options)?;
    crate::host::runtime::PolicyModule::from_bytes_with_clock(&bytes, limits, cache, clock)
        .with_context(|| format!("cannot load policy module {} at {clock}", module.display()))
}

/// clap's parser of `--now` (run, test, audit).
pub(crate) fn parse_now(text: &str) -> std::result::Result<WasiClock, String> {
    WasiClock::parse(text).map_err(|e| e.to_string())
}

/// Prints the notes on expired entries of `settings` (stderr).
pub(crate) fn print_expiry_notes(settings: &Value, clock: WasiClock) {
    for note in expiry_notes(settings, clock) {
        eprintln!("policy-harness: note: {note}");
    }
}

fn load_settings(args: &RunArgs, manifest: Option<&PolicyManifest>) -> Result<Value> {
    match (&args.settings_json, &args.settings_path, manifest) {
        (_, _, Some(manifest)) => Ok(manifest.settings.clone()),
        (Some(json), _, None) => {
            serde_json::from_str(json).context("--settings-json is not valid JSON")
        }
        (None, Some(path), None) => read_yaml_file(path, "settings"),
        (None, None, None) => Ok(Value::Object(serde_json::Map::new())),
    }
}

fn load_request(args: &RunArgs, manifest: Option<&PolicyManifest>) -> Result<Value> {
    if let Some(path) = &args.resource {
        let mut objects = read_documents(path, "resource file")?;
        if objects.len() != 1 {
            anyhow::bail!(
                "resource file {} holds {} documents; run takes one object (use `test` for several)",
                path.display(),
                objects.len()
            );
        }
        let object = objects.remove(0);
        let options = RequestOptions {
            fallback_namespace: manifest.and_then(|m| m.namespace.clone()),
            uid: deterministic_uid(&[&path.display().to_string()]),
            ..RequestOptions::default()
        };
        return request_for_object(&object, &options)
            .with_context(|| format!("invalid resource file {}", path.display()));
    }
    let Some(path) = &args.request_path else {
        anyhow::bail!("give --request-path or --resource");
    };
    let document = read_json_file(path, "request")?;
    if let Some(note) = kwctl_reading(&document) {
        eprintln!("policy-harness: note: {}: {note}", path.display());
    }
    admission_request(document).with_context(|| format!("invalid request file {}", path.display()))
}

/// Where kwctl would read a request file differently: it unwraps `request`
/// only from an object of `kind: AdmissionReview` and reads anything else
/// as a bare AdmissionRequest, so `{"request": …}` alone works here and
/// fails there (`missing field uid`).
fn kwctl_reading(document: &serde_json::Value) -> Option<&'static str> {
    let has_request = document
        .get("request")
        .is_some_and(serde_json::Value::is_object);
    let kind = document.get("kind").and_then(serde_json::Value::as_str);
    (has_request && kind != Some("AdmissionReview")).then_some(
        "an object with `request` but not `kind: AdmissionReview`: read as an AdmissionReview \
         here, but kwctl reads it as a bare AdmissionRequest and fails; add \
         `\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\"`",
    )
}

fn load_capabilities(args: &RunArgs, access: &ContextAwareAccess) -> Result<HostCapabilities> {
    let mut fixtures = Vec::new();
    for path in [
        &args.host_capabilities,
        &args.replay_host_capabilities_interactions,
    ]
    .into_iter()
    .flatten()
    {
        let mut loaded = load_fixtures(path)?;
        // kwctl checks a replayed Kubernetes read against what the policy
        // is granted before replaying it.
        if Some(path) == args.replay_host_capabilities_interactions.as_ref() {
            gate_fixtures(&mut loaded, access);
        }
        fixtures.extend(loaded);
    }
    HostCapabilities::from_fixtures(fixtures).context("invalid host capabilities")
}

/// A settings message with the policy's JSON positions (in the compact
/// JSON the settings were turned into) replaced by the line of the setting
/// in the user's settings file or manifest, when found.
fn locate_settings(args: &RunArgs, manifest: Option<&PolicyManifest>, message: &str) -> String {
    let key = |k: &str| PathStep::Key(k.to_owned());
    let source = match (manifest, &args.settings_path) {
        (Some(m), _) => Some(SettingsSource {
            file: m.file.clone(),
            document: m.document,
            prefix: vec![key("spec"), key("settings")],
        }),
        (None, Some(path)) => Some(SettingsSource {
            file: path.clone(),
            document: 0,
            prefix: Vec::new(),
        }),
        (None, None) => None,
    };
    match source {
        Some(source) => source.locate(message),
        None => message
            .split("; ")
            .map(strip_json_position)
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// `policy-harness run`: prints the AdmissionResponse on stdout.
pub fn handle(args: &RunArgs) -> Result<ExitCode> {
    let manifest = match &args.policy {
        Some(path) => Some(PolicyManifest::from_file(
            path,
            args.policy_name.as_deref(),
        )?),
        None => None,
    };
    let settings = load_settings(args, manifest.as_ref())?;
    let clock = args.now.unwrap_or_default();
    print_expiry_notes(&settings, clock);
    let request = load_request(args, manifest.as_ref())?;
    if let Some(reason) = manifest.as_ref().and_then(|m| m.skip_reason(&request)) {
        eprintln!(
            "policy-harness: note: in a cluster this request would not reach the policy ({reason})"
        );
    }
    let limits = Limits {
        timeout_ms: args.timeout_ms,
        max_memory_mb: args.max_memory_mb,
    };
    let cache = if args.no_cache {
        CacheMode::Disabled
    } else {
        CacheMode::from_env()
    };
    let mut registry_options = RegistryOptions {
        plain_http: false,
        insecure_registries: args.insecure_registry.clone(),
        extra_roots: Default::default(),
    };
    if let Some(path) = &args.sources_path {
        apply_sources_file(path, &mut registry_options)?;
    }
    let policy = load_policy_at(&args.module, &registry_options, limits, &cache, clock)?;
    let (access, notes) = run_access(
        manifest.as_ref(),
        args.allow_context_aware,
        &args.module,
        &registry_options,
    )?;
    for note in notes {
        eprintln!("policy-harness: note: {note}");
    }
    let cluster = if args.cluster_resources.is_empty() {
        None
    } else {
        Some(Arc::new(Cluster::load(&args.cluster_resources)?))
    };
    if cluster.is_some() && access.is_empty() && manifest.is_none() {
        eprintln!(
            "policy-harness: note: --cluster-resources: the policy is granted no Kubernetes \
             resource type, so every read is refused (give --allow-context-aware with a module \
             annotated with contextAwareResources, as kwctl, or --policy with a \
             ClusterAdmissionPolicy's spec.contextAwareResources, as policy-server)"
        );
    }
    let capabilities = load_capabilities(args, &access)?;

    let mut env = HostEnvironment::new(capabilities);
    if args.allow_network {
        let trust = match &args.sigstore_trust_config {
            Some(path) => Some(Arc::new(TrustRoot::from_file(path)?)),
            None => None,
        };
        let registry = Arc::new(LiveRegistry::new(registry_options.clone()));
        env = env.with_live(Arc::new(KeylessLive::new(
            registry,
            registry_options,
            trust,
        )));
    }
    if args.allow_context_aware || cluster.is_some() {
        let host = ClusterHost::new(cluster, access).then(env.live());
        env = env.with_live(Arc::new(host));
    }
    let env = Arc::new(env);
    let evaluation = evaluate(&policy, Arc::clone(&env), &settings, &request);
    if args.trace_host_calls {
        eprint!("{}", env.trace());
    }
    for hint in env.unanswered_hints() {
        eprintln!("policy-harness: note: {hint}");
    }
    if let (Some(path), Ok(_)) = (&args.record_host_capabilities_interactions, &evaluation) {
        let session = record_session(&env.calls())?;
        for call in &session.left_out {
            eprintln!("policy-harness: warning: not recorded: {call}");
        }
        std::fs::write(path, session.text)
            .with_context(|| format!("cannot write the session file {}", path.display()))?;
    }
    match evaluation?.outcome {
        Outcome::SettingsInvalid { message } => {
            eprintln!(
                "Provided settings are not valid: {}",
                message.as_deref().map_or_else(
                    || "(no message)".to_owned(),
                    |m| locate_settings(args, manifest.as_ref(), m)
                )
            );
            Ok(ExitCode::FAILURE)
        }
        Outcome::Response(response) => {
            // With --policy: what policy-server answers (a patch from a
            // policy deployed as non-mutating is refused).
            let response = match &manifest {
                Some(manifest) => {
                    let (response, fix) = manifest.apply_policy_server(response);
                    if let Some(fix) = fix {
                        eprintln!("policy-harness: note: {fix}");
                    }
                    response
                }
                None => response,
            };
            let line = serde_json::to_string(&response)
                .context("cannot serialize the AdmissionResponse")?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
