//! `kritis-import` on kritis resources as `kubectl get -o yaml` prints them:
//! the exact settings, what is skipped and why, the warnings (require: all,
//! namespaces, `*` in a registry host), errors that name the YAML path, the
//! ClusterAdmissionPolicy of `--output manifest`, and the result run through
//! the real policy (valid settings that admit or reject as the warning says).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const MODULE: &str = "registry://ghcr.io/your-org/policies/kritis-attestation-policy:v0.1.0";

fn data(file: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/kritis-import"
    ))
    .join(file)
}

fn harness(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_policy-harness"))
        .arg("kritis-import")
        .args(args)
        .arg(file)
        .output()
        .expect("run policy-harness")
}

/// A successful import: stdout parsed (JSON with `--json`, else YAML), stderr.
fn import(file: &str, args: &[&str]) -> (Value, String) {
    let out = harness(args, &data(file));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let value: Value = if args.contains(&"--json") {
        serde_json::from_str(&stdout).expect("json")
    } else {
        serde_yaml::from_str(&stdout).expect("yaml")
    };
    (value, stderr)
}

/// A failed import: its stderr (stdout must be empty: no half settings).
fn failure(file: &str, args: &[&str]) -> String {
    let out = harness(args, &data(file));
    assert!(!out.status.success(), "expected a failure");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data("expected.json")).expect("expected.json"))
        .expect("json")
}

/// Runs the golden `pod-attested-digest` request (an RSA attestation by
/// `key-4a2ef103-…` for a Pod in `default`) through the policy.
fn admit_attested_pod(settings: &Value) -> Value {
    let module = policy_harness::golden::policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let settings_file = std::env::temp_dir().join(format!(
        "kritis-import-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&settings_file, settings.to_string()).expect("write settings");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../e2e-tests/golden/pod-attested-digest/request.json");
    let out = Command::new(env!("CARGO_BIN_EXE_policy-harness"))
        .args(["run", "--settings-path"])
        .arg(&settings_file)
        .arg("--request-path")
        .arg(golden)
        .arg(module)
        .output()
        .expect("run policy-harness");
    let _ = std::fs::remove_file(&settings_file);
    assert!(
        out.status.success(),
        "settings refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("response")
}

#[test]
fn seed_resources_become_the_expected_settings() {
    let (settings, stderr) = import("seed.yaml", &["--require", "any", "--json"]);
    assert_eq!(settings, expected());
    assert!(
        stderr.contains(
            "seed.yaml: document 3, ImageSecurityPolicy \"legacy-isp\": a kritis resource this \
             policy does not import: an ImageSecurityPolicy admits images by their vulnerability \
             scan results"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "policy-harness: warning: allowlist pattern \"registry*.*.aliyuncs.com/acs/*\": `*` \
             in the registry host \"registry*.*.aliyuncs.com\" also matches hosts such as \
             \"registry-evil.oss-cn-hangzhou.aliyuncs.com\", an OSS bucket domain"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "policy-harness: enforced in: default (the namespaces of the imported policies); \
             every other namespace is admitted WITHOUT checks"
        ),
        "{stderr}"
    );
    // One authority per policy: nothing to say about require.
    assert!(!stderr.contains("--require any"), "{stderr}");
    // YAML output carries the same settings, and the rest as comments.
    let out = harness(&["--require", "any"], &data("seed.yaml"));
    let yaml = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        serde_yaml::from_str::<Value>(&yaml).expect("yaml"),
        expected()
    );
    assert!(yaml.contains("\n# skipped: "), "{yaml}");
    assert!(yaml.contains("\n# warning: allowlist pattern"), "{yaml}");
    assert!(yaml.contains("\n# note: enforced in: default"), "{yaml}");
    // Without --require any, the policy's default (all) applies.
    let (default_settings, _) = import("seed.yaml", &["--json"]);
    assert!(default_settings["attestationPolicies"][0]
        .get("require")
        .is_none());
}

#[test]
fn imported_settings_are_valid_for_the_policy_and_admit_an_attested_pod() {
    for args in [&["--require", "any", "--json"][..], &["--json"][..]] {
        let (settings, _) = import("seed.yaml", args);
        let response = admit_attested_pod(&settings);
        assert_eq!(response["allowed"], true, "{args:?}: {response}");
    }
}

#[test]
fn the_manifest_is_a_cluster_admission_policy_holding_the_settings() {
    let (manifest, _) = import(
        "seed.yaml",
        &[
            "--require",
            "any",
            "--output",
            "manifest",
            "--module",
            MODULE,
        ],
    );
    assert_eq!(manifest["apiVersion"], "policies.kubewarden.io/v1");
    assert_eq!(manifest["kind"], "ClusterAdmissionPolicy");
    assert_eq!(manifest["metadata"]["name"], "kritis-attestations");
    let spec = &manifest["spec"];
    assert_eq!(spec["module"], MODULE);
    assert_eq!(spec["mode"], "protect");
    assert_eq!(spec["mutating"], false);
    assert_eq!(spec["settings"], expected());
    let rules: Value = serde_json::json!([
        {"apiGroups": [""], "apiVersions": ["v1"],
         "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
         "operations": ["CREATE", "UPDATE"]},
        {"apiGroups": ["apps"], "apiVersions": ["v1"],
         "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"],
         "operations": ["CREATE", "UPDATE"]},
        {"apiGroups": ["batch"], "apiVersions": ["v1"],
         "resources": ["jobs", "cronjobs"], "operations": ["CREATE", "UPDATE"]}
    ]);
    assert_eq!(spec["rules"], rules);
    assert_eq!(
        admit_attested_pod(&spec["settings"])["allowed"],
        true,
        "the manifest's settings"
    );
    // JSON, and another name.
    let (json, _) = import(
        "seed.yaml",
        &[
            "--output", "manifest", "--module", MODULE, "--name", "acme", "--json",
        ],
    );
    assert_eq!(json["metadata"]["name"], "acme");
    assert_eq!(json["spec"]["rules"], rules);
    // The module is required with manifest, and only there.
    let stderr = failure("seed.yaml", &["--output", "manifest"]);
    assert!(stderr.contains("--module <URI>"), "{stderr}");
    let stderr = failure("seed.yaml", &["--module", MODULE]);
    assert!(
        stderr.contains("--module is only used with --output manifest"),
        "{stderr}"
    );
    let stderr = failure(
        "seed.yaml",
        &["--output", "manifest", "--module", "ghcr.io/x/y:1"],
    );
    assert!(stderr.contains("with its scheme"), "{stderr}");
}

#[test]
fn require_all_is_announced_and_does_what_it_says() {
    let (settings, stderr) = import("two-authorities.yaml", &["--json"]);
    assert!(
        stderr.contains(
            "policy-harness: warning: require: all: policy \"demo-gap\" (default: demo-aa, qa) \
             list(s) two or more authorities and now need an attestation from EVERY one of them"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("run again with `--require any` to keep ACK's behaviour"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "policy-harness: enforced in: default, prod (the namespaces of the imported \
             policies); every other namespace is admitted WITHOUT checks"
        ),
        "{stderr}"
    );
    // As warned: the Pod attested by demo-aa alone is now rejected…
    let response = admit_attested_pod(&settings);
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("policy demo-gap requires authority qa"),
        "{message}"
    );
    // …and admitted with --require any, which silences the warning.
    let (settings, stderr) = import("two-authorities.yaml", &["--require", "any", "--json"]);
    assert!(!stderr.contains("warning: require"), "{stderr}");
    assert_eq!(admit_attested_pod(&settings)["allowed"], true);
}

#[test]
fn errors_name_the_yaml_path_and_print_nothing() {
    let file = data("missing-key.yaml");
    let stderr = failure("missing-key.yaml", &[]);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "policy-harness: error: {}: document 2, AttestationAuthority \"demo-aa\": \
             items[2].spec.publicKeyData: missing",
            file.display()
        )
    );
}

#[test]
fn no_authority_is_an_error_not_invalid_settings() {
    let file = data("policies-only.yaml");
    let stderr = failure(
        "policies-only.yaml",
        &["--output", "manifest", "--module", MODULE],
    );
    assert_eq!(
        stderr.trim_end(),
        format!(
            "policy-harness: error: no AttestationAuthority in {}: the policy needs at least one \
             trusted authority, so there are no valid settings to print (the input holds 1 \
             GenericAttestationPolicy); import them together: kubectl get \
             attestationauthorities,genericattestationpolicies,admissionallowlists -A -o yaml | \
             policy-harness kritis-import -",
            file.display()
        )
    );
}

/// Runs an unattested Pod with `image` in `namespace` through the policy.
fn run_unattested_pod(settings: &Value, namespace: &str, image: &str) -> Value {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../e2e-tests/golden/pod-attested-digest/request.json");
    let mut review: Value =
        serde_json::from_slice(&std::fs::read(golden).expect("golden request")).expect("json");
    let request = &mut review["request"];
    request["namespace"] = namespace.into();
    request["object"]["metadata"]["namespace"] = namespace.into();
    request["object"]["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("annotations");
    request["object"]["spec"]["containers"][0]["image"] = image.into();
    let dir = std::env::temp_dir().join(format!(
        "kritis-import-ns-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let settings_file = dir.join("settings.json");
    let review_file = dir.join("review.json");
    std::fs::write(&settings_file, settings.to_string()).expect("write settings");
    std::fs::write(&review_file, review.to_string()).expect("write review");
    let module = policy_harness::golden::policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let out = Command::new(env!("CARGO_BIN_EXE_policy-harness"))
        .args(["run", "--settings-path"])
        .arg(&settings_file)
        .arg("--request-path")
        .arg(&review_file)
        .arg(module)
        .output()
        .expect("run policy-harness");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("response")
}

#[test]
fn an_allowlist_namespace_is_warned_about_and_the_pattern_field_named() {
    let (settings, stderr) = import("namespaced-allowlist.yaml", &["--json"]);
    let file = data("namespaced-allowlist.yaml");
    // The resource's metadata.namespace is not carried over (ACK: cluster-scoped)…
    assert_eq!(
        settings["admissionAllowlists"],
        serde_json::json!([{"name": "dev-tools", "patterns": [
            {"namePattern": "registry.example.com/tools/*"},
            {"namePattern": "registry.example.com/debug/*", "namespace": "dev"}]}])
    );
    // …and the import says so, naming the field that does scope a pattern.
    assert!(
        stderr.contains(&format!(
            "policy-harness: warning: {}: document 4, AdmissionAllowlist \"dev-tools\": \
             metadata.namespace: \"dev\" is not imported: an AdmissionAllowlist is cluster-scoped \
             in ACK (the API server ignores metadata.namespace), and a pattern is scoped only by \
             its own `namespace` field (spec.patterns[].namespace, imported as \
             admissionAllowlists[].patterns[].namespace); 1 of its 2 pattern(s) have no \
             `namespace` of their own and are imported for EVERY namespace: set `namespace: dev` \
             on each pattern meant only for it",
            file.display()
        )),
        "{stderr}"
    );
    // One namespace with its own policy next to a cluster-wide one: in words
    // that read right.
    assert!(
        stderr.contains(
            "policy-harness: enforced in: every namespace (cluster-wide policies: cluster-gap); \
             namespace prod uses only its own policies, not the cluster-wide ones"
        ),
        "{stderr}"
    );
    // What the warning says, run through the policy: the unscoped pattern
    // admits an unverified image in prod too; the scoped one only in dev.
    let tools = "registry.example.com/tools/shell:1";
    let debug = "registry.example.com/debug/shell:1";
    assert_eq!(
        run_unattested_pod(&settings, "prod", tools)["allowed"],
        true
    );
    assert_eq!(run_unattested_pod(&settings, "dev", debug)["allowed"], true);
    let refused = run_unattested_pod(&settings, "prod", debug);
    assert_eq!(refused["allowed"], false, "{refused}");
    // Every pattern scoped: the warning says nothing is widened.
    let scoped = std::fs::read_to_string(&file).expect("data").replace(
        "    - namePattern: registry.example.com/tools/*\n",
        "    - namePattern: registry.example.com/tools/*\n      namespace: dev\n",
    );
    let dir = std::env::temp_dir().join(format!("kritis-import-scoped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scoped_file = dir.join("scoped.yaml");
    std::fs::write(&scoped_file, scoped).expect("write");
    let out = harness(&["--json"], &scoped_file);
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("every pattern here has its own `namespace`, so each stays confined to it"),
        "{stderr}"
    );
}

#[test]
fn several_namespaces_with_their_own_policies_read_in_the_plural() {
    let mut text = std::fs::read_to_string(data("namespaced-allowlist.yaml")).expect("data");
    text.push_str(
        "---\napiVersion: kritis.grafeas.io/v1beta1\nkind: GenericAttestationPolicy\n\
         metadata:\n  name: dev-gap\n  namespace: dev\nspec:\n  attestationAuthorityNames: [demo-aa]\n",
    );
    let dir = std::env::temp_dir().join(format!("kritis-import-plural-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("plural.yaml");
    std::fs::write(&file, text).expect("write");
    let out = harness(&["--json"], &file);
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "enforced in: every namespace (cluster-wide policies: cluster-gap); namespaces dev, \
             prod each use only their own policies, not the cluster-wide ones"
        ),
        "{stderr}"
    );
}
