//! kwctl's sources file (`--sources-path`): which registries are insecure
//! (plain HTTP) and which CA certificates a registry's TLS chain ends in.
//!
//! ```yaml
//! insecure_sources: ["registry.local:5000"]
//! source_authorities:
//!   "registry.corp:443":
//!     - type: Path
//!       path: /etc/ssl/corp-ca.pem
//!     - type: Data
//!       data: |
//!         -----BEGIN CERTIFICATE-----
//!         …
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::oci::registry::RegistryOptions;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    #[serde(default)]
    insecure_sources: Vec<String>,
    #[serde(default)]
    source_authorities: BTreeMap<String, Vec<Authority>>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum Authority {
    Path { path: String },
    Data { data: String },
}

/// Adds the sources file at `path` to `options`.
///
/// # Errors
/// An unreadable or malformed file, or an unreadable certificate, naming the
/// file and the registry.
pub fn apply_sources_file(path: &Path, options: &mut RegistryOptions) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read sources file {}", path.display()))?;
    let file: SourcesFile = if text.trim().is_empty() {
        SourcesFile::default()
    } else {
        serde_yaml::from_str(&text)
            .with_context(|| format!("invalid sources file {}", path.display()))?
    };
    options.insecure_registries.extend(file.insecure_sources);
    for (registry, authorities) in file.source_authorities {
        for authority in authorities {
            let pem = match authority {
                Authority::Data { data } => data.into_bytes(),
                Authority::Path { path: cert } => std::fs::read(&cert).with_context(|| {
                    format!(
                        "sources file {}: cannot read the certificate {cert} of {registry}",
                        path.display()
                    )
                })?,
            };
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                bail!(
                    "sources file {}: a certificate of {registry} is not PEM",
                    path.display()
                );
            }
            options
                .extra_roots
                .entry(registry.clone())
                .or_default()
                .push(pem);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("{name}-{}.yaml", std::process::id()));
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn insecure_sources_and_inline_authorities() {
        let path = write(
            "sources-ok",
            "insecure_sources: [\"reg.local:5000\"]\nsource_authorities:\n  \"corp:443\":\n    - type: Data\n      data: |\n        -----BEGIN CERTIFICATE-----\n        MIIB\n        -----END CERTIFICATE-----\n",
        );
        let mut options = RegistryOptions::default();
        apply_sources_file(&path, &mut options).expect("valid");
        assert!(options.uses_plain_http("reg.local:5000"));
        assert!(!options.uses_plain_http("corp:443"));
        assert_eq!(options.extra_roots["corp:443"].len(), 1);
    }

    #[test]
    fn unknown_fields_and_bad_certificates_are_errors() {
        let path = write("sources-unknown", "insecure_source: [a]\n");
        let e = apply_sources_file(&path, &mut RegistryOptions::default()).unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown field `insecure_source`"),
            "{e:#}"
        );
        let path = write(
            "sources-bad-cert",
            "source_authorities:\n  \"corp:443\":\n    - type: Data\n      data: hello\n",
        );
        let e = apply_sources_file(&path, &mut RegistryOptions::default()).unwrap_err();
        assert!(
            format!("{e:#}").contains("a certificate of corp:443 is not PEM"),
            "{e:#}"
        );
    }
}
