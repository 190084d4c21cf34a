//! `policy-harness kritis-import`: turns kritis custom resources, as
//! `kubectl get attestationauthorities,genericattestationpolicies,admissionallowlists -A -o yaml`
//! prints them, into this policy's `settings`, or into a whole
//! ClusterAdmissionPolicy.
//!
//! - `AttestationAuthority` → `attestationAuthorities[]` (name from
//!   `metadata.name`; `noteReference`, `publicKeyId`, `publicKeyData`).
//! - `GenericAttestationPolicy` → `attestationPolicies[]` (its
//!   `metadata.namespace` becomes `namespace`: kritis policies are namespaced).
//! - `AdmissionAllowlist` → `admissionAllowlists[]`.
//! - `List` (and `*List`) documents are unpacked. Any other kind, and any
//!   field the policy has no equivalent for, is reported in
//!   [`Import::skipped`], never dropped silently.
//!
//! The result is checked the way the policy's `validate_settings` checks
//! settings (at least one authority, every policy naming existing
//! authorities, no duplicates, keys that are PEM public keys), so what is
//! printed is accepted as is. Every error names the source, the document and
//! the YAML path (`seed.yaml: document 3, AttestationAuthority "demo-aa":
//! items[2].spec.publicKeyData: missing`). What the import changes in
//! behaviour (`require: all`, namespaces left unenforced, `*` in a registry
//! host) is in [`Import::warnings`] and [`Import::notes`].
//!
//! The modules, by job: `settings` (what is printed), `error`, `fields`
//! (where a field sits and reading typed fields), `convert` (one resource →
//! one settings entry), `parse` (YAML documents, `List`s, kinds), `checks`
//! (the cross checks), `warnings` (warnings and notes), `import` (the whole
//! import) and `render` (YAML and the ClusterAdmissionPolicy). Dependencies
//! run one way, from `import` and `render` down to the leaves; none imports
//! this module, which only re-exports them.

mod checks;
mod convert;
mod error;
mod fields;
mod import;
mod parse;
mod render;
mod settings;
mod warnings;

pub use convert::Options;
pub use error::ImportError;
pub use import::{import, Import};
pub use render::{
    manifest, render_yaml, ClusterAdmissionPolicy, Metadata, PolicySpec, Rule, DEFAULT_POLICY_NAME,
};
pub use settings::{Allowlist, Authority, Pattern, Policy, Require, Settings, MAX_PATTERN_LEN};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Test-only: base64 of a PEM `PUBLIC KEY` block (the import checks its shape only).
    pub(super) const KEY: &str = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFCi0tLS0tRU5EIFBVQkxJQyBLRVktLS0tLQo=";

    fn seed() -> String {
        format!(
            r#"
apiVersion: kritis.grafeas.io/v1beta1
kind: AttestationAuthority
metadata:
  name: demo-aa
spec:
  noteReference: namespaces/demo-aa
  publicKeyData: {KEY}
  publicKeyId: key-4a2ef103
---
apiVersion: kritis.grafeas.io/v1beta1
kind: GenericAttestationPolicy
metadata:
  name: demo-gap
  namespace: default
spec:
  attestationAuthorityNames:
  - demo-aa
---
apiVersion: v1
kind: List
items:
- apiVersion: kritis.grafeas.io/v1beta1
  kind: AdmissionAllowlist
  metadata:
    name: allow-acs-images
  spec:
    patterns:
    - namePattern: 'registry*.*.aliyuncs.com/acs/*'
    - namePattern: 'registry-vpc.cn-beijing.aliyuncs.com/arms-docker-repo/*'
      namespace: default
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: stray
"#
        )
    }

    fn run(text: &str, options: Options) -> Result<Import, ImportError> {
        import(&[("seed.yaml".into(), text.into())], options)
    }

    fn err(text: &str) -> String {
        run(text, Options::default()).unwrap_err().to_string()
    }

    #[test]
    fn imports_the_three_kinds_and_reports_the_rest() {
        let i = run(&seed(), Options { require_any: true }).unwrap();
        assert_eq!(
            serde_json::to_value(&i.settings).unwrap(),
            json!({
                "attestationAuthorities": [{"name": "demo-aa", "noteReference": "namespaces/demo-aa",
                                            "publicKeyId": "key-4a2ef103", "publicKeyData": KEY}],
                "attestationPolicies": [{"name": "demo-gap", "namespace": "default",
                                         "attestationAuthorityNames": ["demo-aa"], "require": "any"}],
                "admissionAllowlists": [{"name": "allow-acs-images", "patterns": [
                    {"namePattern": "registry*.*.aliyuncs.com/acs/*"},
                    {"namePattern": "registry-vpc.cn-beijing.aliyuncs.com/arms-docker-repo/*", "namespace": "default"}]}]
            })
        );
        assert_eq!(
            i.skipped,
            vec!["seed.yaml: document 3, ConfigMap \"stray\": not a kritis resource (kritis-import reads AttestationAuthority, GenericAttestationPolicy and AdmissionAllowlist)"]
        );
        assert_eq!(
            i.notes,
            vec!["enforced in: default (the namespaces of the imported policies); every other namespace is admitted WITHOUT checks, as with kritis: add a policy without `namespace` to the settings to enforce the rest of the cluster"]
        );
        assert_eq!(i.warnings.len(), 1, "{:?}", i.warnings);
        assert!(i.warnings[0].starts_with("allowlist pattern \"registry*.*.aliyuncs.com/acs/*\": `*` in the registry host \"registry*.*.aliyuncs.com\" also matches hosts such as \"registry-evil.oss-cn-hangzhou.aliyuncs.com\", an OSS bucket domain"), "{}", i.warnings[0]);
        let yaml = render_yaml("settings", &i, &i.settings).unwrap();
        assert!(yaml.contains("# skipped: seed.yaml: document 3, ConfigMap"));
        assert!(yaml.contains("# warning: allowlist pattern"));
        // The README's order, not alphabetical.
        assert!(
            yaml.find("attestationAuthorities").unwrap()
                < yaml.find("attestationPolicies").unwrap()
        );
        assert!(
            yaml.find("attestationPolicies").unwrap() < yaml.find("admissionAllowlists").unwrap()
        );
    }

    #[test]
    fn require_all_warns_about_every_policy_with_several_authorities() {
        let text = format!(
            "kind: AttestationAuthority\nmetadata: {{name: a}}\nspec: {{publicKeyData: {KEY}, publicKeyId: ka}}\n---\n\
             kind: AttestationAuthority\nmetadata: {{name: b}}\nspec: {{publicKeyData: {KEY}, publicKeyId: kb}}\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: two, namespace: prod}}\nspec: {{attestationAuthorityNames: [a, b]}}\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: one, namespace: dev}}\nspec: {{attestationAuthorityNames: [a]}}\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: also, namespace: qa}}\nspec: {{attestationAuthorityNames: [b, a]}}\n"
        );
        let i = run(&text, Options::default()).unwrap();
        assert_eq!(i.warnings.len(), 1, "{:?}", i.warnings);
        assert!(i.warnings[0].starts_with(
            "require: all: policy \"two\" (prod: a, b), policy \"also\" (qa: b, a) list(s) two or more authorities"
        ), "{}", i.warnings[0]);
        assert!(i.warnings[0].ends_with("run again with `--require any` to keep ACK's behaviour"));
        assert!(i.notes[0].starts_with("enforced in: dev, prod, qa (the namespaces"));
        let any = run(&text, Options { require_any: true }).unwrap();
        assert!(any.warnings.is_empty(), "{:?}", any.warnings);
    }

    #[test]
    fn errors_name_the_document_the_kind_and_the_yaml_path() {
        let aa = format!(
            "kind: AttestationAuthority\nmetadata: {{name: ok}}\nspec: {{publicKeyData: {KEY}}}\n"
        );
        assert_eq!(
            err("kind: AttestationAuthority\nmetadata: {name: x}\nspec: {publicKeyId: k}\n"),
            "seed.yaml, AttestationAuthority \"x\": spec.publicKeyData: missing"
        );
        assert_eq!(
            err(&format!(
                "{aa}---\nkind: List\nitems:\n- kind: ConfigMap\n- kind: AttestationAuthority\n  metadata: {{name: demo-aa}}\n  spec: {{publicKeyData: 42}}\n"
            )),
            "seed.yaml: document 2, AttestationAuthority \"demo-aa\": items[1].spec.publicKeyData: not a string (a number)"
        );
        assert_eq!(
            err(&format!("{aa}---\nkind: AttestationAuthorityList\nitems:\n- metadata: {{name: y}}\n  spec: {{publicKeyData: bm90IGEga2V5}}\n")),
            "seed.yaml: document 2, AttestationAuthority \"y\": items[0].spec.publicKeyData: decodes to text that is not a PEM block"
        );
        assert_eq!(
            err(&format!("{aa}---\nkind: GenericAttestationPolicy\nmetadata: {{name: p}}\nspec: {{attestationAuthorityNames: [ok, nope]}}\n")),
            "seed.yaml: document 2, GenericAttestationPolicy \"p\": spec.attestationAuthorityNames[1]: no AttestationAuthority named \"nope\" in the input: add it (kubectl get attestationauthorities -o yaml) or the policy could never be satisfied"
        );
        assert_eq!(
            err(&format!("{aa}---\nkind: GenericAttestationPolicy\nmetadata: {{name: p}}\nspec: {{attestationAuthorityNames: [ok, ok]}}\n")),
            "seed.yaml: document 2, GenericAttestationPolicy \"p\": spec.attestationAuthorityNames[1]: authority \"ok\" listed twice (also spec.attestationAuthorityNames[0])"
        );
        assert_eq!(
            err(&format!("{aa}---\n{aa}")),
            "seed.yaml: document 2, AttestationAuthority \"ok\": metadata.name: a second AttestationAuthority named \"ok\" (the first: seed.yaml: document 1, AttestationAuthority \"ok\")"
        );
        assert_eq!(
            err(&format!(
                "{aa}---\nkind: AdmissionAllowlist\nspec:\n  patterns:\n  - namePattern: ''\n"
            )),
            "seed.yaml: document 2, AdmissionAllowlist: spec.patterns[0].namePattern: empty"
        );
        assert_eq!(
            err("kind: AttestationAuthority\nspec: {}\n"),
            "seed.yaml, AttestationAuthority: metadata.name: missing"
        );
        let syntax = err(&format!("{aa}---\nkind: [\n"));
        assert!(
            syntax.starts_with("seed.yaml: document 2 is not valid YAML: "),
            "{syntax}"
        );
    }

    #[test]
    fn no_authority_is_an_error() {
        let e = err("kind: GenericAttestationPolicy\nmetadata: {name: p, namespace: default}\nspec: {attestationAuthorityNames: [a]}\n");
        assert!(e.starts_with("no AttestationAuthority in seed.yaml: the policy needs at least one trusted authority, so there are no valid settings to print (the input holds 1 GenericAttestationPolicy)"), "{e}");
        assert!(err("").contains("(the input holds no kritis resource at all)"));
    }

    #[test]
    fn image_security_policy_is_named_as_a_kritis_resource_not_imported() {
        let text = format!("kind: AttestationAuthority\nmetadata: {{name: a}}\nspec: {{publicKeyData: {KEY}}}\n---\napiVersion: kritis.grafeas.io/v1beta1\nkind: ImageSecurityPolicy\nmetadata: {{name: isp}}\nspec: {{}}\n---\napiVersion: kritis.grafeas.io/v1beta1\nkind: VulnzSigningPolicy\nmetadata: {{name: v}}\n");
        let i = run(&text, Options::default()).unwrap();
        assert!(i.skipped[0].starts_with("seed.yaml: document 2, ImageSecurityPolicy \"isp\": a kritis resource this policy does not import: an ImageSecurityPolicy admits images by their vulnerability scan results"), "{}", i.skipped[0]);
        assert!(i.skipped[0].contains("GenericAttestationPolicy"));
        assert!(
            i.skipped[1].contains(
                "VulnzSigningPolicy \"v\": a kritis resource this policy does not import ("
            ),
            "{}",
            i.skipped[1]
        );
        // No policy at all: enforced everywhere, which kritis would not do.
        assert_eq!(
            i.notes,
            vec!["enforced in: every namespace (no attestationPolicies)"]
        );
        assert!(i
            .warnings
            .iter()
            .any(|w| w.starts_with("no GenericAttestationPolicy in the input")));
    }

    #[test]
    fn unknown_fields_and_unscoped_policies_are_reported() {
        let text = format!("kind: AttestationAuthority\nmetadata: {{name: a}}\nspec: {{publicKeyData: {KEY}, publicKeys: []}}\n---\nkind: GenericAttestationPolicy\nmetadata: {{name: p}}\nspec:\n  attestationAuthorityNames: [a]\n  admissionWhitelistPatterns: [{{namePattern: x}}]\n");
        let i = run(&text, Options::default()).unwrap();
        assert!(i.skipped[0].starts_with("seed.yaml: document 1, AttestationAuthority \"a\": spec.publicKeys: not imported: this is upstream kritis's newer key format"), "{:?}", i.skipped);
        assert_eq!(i.skipped.len(), 1, "{:?}", i.skipped);
        // kritis's per-policy exemptions are imported, as the live mode reads them.
        assert_eq!(
            serde_json::to_value(&i.settings.admission_allowlists).unwrap(),
            json!([{"name": "p", "patterns": [{"namePattern": "x"}]}])
        );
        assert!(i.warnings[0].starts_with("seed.yaml: document 2, GenericAttestationPolicy \"p\": no metadata.namespace, so it is imported as cluster-wide"), "{:?}", i.warnings);
        assert_eq!(
            i.notes,
            vec!["enforced in: every namespace (cluster-wide policies: p)"]
        );
    }

    #[test]
    fn the_manifest_wraps_the_settings() {
        let i = run(&seed(), Options::default()).unwrap();
        let m = manifest(
            i.settings.clone(),
            "registry://ghcr.io/your-org/policies/kritis-attestation-policy:v0.1.0",
            DEFAULT_POLICY_NAME,
        )
        .unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["apiVersion"], "policies.kubewarden.io/v1");
        assert_eq!(v["kind"], "ClusterAdmissionPolicy");
        assert_eq!(v["metadata"]["name"], "kritis-attestations");
        assert_eq!(v["spec"]["mode"], "protect");
        assert_eq!(v["spec"]["mutating"], false);
        assert_eq!(
            v["spec"]["settings"],
            serde_json::to_value(&i.settings).unwrap()
        );
        assert_eq!(
            v["spec"]["rules"][2],
            json!({"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"], "operations": ["CREATE", "UPDATE"]})
        );
        assert!(manifest(Settings::default(), "ghcr.io/x:1", "n")
            .unwrap_err()
            .contains("with its scheme"));
    }

    #[test]
    fn policy_patterns_and_authority_namespaces_read_as_the_live_mode_reads_them() {
        let text = format!(
            "kind: AttestationAuthority\nmetadata: {{name: a, namespace: team-a}}\nspec: {{publicKeyData: {KEY}}}\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: p, namespace: team-a}}\nspec:\n  attestationAuthorityNames: [a]\n  \
             admissionAllowlistPatterns: [{{namePattern: 'r.example/a/*', namespace: elsewhere}}]\n  \
             admissionWhitelistPatterns: [{{namePattern: 'r.example/b/*'}}]\n---\n\
             kind: GenericAttestationPolicy\nmetadata: {{name: q, namespace: team-b}}\nspec: {{attestationAuthorityNames: [a]}}\n---\n\
             kind: AdmissionAllowlist\nmetadata: {{name: l}}\nspec: {{patterns: [{{namePattern: 'r.example/c/*', namespace: ''}}]}}\n"
        );
        let i = run(&text, Options::default()).unwrap();
        assert!(i.skipped.is_empty(), "{:?}", i.skipped);
        assert_eq!(
            serde_json::to_value(&i.settings.admission_allowlists).unwrap(),
            json!([
                {"name": "team-a/p", "patterns": [
                    {"namePattern": "r.example/a/*", "namespace": "team-a"},
                    {"namePattern": "r.example/b/*", "namespace": "team-a"}]},
                {"name": "l", "patterns": [{"namePattern": "r.example/c/*"}]}
            ])
        );
        assert!(
            i.warnings.iter().any(|w| w.contains("GenericAttestationPolicy \"q\": names AttestationAuthority \"a\", which lives in team-a, not in the policy's namespace \"team-b\"")),
            "{:?}",
            i.warnings
        );
        assert!(
            !i.warnings.iter().any(|w| w.contains("\"p\": names")),
            "{:?}",
            i.warnings
        );
    }
}
