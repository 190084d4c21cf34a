//! The one source of test requests and key material for the Rust tests and
//! the benchmark.
//!
//! - [`keys`]: the TEST-ONLY keys of `testdata/keys/` (published on purpose;
//!   never trust them anywhere).
//! - [`objects`]: Kubernetes objects and AdmissionRequests shaped like the
//!   API server's (defaulted fields included), settings fragments and
//!   simple-signing payloads.
//!
//! Signing is not here: the policy's tests sign with their own helpers and
//! the harness and the benchmark with `policy_harness::sign`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod keys;
pub mod objects;
