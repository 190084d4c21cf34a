//! The sample cluster the unit tests share: a namespaced policy, an
//! authority written without namespace, a cluster-scoped allowlist inside
//! a `List`.

use super::store::Cluster;
use crate::suite::yaml::documents_from_str;

const RESOURCES: &str = r"
apiVersion: kritis.grafeas.io/v1beta1
kind: GenericAttestationPolicy
metadata:
  name: demo-gap
  namespace: team-a
  labels: {tier: prod}
spec:
  attestationAuthorityNames: [demo-aa]
---
apiVersion: kritis.grafeas.io/v1beta1
kind: AttestationAuthority
metadata:
  name: demo-aa
spec:
  publicKeyData: AAAA
---
apiVersion: v1
kind: List
items:
  - apiVersion: kritis.grafeas.io/v1beta1
    kind: AdmissionAllowlist
    metadata:
      name: allow-acs-images
      namespace: ignored
    spec:
      patterns:
        - namePattern: registry.example.com/acs/*
";

pub(super) fn cluster() -> Cluster {
    let docs = documents_from_str(RESOURCES).expect("yaml");
    Cluster::from_documents(
        docs.into_iter()
            .enumerate()
            .map(|(i, d)| (format!("test #{i}"), d))
            .collect(),
    )
    .expect("cluster")
}
