//! `policy-harness`: a native host for the Kubewarden policy and the tools
//! around it.
//!
//! - [`host`]: runs a wasm32-wasip1 waPC policy module with wasmtime the way
//!   policy-server / `kwctl run` do (`wapc` + `wasmtime-provider`), serving
//!   host capabilities from fixtures or live.
//! - [`oci`]: Kubewarden metadata in a module, and OCI registries.
//! - [`sign`]: attestations as the policy reads them.
//! - [`kritis_import`]: kritis resources → policy settings.
//! - [`golden`]: golden cases (request + settings → expectation).
//! - [`suite`]: test suites of a policy manifest against workloads
//!   (`policy-harness test`); golden cases run as suites too.
//! - [`cli`]: the command line, one module per subcommand; nothing else
//!   imports it.

pub mod cli;
pub mod golden;
pub mod host;
pub mod kritis_import;
pub mod oci;
pub mod sign;
pub mod suite;

pub use host::admission::{evaluate, Evaluation, Outcome};
pub use host::capabilities::{HostCall, HostCapabilities, HostEnvironment};
pub use host::response::AdmissionResponse;
pub use host::runtime::{Limits, PolicyModule};
