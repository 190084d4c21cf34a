//! Shared test helpers: tiny waPC guests written in WAT, and temp dirs.
//!
//! waPC guest protocol (see `wapc` and `wasmtime-provider`): the host calls
//! the export `__guest_call(op_len, msg_len) -> i32`; the guest fetches the
//! operation name and payload with the import `wapc.__guest_request(op_ptr,
//! msg_ptr)`, answers with `wapc.__guest_response(ptr, len)` and returns 1,
//! or reports an error with `wapc.__guest_error(ptr, len)` and returns 0.
//! Host calls go through `wapc.__host_call(binding, namespace, operation,
//! payload)` (pointer/length pairs) -> 1 on success, then
//! `__host_response_len`/`__host_response`, or `__host_error_len`/`__host_error`.
//! The host reads the `memory` export, and runs `wapc_init` (and `_start`)
//! once after instantiation.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the guest copies the incoming payload.
const MSG_PTR: u32 = 65536;
/// Where the guest copies host responses/errors.
const BUF_PTR: u32 = 8 * 65536;
/// Memory pages of the guests (1 MiB + 64 KiB).
const PAGES: u32 = 17;

/// What a guest does for one operation.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer these bytes.
    Respond(String),
    /// Report this waPC guest error.
    GuestError(String),
    /// Execute `unreachable`.
    Trap,
    /// Spin forever.
    Loop,
    /// Grow memory by this many 64 KiB pages; trap if that fails, else answer.
    GrowThenRespond(u32, String),
    /// Call WASI `proc_exit` with this code.
    Exit(i32),
    /// Make a host call with a fixed payload; answer the host's response
    /// verbatim, or report the host error as a guest error.
    HostCall {
        binding: String,
        namespace: String,
        operation: String,
        payload: String,
    },
    /// Like `HostCall`, but the payload is the payload the guest received.
    ForwardToHost {
        namespace: String,
        operation: String,
    },
}

impl Behavior {
    pub fn respond(s: impl Into<String>) -> Self {
        Behavior::Respond(s.into())
    }

    pub fn host_call(namespace: &str, operation: &str, payload: &str) -> Self {
        Behavior::HostCall {
            binding: "kubewarden".to_owned(),
            namespace: namespace.to_owned(),
            operation: operation.to_owned(),
            payload: payload.to_owned(),
        }
    }
}

/// A waPC guest answering the three Kubewarden operations.
#[derive(Debug, Clone)]
pub struct Guest {
    pub protocol_version: Behavior,
    pub validate_settings: Behavior,
    pub validate: Behavior,
    /// Behaviour of `wapc_init` (only `Loop`/`Trap` are meaningful; `None`: returns).
    pub init: Option<Behavior>,
    /// Export `__guest_call` (turn off to test a missing export).
    pub export_guest_call: bool,
    /// Initial memory pages.
    pub pages: u32,
}

impl Default for Guest {
    fn default() -> Self {
        Self {
            protocol_version: Behavior::respond(r#""v1""#),
            validate_settings: Behavior::respond(r#"{"valid":true}"#),
            validate: Behavior::respond(r#"{"accepted":true}"#),
            init: None,
            export_guest_call: true,
            pages: PAGES,
        }
    }
}

struct Data {
    next: u32,
    segments: String,
}

impl Data {
    fn add(&mut self, bytes: &[u8]) -> (u32, u32) {
        let ptr = self.next;
        let mut escaped = String::new();
        for b in bytes {
            let _ = write!(escaped, "\\{b:02x}");
        }
        let _ = writeln!(self.segments, "  (data (i32.const {ptr}) \"{escaped}\")");
        let len = bytes.len() as u32;
        self.next += len.max(1);
        (ptr, len)
    }
}

fn body(behavior: &Behavior, data: &mut Data) -> String {
    match behavior {
        Behavior::Respond(text) => {
            let (p, l) = data.add(text.as_bytes());
            format!("(call $guest_response (i32.const {p}) (i32.const {l})) (i32.const 1)")
        }
        Behavior::GuestError(text) => {
            let (p, l) = data.add(text.as_bytes());
            format!("(call $guest_error (i32.const {p}) (i32.const {l})) (i32.const 0)")
        }
        Behavior::Trap => "unreachable".to_owned(),
        Behavior::Loop => "(loop $forever (br $forever)) unreachable".to_owned(),
        Behavior::GrowThenRespond(pages, text) => {
            let (p, l) = data.add(text.as_bytes());
            format!(
                "(if (i32.lt_s (memory.grow (i32.const {pages})) (i32.const 0)) (then unreachable)) \
                 (call $guest_response (i32.const {p}) (i32.const {l})) (i32.const 1)"
            )
        }
        Behavior::Exit(code) => format!("(call $proc_exit (i32.const {code})) unreachable"),
        Behavior::HostCall {
            binding,
            namespace,
            operation,
            payload,
        } => {
            let (bp, bl) = data.add(binding.as_bytes());
            let (np, nl) = data.add(namespace.as_bytes());
            let (op, ol) = data.add(operation.as_bytes());
            let (pp, pl) = data.add(payload.as_bytes());
            host_call_body(
                &format!("(i32.const {bp}) (i32.const {bl})"),
                &format!("(i32.const {np}) (i32.const {nl}) (i32.const {op}) (i32.const {ol})"),
                &format!("(i32.const {pp}) (i32.const {pl})"),
            )
        }
        Behavior::ForwardToHost {
            namespace,
            operation,
        } => {
            let (bp, bl) = data.add(b"kubewarden");
            let (np, nl) = data.add(namespace.as_bytes());
            let (op, ol) = data.add(operation.as_bytes());
            host_call_body(
                &format!("(i32.const {bp}) (i32.const {bl})"),
                &format!("(i32.const {np}) (i32.const {nl}) (i32.const {op}) (i32.const {ol})"),
                &format!("(i32.const {MSG_PTR}) (local.get $msg_len)"),
            )
        }
    }
}

fn host_call_body(binding: &str, ns_op: &str, payload: &str) -> String {
    format!(
        "(if (result i32) (call $host_call {binding} {ns_op} {payload})
          (then
            (call $host_response (i32.const {BUF_PTR}))
            (call $guest_response (i32.const {BUF_PTR}) (call $host_response_len))
            (i32.const 1))
          (else
            (call $host_error (i32.const {BUF_PTR}))
            (call $guest_error (i32.const {BUF_PTR}) (call $host_error_len))
            (i32.const 0)))"
    )
}

impl Guest {
    /// The module as WAT text.
    pub fn wat(&self) -> String {
        let mut data = Data {
            next: 1024,
            segments: String::new(),
        };
        let pv = body(&self.protocol_version, &mut data);
        let vs = body(&self.validate_settings, &mut data);
        let va = body(&self.validate, &mut data);
        let unknown = body(
            &Behavior::GuestError("unknown operation".to_owned()),
            &mut data,
        );
        let init = match &self.init {
            None => String::new(),
            Some(Behavior::Loop) => "(loop $forever (br $forever))".to_owned(),
            Some(_) => "unreachable".to_owned(),
        };
        let export = if self.export_guest_call {
            "(export \"__guest_call\")"
        } else {
            ""
        };
        let pages = self.pages;
        format!(
            r#"(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") {pages})
{segments}
  (func (export "wapc_init") {init})
  (func $protocol_version (param $msg_len i32) (result i32) {pv})
  (func $validate_settings (param $msg_len i32) (result i32) {vs})
  (func $validate (param $msg_len i32) (result i32) {va})
  (func $unknown (param $msg_len i32) (result i32) {unknown})
  (func $guest_call {export} (param $op_len i32) (param $msg_len i32) (result i32)
    (if (i32.gt_u (local.get $msg_len) (i32.const {max_msg})) (then unreachable))
    (call $guest_request (i32.const 256) (i32.const {MSG_PTR}))
    (if (i32.eq (local.get $op_len) (i32.const 16))
      (then (return (call $protocol_version (local.get $msg_len)))))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then (return (call $validate_settings (local.get $msg_len)))))
    (if (i32.eq (local.get $op_len) (i32.const 8))
      (then (return (call $validate (local.get $msg_len)))))
    (call $unknown (local.get $msg_len)))
)
"#,
            segments = data.segments,
            max_msg = BUF_PTR - MSG_PTR,
        )
    }

    /// The module as binary wasm.
    pub fn wasm(&self) -> Vec<u8> {
        wat::parse_str(self.wat()).expect("the generated WAT is valid")
    }
}

/// A directory under the integration tests' scratch area, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small Pod AdmissionReview.
pub fn pod_review(uid: &str, image: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "namespace": "default",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    })
}
