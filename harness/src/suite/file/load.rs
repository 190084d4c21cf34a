//! A suite file → a [`Suite`]: its settings (from a policy manifest, a
//! file or inline), its module, its fixtures and its cases. Paths resolve
//! against the suite file's folder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::format::{CaseFile, SuiteFile};
use super::golden_case::golden_suite;
use super::identity::{identify, Identity, SUITE_API_VERSION, SUITE_KIND};
use super::loaded::{Case, ModuleSource, SettingsOrigin, Suite, SuiteSource};
use super::requests::case_requests;
use crate::host::capabilities::Fixture;
use crate::host::cluster::{Cluster, ContextAwareAccess, ServedCluster};
use crate::host::replay::{fixtures_from_value, load_fixtures};
use crate::suite::manifest::{manifest_dir, module_location, ModuleLocation, PolicyManifest};
use crate::suite::yaml::{documents_from_str, single_document};

impl Suite {
    /// Loads a suite from its source.
    ///
    /// # Errors
    /// An unreadable or invalid suite file or policy manifest, naming the
    /// file and the field (a single case's problems are kept in that case).
    pub fn load(source: &SuiteSource) -> Result<Self> {
        match source {
            SuiteSource::File(path) => load_suite_file(path),
            SuiteSource::GoldenCase(dir) => golden_suite(dir),
        }
    }
}

/// `FILE: FIELD`, for messages.
fn at(path: &Path, field: &str) -> String {
    format!("{}: {field}", path.display())
}

fn base_dir(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

fn load_suite_file(path: &Path) -> Result<Suite> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read suite file {}", path.display()))?;
    let first = documents_from_str(&text)
        .with_context(|| format!("invalid suite file {}", path.display()))?
        .into_iter()
        .next();
    match first.as_ref().map(identify) {
        Some(Identity::Current | Identity::Legacy) => {}
        Some(Identity::Invalid(why)) => bail!("{}: {why}", path.display()),
        Some(Identity::Foreign(what)) => bail!(
            "{} is not a policy-harness suite ({what}): a suite starts with \
             `apiVersion: {SUITE_API_VERSION}` and `kind: {SUITE_KIND}`",
            path.display()
        ),
        None => bail!("{}: empty suite file", path.display()),
    }
    let file: SuiteFile = serde_yaml::from_str(&text)
        .with_context(|| format!("invalid suite file {}", path.display()))?;
    let dir = base_dir(path);

    let settings_origin = settings_origin(&file, path, &dir)?;
    if file.policy_name.is_some() && file.policy.is_none() {
        bail!("{}: only goes with policy", at(path, "policyName"));
    }
    let settings = suite_settings(&settings_origin, file.settings.as_ref(), path)?;
    let module = module_source(file.module.as_deref(), &settings_origin, &dir)?;
    let default_fixtures = match &file.host_capabilities {
        Some(value) => read_fixtures(value, &dir).with_context(|| at(path, "hostCapabilities"))?,
        None => Vec::new(),
    };
    let access = suite_access(&settings_origin)?;
    let default_cluster = match &file.cluster_resources {
        Some(value) => Some(
            served_cluster(value, &dir, access.as_ref())
                .with_context(|| at(path, "clusterResources"))?,
        ),
        None => None,
    };
    let name = file
        .name
        .clone()
        .unwrap_or_else(|| path.display().to_string());
    let fallback_namespace = match &settings_origin {
        SettingsOrigin::Manifest(m) => m.namespace.clone(),
        _ => None,
    };
    if file.cases.is_empty() {
        bail!("{}: a suite needs at least one case", at(path, "cases"));
    }
    let cases = load_cases(
        file.cases,
        path,
        &dir,
        &name,
        fallback_namespace.as_deref(),
        &default_fixtures,
        (default_cluster.as_ref(), access.as_ref()),
    )?;
    Ok(Suite {
        name,
        source: SuiteSource::File(path.to_owned()),
        module,
        now: None,
        settings,
        settings_origin,
        cases,
    })
}

/// Where the settings come from: `policy` or `settings` (not both), or none.
fn settings_origin(file: &SuiteFile, path: &Path, dir: &Path) -> Result<SettingsOrigin> {
    Ok(match (&file.policy, &file.settings) {
        (Some(_), Some(_)) => bail!(
            "{}: give either policy or settings, not both",
            at(path, "settings")
        ),
        (Some(policy), None) => SettingsOrigin::Manifest(
            PolicyManifest::from_file(&dir.join(policy), file.policy_name.as_deref())
                .with_context(|| format!("{}: cannot use the policy", at(path, "policy")))?,
        ),
        (None, Some(Value::String(settings))) => SettingsOrigin::File(dir.join(settings)),
        (None, Some(Value::Object(_))) => SettingsOrigin::Inline(path.to_owned()),
        (None, Some(other)) => bail!(
            "{}: expected a file path or a mapping, found {other}",
            at(path, "settings")
        ),
        (None, None) => SettingsOrigin::Default,
    })
}

/// The settings from their origin (`inline`: `settings:` of the file).
fn suite_settings(origin: &SettingsOrigin, inline: Option<&Value>, path: &Path) -> Result<Value> {
    Ok(match (origin, inline) {
        (SettingsOrigin::Manifest(m), _) => m.settings.clone(),
        (SettingsOrigin::File(settings_file), _) => single_document(settings_file, "settings file")
            .with_context(|| at(path, "settings"))?
            .unwrap_or_else(|| json!({})),
        (SettingsOrigin::Inline(_), Some(inline)) => inline.clone(),
        _ => json!({}),
    })
}

/// The suite's `module`, else the manifest's `spec.module`, else none.
fn module_source(
    module: Option<&str>,
    origin: &SettingsOrigin,
    dir: &Path,
) -> Result<Option<ModuleSource>> {
    Ok(match (module, origin) {
        (Some(module), _) => Some(suite_module(module, dir)),
        (None, SettingsOrigin::Manifest(m)) => match &m.module {
            Some(module) => Some(
                match module_location(module, &manifest_dir(m))
                    .with_context(|| format!("{}: spec.module", m.describe()))?
                {
                    ModuleLocation::Registry(r) => ModuleSource::Registry(r),
                    ModuleLocation::File(f) => ModuleSource::File(f),
                },
            ),
            None => None,
        },
        (None, _) => None,
    })
}

fn suite_module(module: &str, dir: &Path) -> ModuleSource {
    if module.starts_with("registry://") {
        ModuleSource::Registry(module.to_owned())
    } else {
        let path = module.strip_prefix("file://").unwrap_or(module);
        ModuleSource::File(dir.join(path))
    }
}

/// What the suite's policy may read of the cluster: what policy-server
/// grants its manifest; `None` without a manifest.
fn suite_access(origin: &SettingsOrigin) -> Result<Option<ContextAwareAccess>> {
    match origin {
        SettingsOrigin::Manifest(m) => ContextAwareAccess::from_manifest(m).map(Some),
        _ => Ok(None),
    }
}

/// `clusterResources`: a path or a list of paths (files or folders), read
/// as the cluster, granted what the manifest grants.
fn served_cluster(
    value: &Value,
    dir: &Path,
    access: Option<&ContextAwareAccess>,
) -> Result<ServedCluster> {
    let Some(access) = access else {
        bail!(
            "needs `policy:` (a ClusterAdmissionPolicy manifest: its \
             spec.contextAwareResources says which kinds the policy may read, as policy-server \
             grants them)"
        );
    };
    let paths: Vec<PathBuf> = match value {
        Value::String(p) => vec![dir.join(p)],
        Value::Array(list) => list
            .iter()
            .map(|p| match p {
                Value::String(p) => Ok(dir.join(p)),
                other => Err(anyhow::anyhow!("expected a path, found {other}")),
            })
            .collect::<Result<_>>()?,
        other => bail!("expected a path or a list of paths, found {other}"),
    };
    Ok(ServedCluster {
        cluster: std::sync::Arc::new(Cluster::load(&paths)?),
        access: access.clone(),
    })
}

fn read_fixtures(value: &Value, dir: &Path) -> Result<Vec<Fixture>> {
    match value {
        Value::String(file) => load_fixtures(&dir.join(file)),
        Value::Array(_) => fixtures_from_value(value.clone()),
        other => bail!("expected a file path or a list of fixtures, found {other}"),
    }
}

/// The cases, in file order. A repeated name fails the suite; any other
/// problem of a case is kept in that case.
fn load_cases(
    cases: Vec<CaseFile>,
    path: &Path,
    dir: &Path,
    suite_name: &str,
    fallback_namespace: Option<&str>,
    default_fixtures: &[Fixture],
    (default_cluster, access): (Option<&ServedCluster>, Option<&ContextAwareAccess>),
) -> Result<Vec<Case>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(cases.len());
    for (index, case) in cases.into_iter().enumerate() {
        if !seen.insert(case.name.clone()) {
            bail!(
                "{}: the name {:?} is already used by an earlier case",
                at(path, &format!("cases[{index}].name")),
                case.name
            );
        }
        let fixtures = match &case.host_capabilities {
            Some(value) => read_fixtures(value, dir)
                .map_err(|e| format!("cases[{index}].hostCapabilities: {e:#}")),
            None => Ok(default_fixtures.to_vec()),
        };
        let cluster = match &case.cluster_resources {
            Some(value) => served_cluster(value, dir, access)
                .map(Some)
                .map_err(|e| format!("cases[{index}].clusterResources: {e:#}")),
            None => Ok(default_cluster.cloned()),
        };
        let fixtures = match (fixtures, &cluster) {
            (Ok(_), Err(e)) => Err(e.clone()),
            (fixtures, _) => fixtures,
        };
        let requests = fixtures.as_ref().map_err(Clone::clone).and_then(|_| {
            case.expect
                .check_consistency()
                .map_err(|e| format!("cases[{index}].expect: {e}"))?;
            case_requests(&case, index, suite_name, dir, fallback_namespace)
        });
        out.push(Case {
            name: case.name,
            requests: requests.map_err(|e| format!("{}: {e}", path.display())),
            fixtures: fixtures.unwrap_or_default(),
            cluster: cluster.unwrap_or_default(),
            expect: case.expect,
        });
    }
    Ok(out)
}
