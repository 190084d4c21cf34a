//! Where a manifest's `spec.module` points (`registry://`, `file://`):
//! resolving it is a job apart from reading the manifest.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::PolicyManifest;

/// Where a policy's `spec.module` points, for the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleLocation {
    /// `registry://…` (also a module written without a scheme, which
    /// Kubewarden treats as `registry://`).
    Registry(String),
    /// `file://PATH` (relative paths resolve against the manifest's folder).
    File(PathBuf),
}

/// Resolves `spec.module` as Kubewarden does: `registry://`, `file://`, or
/// no scheme (= `registry://`).
///
/// # Errors
/// `http://`/`https://` modules and other schemes, which the harness does
/// not fetch (test against a built module with `--module`).
pub fn module_location(module: &str, manifest_dir: &Path) -> Result<ModuleLocation> {
    if module.starts_with("registry://") {
        return Ok(ModuleLocation::Registry(module.to_owned()));
    }
    if let Some(path) = module.strip_prefix("file://") {
        let path = Path::new(path);
        return Ok(ModuleLocation::File(if path.is_absolute() {
            path.to_owned()
        } else {
            manifest_dir.join(path)
        }));
    }
    if let Some((scheme, _)) = module.split_once("://") {
        bail!(
            "spec.module {module:?}: {scheme}:// modules are not fetched by policy-harness; \
             pass --module FILE (or set module: in the suite)"
        );
    }
    Ok(ModuleLocation::Registry(format!("registry://{module}")))
}

/// The manifest's folder (for relative `file://` modules).
#[must_use]
pub fn manifest_dir(manifest: &PolicyManifest) -> PathBuf {
    manifest
        .file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}
