//! Output: the ClusterAdmissionPolicy `--output manifest` prints, and YAML
//! with the import's skipped items, warnings and notes as comments.

use serde::Serialize;

use super::import::Import;
use super::settings::Settings;

/// Name of the generated ClusterAdmissionPolicy unless told otherwise.
pub const DEFAULT_POLICY_NAME: &str = "kritis-attestations";

/// The ClusterAdmissionPolicy `--output manifest` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAdmissionPolicy {
    /// `policies.kubewarden.io/v1`.
    pub api_version: &'static str,
    /// `ClusterAdmissionPolicy`.
    pub kind: &'static str,
    /// Its name.
    pub metadata: Metadata,
    /// Module, rules, mode and settings.
    pub spec: PolicySpec,
}

/// `metadata` of the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// The policy's name.
    pub name: String,
}

/// `spec` of the manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// The module reference (`registry://…`).
    pub module: String,
    /// `protect`.
    pub mode: &'static str,
    /// `false`: the imported settings never mutate.
    pub mutating: bool,
    /// Every kind that runs images, CREATE and UPDATE.
    pub rules: Vec<Rule>,
    /// The imported settings.
    pub settings: Settings,
}

/// One admission rule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// API groups.
    pub api_groups: Vec<&'static str>,
    /// API versions.
    pub api_versions: Vec<&'static str>,
    /// Resources.
    pub resources: Vec<&'static str>,
    /// Operations.
    pub operations: Vec<&'static str>,
}

/// Wraps imported settings into a ClusterAdmissionPolicy for `module`: the
/// rules of README's "Deploying" (every kind that runs images, CREATE and
/// UPDATE), `mode: protect`, `mutating: false`.
///
/// # Errors
/// When `module` is empty or has no scheme (`registry://`, `https://`,
/// `file://`), or `name` is empty.
pub fn manifest(
    settings: Settings,
    module: &str,
    name: &str,
) -> Result<ClusterAdmissionPolicy, String> {
    if !module.contains("://") {
        return Err(format!(
            "--module {module:?}: give the module reference with its scheme, e.g. \
             registry://ghcr.io/your-org/policies/kritis-attestation-policy:v0.1.0"
        ));
    }
    if name.is_empty() {
        return Err("--name: must not be empty".to_owned());
    }
    let ops = || vec!["CREATE", "UPDATE"];
    let rules = vec![
        Rule {
            api_groups: vec![""],
            api_versions: vec!["v1"],
            resources: vec!["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
            operations: ops(),
        },
        Rule {
            api_groups: vec!["apps"],
            api_versions: vec!["v1"],
            resources: vec!["deployments", "replicasets", "statefulsets", "daemonsets"],
            operations: ops(),
        },
        Rule {
            api_groups: vec!["batch"],
            api_versions: vec!["v1"],
            resources: vec!["jobs", "cronjobs"],
            operations: ops(),
        },
    ];
    Ok(ClusterAdmissionPolicy {
        api_version: "policies.kubewarden.io/v1",
        kind: "ClusterAdmissionPolicy",
        metadata: Metadata {
            name: name.to_owned(),
        },
        spec: PolicySpec {
            module: module.to_owned(),
            mode: "protect",
            mutating: false,
            rules,
            settings,
        },
    })
}

/// Renders `value` as YAML after a header comment and the import's
/// skipped items, warnings and notes as comments.
///
/// # Errors
/// When the value cannot be rendered (not expected).
pub fn render_yaml<T: Serialize>(
    header: &str,
    import: &Import,
    value: &T,
) -> Result<String, serde_yaml::Error> {
    let mut out = format!("# {header}\n");
    for (label, items) in [
        ("skipped", &import.skipped),
        ("warning", &import.warnings),
        ("note", &import.notes),
    ] {
        for s in items {
            out.push_str(&format!("# {label}: {}\n", s.replace('\n', " ")));
        }
    }
    out.push_str(&serde_yaml::to_string(value)?);
    Ok(out)
}
