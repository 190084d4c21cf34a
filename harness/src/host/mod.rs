//! The host: runs a compiled waPC policy module the way policy-server and
//! `kwctl run` do. `runtime` compiles and instantiates (with `cache`),
//! `capabilities` answers the guest's host calls (`replay` reads kwctl's
//! recorded sessions into the same fixtures; `cluster` serves resource files
//! as the cluster to context-aware calls), `admission` drives the
//! protocol (`protocol_version`, `validate_settings`, `validate`) and
//! `response` shapes the AdmissionResponse.

pub mod admission;
pub mod cache;
pub mod capabilities;
pub mod clock;
pub mod cluster;
pub mod replay;
pub mod response;
pub mod runtime;
