//! Issue 22: the cluster's kritis resources read live. A fake host serves
//! Kubernetes lists per (kind, namespace) and records every call, so the
//! tests assert the exact reasons and exactly which lists were read.

use serde_json::{json, Value};

use super::*;
use crate::evaluate::validate_counting;

const API: &str = "kritis.grafeas.io/v1beta1";

#[derive(Default)]
struct Cluster {
    /// (kind, namespace or "" for cluster-wide) → list answer or host error.
    lists: HashMap<(String, String), Result<Value, String>>,
    calls: RefCell<Vec<String>>,
}

impl Cluster {
    fn with(mut self, kind: &str, namespace: &str, items: Vec<Value>) -> Self {
        self.lists.insert(
            (kind.to_owned(), namespace.to_owned()),
            Ok(json!({"apiVersion": API, "kind": format!("{kind}List"), "items": items})),
        );
        self
    }

    fn failing(mut self, kind: &str, namespace: &str, why: &str) -> Self {
        self.lists
            .insert((kind.to_owned(), namespace.to_owned()), Err(why.to_owned()));
        self
    }

    fn answer(&self, kind: &str, namespace: &str) -> Result<Vec<u8>, String> {
        match self.lists.get(&(kind.to_owned(), namespace.to_owned())) {
            Some(Ok(v)) => Ok(serde_json::to_vec(v).unwrap()),
            Some(Err(e)) => Err(e.clone()),
            // An empty list, as policy-server answers for a kind with none.
            None => Ok(serde_json::to_vec(&json!({"items": []})).unwrap()),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

impl Host for Cluster {
    fn list_resources_by_namespace(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<u8>, String> {
        assert_eq!(api_version, API);
        self.calls.borrow_mut().push(format!("{kind} {namespace}"));
        self.answer(kind, namespace)
    }

    fn list_resources_all(&self, api_version: &str, kind: &str) -> Result<Vec<u8>, String> {
        assert_eq!(api_version, API);
        self.calls.borrow_mut().push(format!("{kind} *"));
        self.answer(kind, "")
    }
}

fn gap(name: &str, namespace: &str, authorities: &[&str]) -> Value {
    json!({"apiVersion": API, "kind": "GenericAttestationPolicy",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"attestationAuthorityNames": authorities}})
}

fn aa(name: &str, namespace: &str, key_id: &str, key: &TestKey) -> Value {
    json!({"apiVersion": API, "kind": "AttestationAuthority",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"noteReference": format!("namespaces/{name}"), "publicKeyId": key_id,
                    "publicKeyData": key.spki_b64()}})
}

fn allowlist(name: &str, patterns: Value) -> Value {
    json!({"apiVersion": API, "kind": "AdmissionAllowlist", "metadata": {"name": name},
           "spec": {"patterns": patterns}})
}

/// Live mode with a cluster-wide settings fallback (authority `fallback`).
fn live(require: &str) -> Value {
    json!({
        "kritisResources": {"require": require},
        "attestationAuthorities": [authority("fallback", "fb-1", &testkeys::rsa(2048))],
        "attestationPolicies": [{"name": "cluster", "attestationAuthorityNames": ["fallback"]}]
    })
}

fn decide(req: Value, settings: Value, host: &Cluster) -> Verdict {
    let payload = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
    validate(&payload, host)
}

fn team_a_pod(atts: &[Value]) -> Value {
    let mut r = request("", "Pod", pod(&[&img(DIGEST)], atts));
    r["namespace"] = json!("team-a");
    r
}

/// The seeds' demo: demo-gap in team-a requires demo-aa (and qa-aa).
fn demo_cluster() -> Cluster {
    Cluster::default()
        .with(
            "GenericAttestationPolicy",
            "team-a",
            vec![gap("demo-gap", "team-a", &["demo-aa", "qa-aa"])],
        )
        .with(
            "AttestationAuthority",
            "team-a",
            vec![
                aa("demo-aa", "team-a", "key-1", &testkeys::rsa(2048)),
                aa("qa-aa", "team-a", "qa-1", &testkeys::rsa_b()),
            ],
        )
}

#[test]
fn a_namespace_policy_is_read_with_require_any_and_all() {
    let demo_only = [rsa_attest("key-1", DIGEST)];
    let host = demo_cluster();
    admitted(decide(team_a_pod(&demo_only), live("any"), &host));
    assert_eq!(
        host.calls(),
        [
            "GenericAttestationPolicy team-a",
            "AttestationAuthority team-a",
            "AdmissionAllowlist *"
        ]
    );
    let m = rejected(decide(team_a_pod(&demo_only), live("all"), &demo_cluster()));
    assert!(
        m.contains("policy team-a/demo-gap requires authority team-a/qa-aa: no valid signature by its keys (qa-1)"),
        "{m}"
    );
    let both = [
        rsa_attest("key-1", DIGEST),
        attest(&testkeys::rsa_b(), "qa-1", REPO, DIGEST, Scheme::Pkcs1),
    ];
    admitted(decide(team_a_pod(&both), live("all"), &demo_cluster()));
}

#[test]
fn the_namespace_policy_wins_over_the_settings_fallback() {
    // Signed by the fallback authority only: not enough in team-a.
    let fallback_only = [rsa_attest("fb-1", DIGEST)];
    let m = rejected(decide(
        team_a_pod(&fallback_only),
        live("any"),
        &demo_cluster(),
    ));
    assert!(m.contains("policy team-a/demo-gap"), "{m}");
    assert!(!m.contains("policy cluster"), "{m}");
}

#[test]
fn an_authority_of_another_namespace_is_never_used() {
    let host = Cluster::default()
        .with(
            "GenericAttestationPolicy",
            "team-a",
            vec![gap("demo-gap", "team-a", &["demo-aa"])],
        )
        .with(
            "AttestationAuthority",
            "team-b",
            vec![aa("demo-aa", "team-b", "key-1", &testkeys::rsa(2048))],
        );
    let m = rejected(decide(
        team_a_pod(&[rsa_attest("key-1", DIGEST)]),
        live("any"),
        &host,
    ));
    assert_eq!(
        m,
        "cannot evaluate the request: GenericAttestationPolicy team-a/demo-gap names \
         AttestationAuthority demo-aa, which does not exist in team-a"
    );
    assert!(
        !host.calls().iter().any(|c| c.contains("team-b")),
        "{:?}",
        host.calls()
    );
}

#[test]
fn malformed_resources_and_host_errors_fail_closed_naming_the_resource() {
    let pod = || team_a_pod(&[rsa_attest("key-1", DIGEST)]);
    let cases: Vec<(Cluster, &str)> = vec![
        (
            Cluster::default().with("GenericAttestationPolicy", "team-a", vec![gap("empty", "team-a", &[])]),
            "GenericAttestationPolicy team-a/empty is malformed: spec.attestationAuthorityNames: must list at least one authority",
        ),
        (
            Cluster::default().with(
                "GenericAttestationPolicy",
                "team-a",
                vec![json!({"metadata": {"name": "bad"}, "spec": {"attestationAuthorityNames": "demo-aa"}})],
            ),
            "GenericAttestationPolicy #0 of the list is malformed: invalid type: string",
        ),
        (
            demo_cluster().with(
                "AttestationAuthority",
                "team-a",
                vec![
                    json!({"metadata": {"name": "demo-aa"}, "spec": {"publicKeyData": "bm90IGEga2V5"}}),
                    aa("qa-aa", "team-a", "qa-1", &testkeys::rsa_b()),
                ],
            ),
            "AttestationAuthority team-a/demo-aa is malformed: spec.publicKeyData: not a PEM public key, nor base64 of one",
        ),
        (
            demo_cluster().with("AdmissionAllowlist", "", vec![allowlist("allow", json!([{"namePattern": ""}]))]),
            "AdmissionAllowlist allow is malformed: spec.patterns[0].namePattern: missing or empty",
        ),
        (
            Cluster::default().failing("GenericAttestationPolicy", "team-a", "the cache is not ready"),
            "cannot read the GenericAttestationPolicies of namespace team-a: the cache is not ready",
        ),
        (
            demo_cluster().failing("AttestationAuthority", "team-a", "forbidden"),
            "cannot read the AttestationAuthorities of namespace team-a: forbidden",
        ),
        (
            Cluster::default().failing("AdmissionAllowlist", "", "no such kind"),
            "cannot read the AdmissionAllowlists: no such kind",
        ),
    ];
    for (host, expected) in cases {
        let m = rejected(decide(pod(), live("any"), &host));
        assert!(m.contains(expected), "{expected}\n{m}");
    }
}

#[test]
fn a_namespace_without_policies_is_judged_by_the_settings_or_admitted_on_request() {
    // Attested by nobody the policies trust, so the reasons name them.
    let unsigned = || team_a_pod(&[rsa_attest("nobody", DIGEST)]);
    // No GenericAttestationPolicy (or an empty cache): the settings' policy.
    let host = Cluster::default();
    let m = rejected(decide(unsigned(), live("any"), &host));
    assert!(
        m.contains("policy cluster requires authority fallback"),
        "{m}"
    );
    // No authority list read for a namespace without policies.
    assert_eq!(
        host.calls(),
        ["GenericAttestationPolicy team-a", "AdmissionAllowlist *"]
    );
    admitted(decide(
        team_a_pod(&[rsa_attest("fb-1", DIGEST)]),
        live("any"),
        &Cluster::default(),
    ));
    // The explicit opt-out: admitted unverified, as ACK's hook does.
    let admit = json!({"kritisResources": {"require": "any", "whenNoPolicy": "admit"}});
    admitted(decide(unsigned(), admit.clone(), &Cluster::default()));
    // ... but a namespace with a policy is still enforced.
    let m = rejected(decide(unsigned(), admit, &demo_cluster()));
    assert!(m.contains("policy team-a/demo-gap"), "{m}");
}

#[test]
fn allowlists_from_the_cluster_and_from_a_policy() {
    let image = img(DIGEST);
    let scoped = demo_cluster().with(
        "AdmissionAllowlist",
        "",
        vec![allowlist(
            "allow-team-b",
            json!([{"namePattern": "registry.example.com/team/*", "namespace": "team-b"}]),
        )],
    );
    // Scoped to team-b: not in team-a.
    assert!(rejected(decide(team_a_pod(&[]), live("any"), &scoped)).contains(&image));
    let everywhere = demo_cluster().with(
        "AdmissionAllowlist",
        "",
        vec![allowlist(
            "allow-all",
            json!([{"namePattern": "registry.example.com/team/*"}]),
        )],
    );
    admitted(decide(team_a_pod(&[]), live("any"), &everywhere));
    // A policy's own patterns (ACK's admissionAllowlistPatterns).
    let mut g = gap("demo-gap", "team-a", &["demo-aa"]);
    g["spec"]["admissionAllowlistPatterns"] =
        json!([{"namePattern": "registry.example.com/team/app@*"}]);
    let own = Cluster::default()
        .with("GenericAttestationPolicy", "team-a", vec![g])
        .with(
            "AttestationAuthority",
            "team-a",
            vec![aa("demo-aa", "team-a", "key-1", &testkeys::rsa(2048))],
        );
    admitted(decide(team_a_pod(&[]), live("all"), &own));
    // Reading the cluster's allowlists can be turned off.
    let off = json!({"kritisResources": {"require": "any", "allowlists": false},
                     "attestationAuthorities": [authority("fallback", "fb-1", &testkeys::rsa(2048))]});
    let host = Cluster::default();
    rejected(decide(team_a_pod(&[]), off, &host));
    assert_eq!(host.calls(), ["GenericAttestationPolicy team-a"]);
}

#[test]
fn settings_and_resources_side_by_side() {
    // A settings policy for team-a and a GenericAttestationPolicy in team-a:
    // both are the namespace's own; one satisfied policy is enough.
    let mut settings = live("all");
    settings["attestationPolicies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "team-a-settings", "namespace": "team-a", "attestationAuthorityNames": ["fallback"]}));
    admitted(decide(
        team_a_pod(&[rsa_attest("fb-1", DIGEST)]),
        settings.clone(),
        &demo_cluster(),
    ));
    let m = rejected(decide(
        team_a_pod(&[rsa_attest("nobody", DIGEST)]),
        settings,
        &demo_cluster(),
    ));
    assert!(
        m.contains("team-a-settings") && m.contains("team-a/demo-gap"),
        "{m}"
    );
}

#[test]
fn many_policies_and_authorities_cost_three_calls() {
    let names: Vec<String> = (0..100).map(|i| format!("aa-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let policies: Vec<Value> = (0..100)
        .map(|i| gap(&format!("gap-{i}"), "team-a", &refs))
        .collect();
    let authorities: Vec<Value> = names
        .iter()
        .map(|n| aa(n, "team-a", n, &testkeys::rsa(2048)))
        .collect();
    let host = Cluster::default()
        .with("GenericAttestationPolicy", "team-a", policies)
        .with("AttestationAuthority", "team-a", authorities);
    let payload = serde_json::to_vec(
        &json!({"request": team_a_pod(&[rsa_attest("aa-7", DIGEST)]), "settings": live("any")}),
    )
    .unwrap();
    let (verdict, work) = validate_counting(&payload, &host);
    admitted(verdict);
    assert_eq!(work.cluster_reads, 3);
    assert_eq!(host.calls().len(), 3);
}

#[test]
fn live_settings_are_checked() {
    let check = |v: Value| -> Result<(), String> {
        let bytes = serde_json::to_vec(&v).unwrap();
        crate::settings::Settings::from_slice(&bytes)?.validate()
    };
    check(live("any")).unwrap();
    check(json!({"kritisResources": {"require": "all", "whenNoPolicy": "admit"}})).unwrap();
    let e = check(json!({"kritisResources": {}, "attestationAuthorities": [authority("a", "k", &testkeys::rsa(2048))]}))
        .unwrap_err();
    assert!(e.starts_with("kritisResources.require: must be set: \"any\" reads a GenericAttestationPolicy listing several authorities as ACK's kritis-validation-hook does"), "{e}");
    let e = check(json!({"kritisResources": {"require": "any"},
        "attestationAuthorities": [authority("a", "k", &testkeys::rsa(2048))],
        "attestationPolicies": [{"name": "p", "namespace": "x", "attestationAuthorityNames": ["a"]}]}))
    .unwrap_err();
    assert!(
        e.starts_with(
            "kritisResources.whenNoPolicy: a namespace without a GenericAttestationPolicy"
        ),
        "{e}"
    );
    let e = check(json!({"kritisResources": {"require": "any"}})).unwrap_err();
    assert!(
        e.contains("attestationAuthorities: at least one authority is required"),
        "{e}"
    );
    let e =
        check(json!({"kritisResources": {"require": "any", "whenNoPolicy": "later"}})).unwrap_err();
    assert!(
        e.starts_with("kritisResources.whenNoPolicy: unknown variant `later`"),
        "{e}"
    );
    let e = check(json!({"kritisResources": {"require": "any"},
        "attestationAuthorities": [authority("team-a/a", "k", &testkeys::rsa(2048))]}))
    .unwrap_err();
    assert!(
        e.contains("with kritisResources, names with '/' are the cluster's AttestationAuthorities"),
        "{e}"
    );
}
