//! `policy-harness audit`: what Kubewarden's audit scanner would report for
//! a folder of Kubernetes objects, one line per object. This is what a team
//! runs before switching a namespace from `enforcement: warn` to `deny`.
//!
//! The request is the one the audit scanner (kubewarden/audit-scanner,
//! `internal/scanner/admission_request.go`) builds from an object as
//! stored: `operation: CREATE`, `uid` the object's `metadata.uid`, `kind`
//! and `requestKind` from its `apiVersion`/`kind`, `resource` with the
//! *kind* where the API server puts the plural (the scanner does so), the
//! object's name and namespace, empty `userInfo`, and no `oldObject`,
//! `dryRun` or `options`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

use super::run::{load_policy_at, parse_now, print_expiry_notes};
use crate::host::admission::{evaluate, read_yaml_file, validate_settings, Outcome};
use crate::host::cache::CacheMode;
use crate::host::capabilities::{HostCapabilities, HostEnvironment};
use crate::host::clock::WasiClock;
use crate::host::cluster::{run_access, Cluster, ClusterHost};
use crate::host::replay::load_fixtures;
use crate::host::response::AdmissionResponse;
use crate::host::runtime::{Limits, DEFAULT_MAX_MEMORY_MB, DEFAULT_TIMEOUT_MS};
use crate::oci::keyless::KeylessLive;
use crate::oci::metadata::read_metadata;
use crate::oci::registry::{read_module, LiveRegistry, RegistryOptions};
use crate::suite::manifest::{RequestTarget, Rule};
use crate::suite::review::{group_version, resource_for_kind};
use crate::suite::yaml::read_documents;

/// Most objects read from the folder: a bound on the work of one audit.
const MAX_OBJECTS: usize = 10_000;

/// `policy-harness audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Policy settings, a YAML or JSON file (as `run -s`).
    #[arg(long, short = 's', value_name = "FILE")]
    pub settings: PathBuf,
    /// The policy module (file or `registry://…`), as `run` takes it.
    #[arg(long, short = 'm', value_name = "MODULE.wasm")]
    pub module: PathBuf,
    /// policy-metadata.yml, for the rules (the kinds audited). Default: the
    /// metadata embedded in the module, else policy-metadata.yml next to it.
    #[arg(long, value_name = "FILE")]
    pub metadata: Option<PathBuf>,
    /// Host-call fixtures (the harness's JSON list or a kwctl session file);
    /// without them every host call fails.
    #[arg(long, value_name = "FILE")]
    pub host_capabilities: Option<PathBuf>,
    /// Answer the `oci` host calls no fixture matches from the registry, as
    /// `run --allow-network` does.
    #[arg(long)]
    pub allow_network: bool,
    /// As `run`: let the policy read the Kubernetes resource types its
    /// embedded metadata lists (`contextAwareResources`), as kwctl.
    #[arg(long)]
    pub allow_context_aware: bool,
    /// As `run`: resource files or folders served as the cluster to the
    /// policy's Kubernetes reads (the live kritis resources), as
    /// policy-server serves them to the audit scanner's requests.
    #[arg(long, value_name = "PATH")]
    pub cluster_resources: Vec<PathBuf>,
    /// Registry (HOST:PORT) reached over plain HTTP; loopback ones always are.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// TEST flag: the time the module's WASI realtime clock reads (RFC
    /// 3339), or `none`; default the host's clock (see `run --now`).
    #[arg(long, value_name = "RFC3339|none", value_parser = parse_now)]
    pub now: Option<WasiClock>,
    /// Deadline of each waPC call, in milliseconds (0: none).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
    /// Limit of the guest's linear memory, in MiB (0: none).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MAX_MEMORY_MB)]
    pub max_memory_mb: u64,
    /// Do not use the compiled-module cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Also say which objects were skipped (kinds the rules do not name)
    /// and print the warnings of allowed objects' mutations.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// A folder of Kubernetes objects (YAML or JSON files, several
    /// documents, `List`s; searched recursively), or one file.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The verdict of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted without a warning.
    Allowed,
    /// Admitted with warnings (a `warn` policy failed, or an exception is
    /// about to expire).
    Warned(Vec<String>),
    /// Rejected, with the message.
    Rejected(String),
    /// The evaluation failed (trap, deadline…): counted as rejected.
    Error(String),
}

/// The audit scanner's AdmissionRequest for a stored object.
#[must_use]
pub fn audit_request(object: &Value) -> Value {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let metadata = object.get("metadata");
    let (group, version) = group_version(
        object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let kind = s(object.get("kind"));
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let mut request = Map::new();
    request.insert("uid".into(), json!(s(metadata.and_then(|m| m.get("uid")))));
    request.insert("kind".into(), gvk.clone());
    request.insert(
        "resource".into(),
        json!({"group": group, "version": version, "resource": kind}),
    );
    request.insert("requestKind".into(), gvk);
    let name = s(metadata.and_then(|m| m.get("name")));
    if !name.is_empty() {
        request.insert("name".into(), json!(name));
    }
    let namespace = s(metadata.and_then(|m| m.get("namespace")));
    if !namespace.is_empty() {
        request.insert("namespace".into(), json!(namespace));
    }
    request.insert("operation".into(), json!("CREATE"));
    request.insert("userInfo".into(), json!({}));
    request.insert("object".into(), object.clone());
    Value::Object(request)
}

/// The objects of `path` (a file, or every `.yaml`/`.yml`/`.json` file
/// under a folder, sorted), `List`s expanded, each with the file it came
/// from.
///
/// # Errors
/// An unreadable file or folder, a document that is not YAML/JSON, more
/// than [`MAX_OBJECTS`] objects.
pub fn read_objects(path: &Path) -> Result<Vec<(PathBuf, Value)>> {
    let mut files = Vec::new();
    if path.is_dir() {
        collect_files(path, &mut files)?;
    } else {
        files.push(path.to_owned());
    }
    let mut objects = Vec::new();
    for file in files {
        for document in read_documents(&file, "object file")? {
            let mut items = vec![document];
            while let Some(item) = items.pop() {
                let is_list = item
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && item.get("items").is_some_and(Value::is_array);
                if is_list {
                    if let Some(Value::Array(list)) = item.get("items") {
                        items.extend(list.iter().rev().cloned());
                    }
                } else if item.is_object() {
                    objects.push((file.clone(), item));
                }
                if objects.len() > MAX_OBJECTS {
                    bail!("more than {MAX_OBJECTS} objects under {}", path.display());
                }
            }
        }
    }
    Ok(objects)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e)) {
            out.push(entry);
        }
    }
    Ok(())
}

/// The rules of the policy's metadata (`rules:` of policy-metadata.yml or
/// of the metadata embedded in the module).
fn load_rules(args: &AuditArgs, options: &RegistryOptions) -> Result<Vec<Rule>> {
    let (metadata, from) = match &args.metadata {
        Some(path) => (
            read_yaml_file(path, "metadata")?,
            path.display().to_string(),
        ),
        None => {
            let bytes = read_module(&args.module, options)?;
            match read_metadata(&bytes)? {
                Some(m) => (m, format!("the metadata of {}", args.module.display())),
                None => {
                    let beside = args
                        .module
                        .parent()
                        .unwrap_or(Path::new("."))
                        .join("policy-metadata.yml");
                    if !beside.is_file() {
                        bail!(
                            "{} embeds no metadata and there is no {}: give --metadata \
                             policy-metadata.yml (its rules say which kinds are audited)",
                            args.module.display(),
                            beside.display()
                        );
                    }
                    (
                        read_yaml_file(&beside, "metadata")?,
                        beside.display().to_string(),
                    )
                }
            }
        }
    };
    let rules = metadata
        .get("rules")
        .cloned()
        .with_context(|| format!("{from} has no rules"))?;
    serde_json::from_value(rules).with_context(|| format!("the rules of {from} are not valid"))
}

/// Whether the audit scanner sends `object` to a policy with `rules`:
/// a rule for its group, version and plural resource with CREATE.
fn audited(rules: &[Rule], object: &Value) -> bool {
    let (group, version) = group_version(
        object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let resource = resource_for_kind(kind).resource;
    let namespace = object
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let target = RequestTarget {
        group,
        version,
        resource: &resource,
        sub_resource: "",
        operation: "CREATE",
        namespace,
    };
    rules.iter().any(|r| r.matches(&target))
}

/// The verdict of one response.
#[must_use]
pub fn verdict_of(response: &AdmissionResponse) -> Verdict {
    let warnings = response.warnings.clone().unwrap_or_default();
    if !response.allowed {
        let message = response
            .status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_else(|| "(no message)".to_owned());
        Verdict::Rejected(message)
    } else if warnings.is_empty() {
        Verdict::Allowed
    } else {
        Verdict::Warned(warnings)
    }
}

/// `ALLOWED Deployment default/web`, `WARNED Pod trial/app: …`,
/// `REJECTED CronJob default/nightly: …`.
#[must_use]
pub fn render_line(object: &Value, verdict: &Verdict) -> String {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("?");
    let meta = object.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let name = field("name").unwrap_or("?");
    let place = match field("namespace") {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    };
    let one_line = |s: &str| s.replace('\n', " ");
    match verdict {
        Verdict::Allowed => format!("ALLOWED {kind} {place}"),
        Verdict::Warned(w) => format!("WARNED {kind} {place}: {}", one_line(&w.join("; "))),
        Verdict::Rejected(m) => format!("REJECTED {kind} {place}: {}", one_line(m)),
        Verdict::Error(e) => format!("ERROR {kind} {place}: {}", one_line(e)),
    }
}

/// `policy-harness audit`: one line per object, a summary, exit 1 when an
/// object would be rejected (or could not be evaluated).
pub fn handle(args: &AuditArgs) -> Result<ExitCode> {
    let settings = read_yaml_file(&args.settings, "settings")?;
    let clock = args.now.unwrap_or_default();
    print_expiry_notes(&settings, clock);
    let limits = Limits {
        timeout_ms: args.timeout_ms,
        max_memory_mb: args.max_memory_mb,
    };
    let cache = if args.no_cache {
        CacheMode::Disabled
    } else {
        CacheMode::from_env()
    };
    let registry_options = RegistryOptions {
        plain_http: false,
        insecure_registries: args.insecure_registry.clone(),
        extra_roots: Default::default(),
    };
    let rules = load_rules(args, &registry_options)?;
    let objects = read_objects(&args.dir)?;
    let policy = load_policy_at(&args.module, &registry_options, limits, &cache, clock)?;
    let fixtures = match &args.host_capabilities {
        Some(path) => load_fixtures(path)?,
        None => Vec::new(),
    };
    let capabilities =
        HostCapabilities::from_fixtures(fixtures).context("invalid host capabilities")?;
    let live = args.allow_network.then(|| {
        let registry = Arc::new(LiveRegistry::new(registry_options.clone()));
        Arc::new(KeylessLive::new(registry, registry_options.clone(), None))
    });
    let cluster = if args.cluster_resources.is_empty() {
        None
    } else {
        Some(Arc::new(Cluster::load(&args.cluster_resources)?))
    };
    let access = if args.allow_context_aware || cluster.is_some() {
        let (access, notes) = run_access(
            None,
            args.allow_context_aware,
            &args.module,
            &registry_options,
        )?;
        for note in notes {
            eprintln!("policy-harness: note: {note}");
        }
        Some(access)
    } else {
        None
    };
    let environment = || {
        let mut env = HostEnvironment::new(capabilities.clone());
        if let Some(live) = &live {
            env = env.with_live(live.clone());
        }
        if let Some(access) = &access {
            let host = ClusterHost::new(cluster.clone(), access.clone()).then(env.live());
            env = env.with_live(Arc::new(host));
        }
        Arc::new(env)
    };

    let answer = validate_settings(&policy, environment(), &settings)?;
    if !answer.valid {
        eprintln!(
            "Provided settings are not valid: {}",
            answer.message.as_deref().unwrap_or("(no message)")
        );
        return Ok(ExitCode::FAILURE);
    }

    let (mut allowed, mut warned, mut rejected, mut errors, mut skipped) = (0, 0, 0, 0, 0);
    for (file, object) in &objects {
        if !audited(&rules, object) {
            skipped += 1;
            if args.verbose {
                let kind = object.get("kind").and_then(Value::as_str).unwrap_or("?");
                eprintln!(
                    "skipped {kind} in {}: the policy's rules do not name this kind \
                     (the audit scanner does not send it)",
                    file.display()
                );
            }
            continue;
        }
        let request = audit_request(object);
        let verdict = match evaluate(&policy, environment(), &settings, &request) {
            Ok(evaluation) => match evaluation.outcome {
                Outcome::Response(response) => verdict_of(&response),
                Outcome::SettingsInvalid { message } => {
                    Verdict::Error(format!("settings refused: {}", message.unwrap_or_default()))
                }
            },
            Err(e) => Verdict::Error(format!("{e:#}")),
        };
        match verdict {
            Verdict::Allowed => allowed += 1,
            Verdict::Warned(_) => warned += 1,
            Verdict::Rejected(_) => rejected += 1,
            Verdict::Error(_) => errors += 1,
        }
        println!("{}", render_line(object, &verdict));
    }
    let audited_count = allowed + warned + rejected + errors;
    let mut summary = format!(
        "audit: {audited_count} object(s): {allowed} allowed, {warned} warned, {rejected} rejected"
    );
    if errors > 0 {
        summary.push_str(&format!(", {errors} not evaluated"));
    }
    if skipped > 0 {
        summary.push_str(&format!(
            "; {skipped} skipped (kinds not in the rules{})",
            if args.verbose { "" } else { ", -v lists them" }
        ));
    }
    println!("{summary}");
    Ok(if rejected + errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_audit_scanners() {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"}, "spec": {}});
        assert_eq!(
            audit_request(&object),
            json!({"uid": "u-1",
                   "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                   "resource": {"group": "apps", "version": "v1", "resource": "Deployment"},
                   "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                   "name": "web", "namespace": "shop", "operation": "CREATE",
                   "userInfo": {}, "object": object})
        );
    }

    #[test]
    fn only_the_kinds_of_the_rules_are_audited() {
        let rules: Vec<Rule> = serde_json::from_value(json!([{"apiGroups": ["batch"],
            "apiVersions": ["v1"], "resources": ["cronjobs"], "operations": ["CREATE", "UPDATE"]}]))
        .expect("rules");
        let of = |api: &str, kind: &str| json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}});
        assert!(audited(&rules, &of("batch/v1", "CronJob")));
        assert!(!audited(&rules, &of("batch/v1", "Job")));
        assert!(!audited(&rules, &of("batch/v1beta1", "CronJob")));
        let update_only: Vec<Rule> = serde_json::from_value(json!([{"apiGroups": ["*"],
            "apiVersions": ["*"], "resources": ["*"], "operations": ["UPDATE"]}]))
        .expect("rules");
        assert!(!audited(&update_only, &of("v1", "Pod")));
    }
}
