//! The deployable examples never rot: every policy example's settings pass
//! `validate_settings`, and the example workloads are admitted under them.

use std::path::Path;

use kritis_attestation_policy::verdict::Verdict;
use kritis_attestation_policy::{validate, validate_settings, Host};
use serde_json::{json, Value};

struct NoHost;

impl Host for NoHost {}

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("examples/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_policy_example_has_valid_settings() {
    let mut policies = 0;
    for name in examples() {
        let doc = load(&name);
        if !matches!(
            doc["kind"].as_str(),
            Some("ClusterAdmissionPolicy" | "AdmissionPolicy")
        ) {
            continue;
        }
        policies += 1;
        let settings = serde_json::to_vec(&doc["spec"]["settings"]).expect("json");
        let r = validate_settings(&settings);
        assert!(r.valid, "{name}: {:?}", r.message);
        assert!(
            doc["spec"]["module"]
                .as_str()
                .is_some_and(|m| m.starts_with("registry://")),
            "{name}"
        );
    }
    assert!(
        policies >= 2,
        "expected a ClusterAdmissionPolicy and an AdmissionPolicy"
    );
}

#[test]
fn example_workloads_are_admitted_by_the_example_policy() {
    let settings = load("cluster-admission-policy.yaml")["spec"]["settings"].clone();
    let mut workloads = 0;
    for name in examples() {
        let object = load(&name);
        let (group, kind) = match object["kind"].as_str() {
            Some("Pod") => ("", "Pod"),
            Some("Deployment") => ("apps", "Deployment"),
            _ => continue,
        };
        workloads += 1;
        let payload = json!({
            "request": {"uid": "1", "kind": {"group": group, "version": "v1", "kind": kind},
                        "operation": "CREATE", "namespace": "default", "object": object},
            "settings": settings,
        });
        match validate(&serde_json::to_vec(&payload).expect("json"), &NoHost) {
            Verdict::Admit { .. } => {}
            Verdict::Reject(r) => panic!("{name} rejected: {r}"),
        }
    }
    assert!(workloads >= 2);
}
