//! Suites: the YAML format (see `README.md`, "Policy as code"), golden-case
//! folders read as one-case suites, and discovery of both under a path.
//!
//! ```yaml
//! name: cluster-wide policy               # optional (default: the file)
//! policy: policies/cluster.yaml           # a ClusterAdmissionPolicy / AdmissionPolicy
//! policyName: kritis-attestations         # only when the file holds several
//! module: ../../policy.wasm               # optional; else the policy's spec.module
//! hostCapabilities: fixtures/digests.yaml # optional default for every case
//! cases:
//!   - name: attested deployment is admitted
//!     resource: workloads/deployment.yaml # or an inline object, or `request:`
//!     select: Deployment/web              # optional: only these objects of the file
//!     operation: CREATE                   # CREATE (default) | UPDATE | DELETE | CONNECT
//!     namespace: shop
//!     expect:
//!       allowed: true
//! ```
//!
//! Paths resolve against the suite file's folder; unknown fields are errors
//! naming the file and the YAML path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::host::admission::{admission_request as request_of_review, read_json_file};
use crate::host::capabilities::Fixture;
use crate::host::replay::{fixtures_from_value, load_fixtures};
use crate::suite::expect::Expectation;
use crate::suite::manifest::{manifest_dir, module_location, ModuleLocation, PolicyManifest};
use crate::suite::review::{
    admission_request, deterministic_uid, object_label, Operation, RequestOptions,
};
use crate::suite::yaml::read_documents;

/// A suite file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SuiteFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    policy_name: Option<String>,
    #[serde(default)]
    settings: Option<Value>,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    host_capabilities: Option<Value>,
    cases: Vec<CaseFile>,
}

/// A case as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CaseFile {
    name: String,
    #[serde(default)]
    resource: Option<Value>,
    #[serde(default)]
    select: Option<String>,
    #[serde(default)]
    request: Option<Value>,
    #[serde(default)]
    operation: Option<Operation>,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    user_info: Option<Value>,
    #[serde(default)]
    old_object: Option<Value>,
    #[serde(default)]
    host_capabilities: Option<Value>,
    expect: Expectation,
}

/// Where a suite comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SuiteSource {
    /// A suite file.
    File(PathBuf),
    /// A golden-case folder (`request.json`, `settings.json` or
    /// `settings-invalid.json`, `expected.json`, optional
    /// `host-capabilities.json`), run as a suite of one case.
    GoldenCase(PathBuf),
}

impl SuiteSource {
    /// The file or folder.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Self::File(p) | Self::GoldenCase(p) => p,
        }
    }
}

/// A module to run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModuleSource {
    /// A local file.
    File(PathBuf),
    /// `registry://…`.
    Registry(String),
}

impl ModuleSource {
    /// What `load_policy` takes.
    #[must_use]
    pub fn as_path(&self) -> PathBuf {
        match self {
            Self::File(p) => p.clone(),
            Self::Registry(r) => PathBuf::from(r),
        }
    }

    /// For messages.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Registry(r) => r.clone(),
        }
    }
}

/// Where the settings of a suite come from (for messages).
#[derive(Debug, Clone, PartialEq)]
pub enum SettingsOrigin {
    /// `spec.settings` of this manifest.
    Manifest(PolicyManifest),
    /// A settings file.
    File(PathBuf),
    /// `settings:` written in the suite file.
    Inline(PathBuf),
    /// None given: `{}`.
    Default,
}

/// One AdmissionRequest of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRequest {
    /// `Kind/name` when the case's resource file holds several objects.
    pub label: Option<String>,
    /// The AdmissionRequest.
    pub request: Value,
}

/// A loaded case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// The requests (one per object of the resource), or why the case
    /// cannot run.
    pub requests: std::result::Result<Vec<CaseRequest>, String>,
    /// Host-call fixtures.
    pub fixtures: Vec<Fixture>,
    /// The expectation.
    pub expect: Expectation,
}

/// A loaded suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// Display name.
    pub name: String,
    /// Where it was read from.
    pub source: SuiteSource,
    /// The module named by the suite or the manifest (`--module` overrides it).
    pub module: Option<ModuleSource>,
    /// The settings.
    pub settings: Value,
    /// Where they come from.
    pub settings_origin: SettingsOrigin,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

impl Suite {
    /// The manifest, when the settings come from one.
    #[must_use]
    pub fn manifest(&self) -> Option<&PolicyManifest> {
        match &self.settings_origin {
            SettingsOrigin::Manifest(m) => Some(m),
            _ => None,
        }
    }

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

fn base_dir(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

fn load_suite_file(path: &Path) -> Result<Suite> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read suite file {}", path.display()))?;
    let file: SuiteFile = serde_yaml::from_str(&text)
        .with_context(|| format!("invalid suite file {}", path.display()))?;
    let dir = base_dir(path);
    let at = |field: &str| format!("{}: {field}", path.display());

    let settings_origin = match (&file.policy, &file.settings) {
        (Some(_), Some(_)) => bail!(
            "{}: give either policy or settings, not both",
            at("settings")
        ),
        (Some(policy), None) => SettingsOrigin::Manifest(
            PolicyManifest::from_file(&dir.join(policy), file.policy_name.as_deref())
                .with_context(|| format!("{}: cannot use the policy", at("policy")))?,
        ),
        (None, Some(Value::String(settings))) => SettingsOrigin::File(dir.join(settings)),
        (None, Some(Value::Object(_))) => SettingsOrigin::Inline(path.to_owned()),
        (None, Some(other)) => bail!(
            "{}: expected a file path or a mapping, found {other}",
            at("settings")
        ),
        (None, None) => SettingsOrigin::Default,
    };
    if file.policy_name.is_some() && file.policy.is_none() {
        bail!("{}: only goes with policy", at("policyName"));
    }
    let settings = match (&settings_origin, &file.settings) {
        (SettingsOrigin::Manifest(m), _) => m.settings.clone(),
        (SettingsOrigin::File(settings_file), _) => single_document(settings_file, "settings file")
            .with_context(|| at("settings"))?
            .unwrap_or_else(|| json!({})),
        (SettingsOrigin::Inline(_), Some(inline)) => inline.clone(),
        _ => json!({}),
    };
    let module = match (&file.module, &settings_origin) {
        (Some(module), _) => Some(suite_module(module, &dir)),
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
    };
    let default_fixtures = match &file.host_capabilities {
        Some(value) => read_fixtures(value, &dir).with_context(|| at("hostCapabilities"))?,
        None => Vec::new(),
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
        bail!("{}: a suite needs at least one case", at("cases"));
    }
    let mut seen = BTreeSet::new();
    let mut cases = Vec::with_capacity(file.cases.len());
    for (index, case) in file.cases.into_iter().enumerate() {
        if !seen.insert(case.name.clone()) {
            bail!(
                "{}: the name {:?} is already used by an earlier case",
                at(&format!("cases[{index}].name")),
                case.name
            );
        }
        let fixtures = match &case.host_capabilities {
            Some(value) => read_fixtures(value, &dir)
                .map_err(|e| format!("cases[{index}].hostCapabilities: {e:#}")),
            None => Ok(default_fixtures.clone()),
        };
        let requests = fixtures.as_ref().map_err(Clone::clone).and_then(|_| {
            case.expect
                .check_consistency()
                .map_err(|e| format!("cases[{index}].expect: {e}"))?;
            case_requests(&case, index, &name, &dir, fallback_namespace.as_deref())
        });
        cases.push(Case {
            name: case.name,
            requests: requests.map_err(|e| format!("{}: {e}", path.display())),
            fixtures: fixtures.unwrap_or_default(),
            expect: case.expect,
        });
    }
    Ok(Suite {
        name,
        source: SuiteSource::File(path.to_owned()),
        module,
        settings,
        settings_origin,
        cases,
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

/// The one document of a file (`None` when empty).
fn single_document(path: &Path, what: &str) -> Result<Option<Value>> {
    let mut documents = read_documents(path, what)?;
    match documents.len() {
        0 => Ok(None),
        1 => Ok(documents.pop()),
        n => bail!(
            "{what} {} holds {n} documents, expected one",
            path.display()
        ),
    }
}

fn read_fixtures(value: &Value, dir: &Path) -> Result<Vec<Fixture>> {
    match value {
        Value::String(file) => load_fixtures(&dir.join(file)),
        Value::Array(_) => fixtures_from_value(value.clone()),
        other => bail!("expected a file path or a list of fixtures, found {other}"),
    }
}

/// Objects of a `resource:` (a file of one or more documents, `List`s
/// expanded; an inline object; or an inline list of objects).
fn resource_objects(value: &Value, dir: &Path) -> Result<Vec<Value>, String> {
    let documents = match value {
        Value::String(file) => {
            read_documents(&dir.join(file), "resource file").map_err(|e| format!("{e:#}"))?
        }
        Value::Object(_) => vec![value.clone()],
        Value::Array(items) => items.clone(),
        other => return Err(format!("expected a file path or an object, found {other}")),
    };
    let mut objects = Vec::new();
    for document in documents {
        expand_list(document, &mut objects);
    }
    if objects.is_empty() {
        return Err("no object".to_owned());
    }
    Ok(objects)
}

fn expand_list(document: Value, out: &mut Vec<Value>) {
    let is_list = document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && document.get("items").is_some_and(Value::is_array);
    if is_list {
        if let Some(Value::Array(items)) = document.get("items") {
            for item in items {
                expand_list(item.clone(), out);
            }
        }
    } else {
        out.push(document);
    }
}

fn case_requests(
    case: &CaseFile,
    index: usize,
    suite_name: &str,
    dir: &Path,
    fallback_namespace: Option<&str>,
) -> Result<Vec<CaseRequest>, String> {
    let at = |field: &str| format!("cases[{index}].{field}");
    match (&case.resource, &case.request) {
        (Some(_), Some(_)) => Err(format!(
            "{}: give either resource or request, not both",
            at("request")
        )),
        (None, None) => Err(format!(
            "cases[{index}]: needs resource (an object) or request (an AdmissionReview)"
        )),
        (None, Some(request)) => {
            if case.operation.is_some()
                || case.namespace.is_some()
                || case.user_info.is_some()
                || case.old_object.is_some()
                || case.sub_resource.is_some()
                || case.select.is_some()
            {
                return Err(format!(
                    "{}: a complete AdmissionRequest; operation, namespace, userInfo, oldObject, \
                     subResource and select only go with resource",
                    at("request")
                ));
            }
            let document = match request {
                Value::String(file) => read_json_file(&dir.join(file), "request")
                    .or_else(|_| {
                        single_document(&dir.join(file), "request file")
                            .map(Option::unwrap_or_default)
                    })
                    .map_err(|e| format!("{}: {e:#}", at("request")))?,
                Value::Object(_) => request.clone(),
                other => {
                    return Err(format!(
                        "{}: expected a file path or an object, found {other}",
                        at("request")
                    ))
                }
            };
            let request =
                request_of_review(document).map_err(|e| format!("{}: {e:#}", at("request")))?;
            Ok(vec![CaseRequest {
                label: None,
                request,
            }])
        }
        (Some(resource), None) => {
            let mut objects =
                resource_objects(resource, dir).map_err(|e| format!("{}: {e}", at("resource")))?;
            if let Some(wanted) = &case.select {
                let labels: Vec<String> = objects.iter().map(object_label).collect();
                objects.retain(|o| {
                    object_label(o) == *wanted
                        || o.pointer("/metadata/name").and_then(Value::as_str) == Some(wanted)
                });
                if objects.is_empty() {
                    return Err(format!(
                        "{}: no object named {wanted:?} in the resource (it holds {})",
                        at("select"),
                        labels.join(", ")
                    ));
                }
            }
            let old_object = match &case.old_object {
                None => None,
                Some(value) => {
                    let mut old = resource_objects(value, dir)
                        .map_err(|e| format!("{}: {e}", at("oldObject")))?;
                    if old.len() != 1 {
                        return Err(format!(
                            "{}: expected one object, found {}",
                            at("oldObject"),
                            old.len()
                        ));
                    }
                    old.pop()
                }
            };
            let several = objects.len() > 1;
            let mut requests = Vec::with_capacity(objects.len());
            for (n, object) in objects.iter().enumerate() {
                let label = several.then(|| object_label(object));
                let index_text = n.to_string();
                let options = RequestOptions {
                    operation: case.operation.unwrap_or_default(),
                    namespace: case.namespace.clone(),
                    fallback_namespace: fallback_namespace.map(str::to_owned),
                    user_info: case.user_info.clone(),
                    old_object: old_object.clone(),
                    sub_resource: case.sub_resource.clone(),
                    uid: deterministic_uid(&[suite_name, &case.name, &index_text]),
                };
                let request = admission_request(object, &options).map_err(|e| {
                    let which = label
                        .as_ref()
                        .map_or_else(String::new, |l| format!(" ({l})"));
                    format!("{}{which}: {e:#}", at("resource"))
                })?;
                requests.push(CaseRequest { label, request });
            }
            Ok(requests)
        }
    }
}

/// `true` when `dir` is a golden-case folder (it has `expected.json`).
#[must_use]
pub fn is_golden_case(dir: &Path) -> bool {
    dir.join("expected.json").is_file()
}

/// What a golden-case folder holds.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenInputs {
    /// The expectation (`expected.json`).
    pub expected: Expectation,
    /// The settings.
    pub settings: Value,
    /// `true` when they come from `settings-invalid.json`.
    pub settings_invalid_file: bool,
    /// The AdmissionRequest.
    pub request: Value,
    /// The fixtures (`host-capabilities.json`, either format).
    pub fixtures: Vec<Fixture>,
}

/// Reads a golden-case folder.
///
/// # Errors
/// A missing or invalid file, an expectation that contradicts itself or the
/// settings file's name.
pub fn load_golden_case(dir: &Path) -> Result<GoldenInputs> {
    let expected_value = read_json_file(&dir.join("expected.json"), "expected")?;
    let expected: Expectation =
        serde_json::from_value(expected_value).context("invalid expected.json")?;
    let valid_path = dir.join("settings.json");
    let invalid_path = dir.join("settings-invalid.json");
    let (settings_path, settings_invalid_file) =
        match (valid_path.is_file(), invalid_path.is_file()) {
            (true, false) => (valid_path, false),
            (false, true) => (invalid_path, true),
            (true, true) => bail!("the case has both settings.json and settings-invalid.json"),
            (false, false) => {
                bail!("the case has neither settings.json nor settings-invalid.json")
            }
        };
    if settings_invalid_file && !expected.expects_invalid_settings() {
        bail!("the case has settings-invalid.json, so expected.json must say \"settingsValid\": false");
    }
    expected
        .check_consistency()
        .map_err(|e| anyhow::anyhow!("expected.json: {e}"))?;
    let settings = read_json_file(&settings_path, "settings")?;
    let request = request_of_review(read_json_file(&dir.join("request.json"), "request")?)?;
    let caps_path = dir.join("host-capabilities.json");
    let fixtures = if caps_path.is_file() {
        load_fixtures(&caps_path)?
    } else {
        Vec::new()
    };
    Ok(GoldenInputs {
        expected,
        settings,
        settings_invalid_file,
        request,
        fixtures,
    })
}

fn golden_suite(dir: &Path) -> Result<Suite> {
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let inputs = load_golden_case(dir).with_context(|| format!("golden case {}", dir.display()))?;
    let settings_file = if inputs.settings_invalid_file {
        dir.join("settings-invalid.json")
    } else {
        dir.join("settings.json")
    };
    Ok(Suite {
        name: name.clone(),
        source: SuiteSource::GoldenCase(dir.to_owned()),
        module: None,
        settings: inputs.settings,
        settings_origin: SettingsOrigin::File(settings_file),
        cases: vec![Case {
            name,
            requests: Ok(vec![CaseRequest {
                label: None,
                request: inputs.request,
            }]),
            fixtures: inputs.fixtures,
            expect: inputs.expected,
        }],
    })
}

/// `true` for the file names `test` picks up in folders: `policy-tests.yaml`
/// and `*-test.yaml` (`.yml` too).
#[must_use]
pub fn is_suite_file_name(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
    else {
        return false;
    };
    stem == "policy-tests" || stem.ends_with("-test")
}

/// The suites under `paths`: a file is a suite; a golden-case folder is one;
/// any other folder is searched (hidden folders and `target/` skipped) for
/// suite files ([`is_suite_file_name`]) and golden-case folders.
///
/// # Errors
/// A path that does not exist, or a folder with no suite under it.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<SuiteSource>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_file() {
            out.push(SuiteSource::File(path.clone()));
        } else if path.is_dir() {
            let before = out.len();
            if is_golden_case(path) {
                out.push(SuiteSource::GoldenCase(path.clone()));
            } else {
                walk(path, &mut out)?;
            }
            if out.len() == before {
                bail!(
                    "no suite under {} (files named policy-tests.yaml or *-test.yaml, or \
                     golden-case folders with expected.json)",
                    path.display()
                );
            }
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<SuiteSource>) -> Result<()> {
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(std::result::Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    entries.sort();
    for (name, path) in entries {
        if path.is_dir() {
            if name == "target" {
                continue;
            }
            if is_golden_case(&path) {
                out.push(SuiteSource::GoldenCase(path));
            } else {
                walk(&path, out)?;
            }
        } else if is_suite_file_name(&name) {
            out.push(SuiteSource::File(path));
        }
    }
    Ok(())
}
