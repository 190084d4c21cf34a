//! Native test host for the Kubewarden policy: loads a wasm32-wasip1 waPC
//! policy module with wasmtime the way policy-server / `kwctl run` do
//! (`wapc` + `wasmtime-provider`), serves host capabilities from fixtures,
//! bounds the guest, signs attestations, and runs golden cases.
//!
//! The binary (`policy-harness`) and the tests share this library.

pub mod bench;
pub mod cache;
pub mod capabilities;
pub mod cli;
pub mod evaluate;
pub mod golden;
pub mod kritis_import;
pub mod metadata;
pub mod registry;
pub mod response;
pub mod runtime;
pub mod sign;

pub use capabilities::{HostCall, HostCapabilities, HostEnvironment};
pub use evaluate::{evaluate, Evaluation, Verdict};
pub use response::AdmissionResponse;
pub use runtime::{Limits, Policy};
