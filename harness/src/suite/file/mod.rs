//! Suites: the YAML format (see `README.md`, "Policy as code"), golden-case
//! folders read as one-case suites, and discovery of both under a path.
//!
//! ```yaml
//! apiVersion: policy-harness.kritis.dev/v1  # what makes the file a suite (see `identity`)
//! kind: Suite
//! name: cluster-wide policy               # optional (default: the file)
//! policy: policies/cluster.yaml           # a ClusterAdmissionPolicy / AdmissionPolicy
//! policyName: kritis-attestations         # only when the file holds several
//! module: ../../policy.wasm               # optional; else the policy's spec.module
//! hostCapabilities: fixtures/digests.yaml # optional default for every case
//! cases:
//!   - name: attested deployment is admitted
//!     resource: workloads/deployment.yaml # or an inline object, or `request:`
//!     select: Deployment/web              # optional: only these objects of the file
//!     operation: CREATE                   # CREATE (default) | UPDATE | DELETE | CONNECT
//!     namespace: shop
//!     expect:
//!       allowed: true
//! ```
//!
//! Paths resolve against the suite file's folder; unknown fields are errors
//!
//! The modules: `format` (the suite file as written), `loaded` (suites and
//! cases ready to run), `load` (a suite file → a suite), `requests` (a
//! case's AdmissionRequests), `identity` (which files are suites, and
//! which version), `golden_case` (golden-case folders as suites)
//! and `discover` (finding suites under paths). Dependencies run one way,
//! from `load` and `discover` down to the leaves; none imports this module,
//! which only re-exports them.

mod discover;
mod format;
mod golden_case;
pub mod identity;
mod load;
mod loaded;
mod requests;

pub use discover::{discover, is_suite_file_name, Discovery};
pub use golden_case::{is_golden_case, load_golden_case, GoldenInputs};
pub use loaded::{Case, CaseRequest, ModuleSource, SettingsOrigin, Suite, SuiteSource};
