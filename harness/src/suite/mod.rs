//! Test suites for policy-as-code repositories (`policy-harness test`): a
//! suite names a Kubewarden policy manifest (or settings) and cases, each a
//! Kubernetes object (or an AdmissionReview) with an expectation. The runner
//! builds the AdmissionReview the way the API server does, runs
//! `validate_settings` first, then every case on a fresh instance, and
//! reports one line per case or JUnit XML.
//!
//! - [`file`](mod@file): the suite format, golden-case folders as suites, discovery;
//! - [`manifest`]: `ClusterAdmissionPolicy` / `AdmissionPolicy` manifests;
//! - [`review`]: AdmissionRequests from objects;
//! - [`expect`]: expectations and their check (shared with [`crate::golden`]);
//! - [`runner`]: running suites; [`output`]: text and JUnit;
//! - [`yaml`]: YAML files of one or more documents as JSON.
//!
//! Nothing here imports the command layer.

pub mod expect;
pub mod file;
pub mod manifest;
pub mod output;
pub mod review;
pub mod runner;
pub mod yaml;

pub use expect::Expectation;
pub use file::{discover, Suite, SuiteSource};
pub use manifest::PolicyManifest;
pub use runner::{run_all, ModuleCache, Report, RunOptions};
