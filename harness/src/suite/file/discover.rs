//! Finding suites under paths: suite files by name, golden-case folders.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::golden_case::is_golden_case;
use super::loaded::SuiteSource;

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
