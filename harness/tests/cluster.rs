//! Kubernetes resource files served as the cluster to the real policy's
//! live mode (`kritisResources`): `run --cluster-resources`, a suite's
//! `clusterResources`, the context-aware grants as policy-server and kwctl
//! give them, and kwctl sessions of the Kubernetes reads.
//!
//! The module is `$POLICY_WASM` if set, else the parent crate's release
//! build (see `policy_harness::golden::policy_module`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;
use policy_harness::golden::policy_module;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness lives in the project")
        .to_owned()
}

fn example(path: &str) -> String {
    root()
        .join("examples/kritis-resources")
        .join(path)
        .display()
        .to_string()
}

fn module() -> String {
    policy_module()
        .unwrap_or_else(|e| panic!("{e:#}"))
        .display()
        .to_string()
}

fn harness(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run policy-harness")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The AdmissionResponse `run` printed.
fn response(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not a response ({e}): {}\nstderr: {}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

fn message(response: &Value) -> String {
    response
        .pointer("/status/message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `run --policy <the example's manifest> --resource WORKLOAD`, plus `extra`.
fn run_example(manifest: &str, workload: &str, extra: &[&str]) -> Output {
    let module = module();
    let workload = example(workload);
    let mut args = vec!["run", "--policy", manifest, "--resource", &workload];
    args.extend_from_slice(extra);
    args.push(&module);
    harness(&args)
}

fn manifest() -> String {
    example("policies/cluster-admission-policy.yaml")
}

/// The example's manifest without `kind` in its contextAwareResources.
fn manifest_without(dir: &TempDir, kind: &str) -> String {
    let text = std::fs::read_to_string(manifest()).expect("manifest");
    let entry = format!("    - apiVersion: kritis.grafeas.io/v1beta1\n      kind: {kind}\n");
    assert!(text.contains(&entry), "{entry}");
    dir.write("policy.yaml", text.replace(&entry, ""))
        .display()
        .to_string()
}

#[test]
fn cluster_resources_admit_and_reject_as_the_hook_did() {
    let cluster = example("cluster");
    let attested = response(&run_example(
        &manifest(),
        "workloads/app-attested.yaml",
        &["--cluster-resources", &cluster],
    ));
    assert_eq!(attested["allowed"], true, "{attested}");

    let unattested = response(&run_example(
        &manifest(),
        "workloads/app-unattested.yaml",
        &["--cluster-resources", &cluster],
    ));
    assert_eq!(unattested["allowed"], false);
    assert!(
        message(&unattested).contains("is not attested"),
        "{unattested}"
    );

    let acs = response(&run_example(
        &manifest(),
        "workloads/acs-pod.yaml",
        &["--cluster-resources", &cluster],
    ));
    assert_eq!(acs["allowed"], true, "{acs}");

    // A namespace without GenericAttestationPolicy: the settings' policy,
    // whose key did not sign this image.
    let team_b = response(&run_example(
        &manifest(),
        "workloads/team-b-app.yaml",
        &["--cluster-resources", &cluster],
    ));
    assert_eq!(team_b["allowed"], false);
    assert!(
        message(&team_b).contains("policy cluster-wide requires authority platform"),
        "{team_b}"
    );

    // A policy of team-b naming demo-aa, which lives in default.
    let team_b_policy = example("team-b-policy.yaml");
    let missing = response(&run_example(
        &manifest(),
        "workloads/team-b-app.yaml",
        &[
            "--cluster-resources",
            &cluster,
            "--cluster-resources",
            &team_b_policy,
        ],
    ));
    assert_eq!(missing["allowed"], false);
    assert!(
        message(&missing).contains(
            "GenericAttestationPolicy team-b/team-b-gap names AttestationAuthority demo-aa, \
             which does not exist in team-b"
        ),
        "{missing}"
    );
}

#[test]
fn a_kind_not_granted_is_refused_with_policy_evaluators_text() {
    let dir = TempDir::new("cluster-denied");
    let cluster = example("cluster");
    let manifest = manifest_without(&dir, "AdmissionAllowlist");
    let output = run_example(
        &manifest,
        "workloads/app-attested.yaml",
        &["--cluster-resources", &cluster, "--trace-host-calls"],
    );
    let denied = response(&output);
    assert_eq!(denied["allowed"], false, "{denied}");
    // The policy fails closed, quoting the host's refusal.
    assert!(
        message(&denied).contains(
            "Policy has not been granted access to Kubernetes \
             kritis.grafeas.io/v1beta1/AdmissionAllowlist resources"
        ),
        "{denied}"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("list_resources_all") && stderr.contains("live error"),
        "{stderr}"
    );
}

#[test]
fn an_admission_policy_cannot_read_cluster_resources() {
    let dir = TempDir::new("cluster-namespaced");
    let original = std::fs::read_to_string(manifest()).expect("manifest");
    let start = original.find("  contextAwareResources:").expect("list");
    let end = original.find("  rules:").expect("rules");
    let namespaced = format!("{}{}", &original[..start], &original[end..]).replace(
        "kind: ClusterAdmissionPolicy\nmetadata:\n  name: kritis-attestations\n",
        "kind: AdmissionPolicy\nmetadata:\n  name: kritis-attestations\n  namespace: default\n",
    );
    let manifest = dir.write("admission-policy.yaml", namespaced);
    let output = run_example(
        &manifest.display().to_string(),
        "workloads/app-attested.yaml",
        &["--cluster-resources", &example("cluster")],
    );
    let refused = response(&output);
    assert_eq!(refused["allowed"], false, "{refused}");
    assert!(
        message(&refused).contains(
            "Policy has not been granted access to Kubernetes \
             kritis.grafeas.io/v1beta1/GenericAttestationPolicy resources"
        ),
        "{refused}"
    );
    assert!(
        text(&output.stderr).contains("namespaced policies cannot read cluster resources"),
        "{}",
        text(&output.stderr)
    );
}

/// The policy annotated with the project's metadata (contextAwareResources
/// listing the three kinds), as `kwctl annotate` would.
fn annotated(dir: &TempDir, metadata: Option<&str>) -> String {
    let out = dir.path().join("annotated.wasm");
    let metadata = match metadata {
        Some(text) => dir.write("metadata.yml", text).display().to_string(),
        None => root().join("policy-metadata.yml").display().to_string(),
    };
    let output = harness(&[
        "annotate",
        "-m",
        &metadata,
        "-o",
        &out.display().to_string(),
        &module(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    out.display().to_string()
}

/// The example's settings alone (for runs without --policy).
fn settings(dir: &TempDir) -> String {
    let docs = std::fs::read_to_string(manifest()).expect("manifest");
    let manifest: serde_yaml::Value = serde_yaml::from_str(&docs).expect("yaml");
    let settings = serde_json::to_string(&manifest["spec"]["settings"]).expect("json");
    dir.write("settings.json", settings).display().to_string()
}

fn run_module(module: &str, settings: &str, workload: &str, extra: &[&str]) -> Output {
    let workload = example(workload);
    let mut args = vec!["run", "-s", settings, "--resource", &workload];
    args.extend_from_slice(extra);
    args.push(module);
    harness(&args)
}

#[test]
fn kwctls_allow_context_aware_grants_what_the_modules_metadata_lists() {
    let dir = TempDir::new("cluster-kwctl");
    let settings = settings(&dir);
    let cluster = example("cluster");
    let module = annotated(&dir, None);
    let admitted = response(&run_module(
        &module,
        &settings,
        "workloads/app-attested.yaml",
        &["--allow-context-aware", "--cluster-resources", &cluster],
    ));
    assert_eq!(admitted["allowed"], true, "{admitted}");

    // Without the flag, as kwctl: nothing is granted (and kwctl's warning).
    let output = run_module(
        &module,
        &settings,
        "workloads/app-attested.yaml",
        &["--cluster-resources", &cluster],
    );
    let refused = response(&output);
    assert_eq!(refused["allowed"], false, "{refused}");
    assert!(
        message(&refused).contains("Policy has not been granted access to Kubernetes"),
        "{refused}"
    );
    assert!(
        text(&output.stderr).contains("Policy requires access to Kubernetes resources"),
        "{}",
        text(&output.stderr)
    );

    // Metadata listing only the policies and authorities.
    let full = std::fs::read_to_string(root().join("policy-metadata.yml")).expect("metadata");
    let entry = "  - apiVersion: kritis.grafeas.io/v1beta1\n    kind: AdmissionAllowlist\n";
    assert!(full.contains(entry));
    let partial_dir = TempDir::new("cluster-partial");
    let partial = annotated(&partial_dir, Some(&full.replace(entry, "")));
    let refused = response(&run_module(
        &partial,
        &settings,
        "workloads/app-attested.yaml",
        &["--allow-context-aware", "--cluster-resources", &cluster],
    ));
    assert!(
        message(&refused).contains("kritis.grafeas.io/v1beta1/AdmissionAllowlist resources"),
        "{refused}"
    );
}

#[test]
fn kwctl_sessions_of_kubernetes_reads_record_and_replay() {
    let dir = TempDir::new("cluster-session");
    let settings = settings(&dir);
    let module = annotated(&dir, None);
    let session = dir.path().join("session.yml").display().to_string();
    let recorded = response(&run_module(
        &module,
        &settings,
        "workloads/app-attested.yaml",
        &[
            "--allow-context-aware",
            "--cluster-resources",
            &example("cluster"),
            "--record-host-capabilities-interactions",
            &session,
        ],
    ));
    assert_eq!(recorded["allowed"], true, "{recorded}");
    let written = std::fs::read_to_string(&session).expect("session");
    for tag in [
        "!KubernetesListResourceNamespace",
        "!KubernetesListResourceAll",
    ] {
        assert!(written.contains(tag), "{tag} missing:\n{written}");
    }

    // Replayed without the cluster: the same answer.
    let replayed = response(&run_module(
        &module,
        &settings,
        "workloads/app-attested.yaml",
        &[
            "--allow-context-aware",
            "--replay-host-capabilities-interactions",
            &session,
        ],
    ));
    assert_eq!(replayed["allowed"], true, "{replayed}");

    // kwctl gates a replayed read first: without --allow-context-aware the
    // session does not answer.
    let gated = response(&run_module(
        &module,
        &settings,
        "workloads/app-attested.yaml",
        &["--replay-host-capabilities-interactions", &session],
    ));
    assert_eq!(gated["allowed"], false, "{gated}");
    assert!(
        message(&gated).contains("Policy has not been granted access to Kubernetes"),
        "{gated}"
    );
}

/// A session as kwctl 1.31 writes it (serde_yaml of policy-evaluator
/// 0.30.4's request types), for a namespace whose GenericAttestationPolicy
/// names an authority the namespace lacks.
const KWCTL_SESSION: &str = r#"- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: kritis.grafeas.io/v1beta1
    kind: GenericAttestationPolicy
    namespace: default
    label_selector: null
    field_selector: null
  response:
    type: Success
    payload: '{"apiVersion":"kritis.grafeas.io/v1beta1","kind":"GenericAttestationPolicyList","metadata":{},"items":[{"apiVersion":"kritis.grafeas.io/v1beta1","kind":"GenericAttestationPolicy","metadata":{"name":"demo-gap","namespace":"default"},"spec":{"attestationAuthorityNames":["demo-aa"]}}]}'
- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: kritis.grafeas.io/v1beta1
    kind: AttestationAuthority
    namespace: default
    label_selector: null
    field_selector: null
  response:
    type: Success
    payload: '{"apiVersion":"kritis.grafeas.io/v1beta1","kind":"AttestationAuthorityList","metadata":{},"items":[]}'
- type: Exchange
  request: |
    !KubernetesListResourceAll
    api_version: kritis.grafeas.io/v1beta1
    kind: AdmissionAllowlist
    label_selector: null
    field_selector: null
  response:
    type: Success
    payload: '{"apiVersion":"kritis.grafeas.io/v1beta1","kind":"AdmissionAllowlistList","metadata":{},"items":[]}'
"#;

#[test]
fn a_kwctl_written_session_is_accepted() {
    let dir = TempDir::new("cluster-kwctl-session");
    let settings = settings(&dir);
    let module = annotated(&dir, None);
    let session = dir.write("kwctl-session.yml", KWCTL_SESSION);
    let output = run_module(
        &module,
        &settings,
        "workloads/app-attested.yaml",
        &[
            "--allow-context-aware",
            "--replay-host-capabilities-interactions",
            &session.display().to_string(),
            "--trace-host-calls",
        ],
    );
    let rejected = response(&output);
    assert_eq!(rejected["allowed"], false, "{rejected}");
    assert!(
        message(&rejected).contains(
            "GenericAttestationPolicy default/demo-gap names AttestationAuthority demo-aa, \
             which does not exist in default"
        ),
        "{rejected}"
    );
    let stderr = text(&output.stderr);
    assert_eq!(stderr.matches("-> response").count(), 3, "{stderr}");
}

#[test]
fn suites_name_the_cluster_resources() {
    let module = module();
    let output = harness(&[
        "test",
        "--module",
        &module,
        &root()
            .join("examples/kritis-resources")
            .display()
            .to_string(),
    ]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");

    // Without a policy manifest nothing says what may be read.
    let dir = TempDir::new("cluster-suite");
    let cluster = example("cluster");
    let suite = dir.write(
        "bad-test.yaml",
        format!(
            "apiVersion: policy-harness.kritis.dev/v1\nkind: Suite\n\
             settings: {{kritisResources: {{require: any, whenNoPolicy: admit}}}}\n\
             clusterResources: {cluster}\n\
             cases:\n  - name: x\n    resource: {}\n    expect: {{allowed: true}}\n",
            example("workloads/acs-pod.yaml")
        ),
    );
    let output = harness(&["test", "--module", &module, &suite.display().to_string()]);
    assert!(!output.status.success());
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(all.contains("clusterResources: needs `policy:`"), "{all}");
}

/// One conversion for both: the resources `kritis-import` turns into
/// settings and the same resources read live (`kritisResources`) judge the
/// same requests the same way, kritis's per-policy allowlist patterns
/// included.
#[test]
fn kritis_import_and_the_live_mode_read_the_resources_alike() {
    let dir = TempDir::new("cluster-import");
    let cluster = std::fs::read_to_string(example("cluster/kritis-resources.yaml"))
        .expect("resources")
        .replace(
            "      attestationAuthorityNames:\n        - demo-aa\n",
            "      attestationAuthorityNames:\n        - demo-aa\n      \
             admissionAllowlistPatterns:\n        - namePattern: registry.example.com/tools/*\n          \
             namespace: team-b\n",
        );
    assert!(cluster.contains("admissionAllowlistPatterns"));
    let resources = dir.write("resources.yaml", &cluster);
    let resources = resources.display().to_string();

    let imported = harness(&["kritis-import", "--require", "any", "--json", &resources]);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let imported = dir.write("imported.json", &imported.stdout);
    let live = dir.write(
        "live.json",
        r#"{"kritisResources": {"require": "any", "whenNoPolicy": "admit"}}"#,
    );
    let module = annotated(&dir, None);
    let tools = |ns: &str| {
        dir.write(
            &format!("tools-{ns}.yaml"),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: tools, namespace: {ns}}}\n\
                 spec:\n  containers:\n    - name: t\n      \
                 image: registry.example.com/tools/shell@sha256:{}\n",
                "a".repeat(64)
            ),
        )
        .display()
        .to_string()
    };
    let workloads = [
        (example("workloads/app-attested.yaml"), true),
        (example("workloads/app-unattested.yaml"), false),
        (example("workloads/acs-pod.yaml"), true),
        // The policy's own pattern covers its namespace only, whatever the
        // pattern's `namespace` says.
        (tools("default"), true),
        (tools("team-b"), true), // no policy in team-b: unenforced in both
    ];
    for (workload, expected) in workloads {
        let run = |settings: &Path, extra: &[&str]| {
            let settings = settings.display().to_string();
            let mut args = vec!["run", "-s", &settings, "--resource", &workload];
            args.extend_from_slice(extra);
            args.push(&module);
            response(&harness(&args))
        };
        let by_import = run(&imported, &[]);
        let by_live = run(
            &live,
            &["--allow-context-aware", "--cluster-resources", &resources],
        );
        assert_eq!(
            by_import["allowed"], expected,
            "{workload}: imported settings: {by_import}"
        );
        assert_eq!(
            by_live["allowed"], expected,
            "{workload}: live resources: {by_live}"
        );
    }
    // The scoped pattern: a namespace of its own would not be covered.
    let settings: Value =
        serde_json::from_slice(&std::fs::read(&imported).expect("settings")).expect("json");
    assert_eq!(
        settings["admissionAllowlists"][0],
        serde_json::json!({"name": "default/demo-gap", "patterns": [
            {"namePattern": "registry.example.com/tools/*", "namespace": "default"}]}),
        "{settings}"
    );
}
