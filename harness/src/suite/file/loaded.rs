//! Suites and cases ready to run, and where they come from. A leaf.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::host::capabilities::Fixture;
use crate::host::cluster::ServedCluster;
use crate::suite::expect::Expectation;
use crate::suite::manifest::PolicyManifest;

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
    /// Resource files served as the cluster (`clusterResources`).
    pub cluster: Option<ServedCluster>,
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
    /// The clock the module reads (a golden case's `"now"`); `None`: the
    /// runner's (`test --now`, else the host's).
    pub now: Option<crate::host::clock::WasiClock>,
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
}
