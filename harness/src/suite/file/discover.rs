//! Finding suites under paths: suite files by name, golden-case folders.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::golden_case::is_golden_case;
use super::identity::{identify, Identity, SUITE_API_VERSION};
use super::loaded::SuiteSource;
use crate::suite::yaml::documents_from_str;

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

/// What [`discover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The suites to run, in order.
    pub sources: Vec<SuiteSource>,
    /// Files with a suite's name that are another tool's (a
    /// `kyverno-test.yaml`, a `chainsaw-test.yaml`), and what they are.
    pub skipped: Vec<(PathBuf, String)>,
    /// Suites without `apiVersion`/`kind` (run, with a deprecation warning).
    pub legacy: Vec<PathBuf>,
}

/// The suites under `paths`: a file is a suite; a golden-case folder is one;
/// any other folder is searched (hidden folders and `target/` skipped) for
/// suite files ([`is_suite_file_name`]) and golden-case folders. A suite
/// file found in a folder is run when its header says it is ours (see
/// [`super::identity`]) and skipped when it is another tool's; a file named
/// on the command line is always loaded (and refused there if not ours).
///
/// # Errors
/// A path that does not exist, or a folder with no suite under it.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery> {
    let mut out = Discovery::default();
    for path in paths {
        if path.is_file() {
            if peek(path) == Some(Identity::Legacy) {
                out.legacy.push(path.clone());
            }
            out.sources.push(SuiteSource::File(path.clone()));
        } else if path.is_dir() {
            let before = out.sources.len();
            if is_golden_case(path) {
                out.sources.push(SuiteSource::GoldenCase(path.clone()));
            } else {
                walk(path, &mut out)?;
            }
            if out.sources.len() == before {
                bail!(
                    "no suite under {} (files named policy-tests.yaml or *-test.yaml with \
                     `apiVersion: {SUITE_API_VERSION}` and `kind: Suite`, or golden-case \
                     folders with expected.json){}",
                    path.display(),
                    if out.skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; skipped {} file(s) of other tools", out.skipped.len())
                    }
                );
            }
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    Ok(out)
}

/// The identity of a candidate file's first document; `None` when it
/// cannot be read or parsed (then it is loaded, and its error reported as
/// the suite's).
fn peek(path: &Path) -> Option<Identity> {
    let text = std::fs::read_to_string(path).ok()?;
    let first = documents_from_str(&text).ok()?.into_iter().next()?;
    Some(identify(&first))
}

fn walk(dir: &Path, out: &mut Discovery) -> Result<()> {
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
                out.sources.push(SuiteSource::GoldenCase(path));
            } else {
                walk(&path, out)?;
            }
        } else if is_suite_file_name(&name) {
            match peek(&path) {
                Some(Identity::Foreign(what)) => out.skipped.push((path, what)),
                Some(Identity::Legacy) => {
                    out.legacy.push(path.clone());
                    out.sources.push(SuiteSource::File(path));
                }
                _ => out.sources.push(SuiteSource::File(path)),
            }
        }
    }
    Ok(())
}
