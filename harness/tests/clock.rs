//! The module's WASI realtime clock: the host's by default (as
//! policy-evaluator links it), a fixed time with the TEST flag `--now`, or
//! none (`--now none`), seen by the real policy module.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;
use policy_harness::golden::policy_module;
use policy_harness::host::clock::{instrument, WasiClock, ERRNO_NOTSUP};
use serde_json::{json, Value};
use wasmtime_provider::wasmtime::{Caller, Engine, Extern, Linker, Module, Store};

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");

/// Nanoseconds the test's own `clock_time_get` gives for every clock.
const HOST_NANOS: u64 = 42;

/// A module that reads a clock through its `clock_time_get` import.
const READER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $ct (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "read") (param $id i32) (result i64)
    (local $errno i32)
    (local.set $errno (call $ct (local.get $id) (i64.const 1) (i32.const 16)))
    (if (i32.ne (local.get $errno) (i32.const 0))
      (then (return (i64.sub (i64.const 0) (i64.extend_i32_u (local.get $errno))))))
    (i64.load (i32.const 16))))
"#;

/// Calls `read(id)` of `bytes` linked against a `clock_time_get` that
/// answers [`HOST_NANOS`]: the shim must answer REALTIME itself and pass
/// the other clocks through.
fn read_clock(bytes: &[u8], id: i32) -> i64 {
    let engine = Engine::default();
    let module = Module::new(&engine, bytes).expect("compiles");
    let mut linker: Linker<()> = Linker::new(&engine);
    linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "clock_time_get",
            |mut caller: Caller<'_, ()>, _id: i32, _precision: i64, ptr: i32| -> i32 {
                let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
                    return 8;
                };
                let at = usize::try_from(ptr).expect("pointer");
                memory
                    .write(&mut caller, at, &HOST_NANOS.to_le_bytes())
                    .map_or(21, |()| 0)
            },
        )
        .expect("links");
    let mut store = Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiates");
    let read = instance
        .get_typed_func::<i32, i64>(&mut store, "read")
        .expect("read export");
    read.call(&mut store, id).expect("runs")
}

#[test]
fn the_shim_answers_realtime_and_passes_other_clocks_through() {
    let wasm = wat::parse_str(READER).expect("wat");
    // The host's clock: the module is not touched.
    assert_eq!(instrument(&wasm, WasiClock::Host).expect("host"), wasm);
    assert_eq!(read_clock(&wasm, 0), HOST_NANOS as i64);

    let fixed = WasiClock::parse("2026-12-01T00:00:00.25Z").expect("parses");
    let shimmed = instrument(&wasm, fixed).expect("fixed");
    assert_eq!(read_clock(&shimmed, 0), 1_796_083_200_250_000_000);
    assert_eq!(read_clock(&shimmed, 1), HOST_NANOS as i64, "monotonic");

    let refused = instrument(&wasm, WasiClock::Refused).expect("none");
    assert_eq!(read_clock(&refused, 0), -i64::from(ERRNO_NOTSUP));
    assert_eq!(read_clock(&refused, 1), HOST_NANOS as i64, "monotonic");
}

#[test]
fn the_shim_refuses_what_it_cannot_do() {
    let wat_text = READER.as_bytes();
    assert!(instrument(wat_text, WasiClock::Refused)
        .unwrap_err()
        .to_string()
        .contains("binary"));
    let no_memory = wat::parse_str(
        r#"(module
             (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
             (func (export "f")))"#,
    )
    .expect("wat");
    assert!(instrument(&no_memory, WasiClock::Refused)
        .unwrap_err()
        .to_string()
        .contains("no memory"));
    let wrong_type = wat::parse_str(
        r#"(module
             (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32) (result i32)))
             (memory 1)
             (func (export "f")))"#,
    )
    .expect("wat");
    assert!(instrument(&wrong_type, WasiClock::Refused)
        .unwrap_err()
        .to_string()
        .contains("type"));
}

fn golden(case: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../e2e-tests/golden")
        .join(case)
        .join(file)
}

fn run(settings: &Path, now: Option<&str>) -> (Value, String) {
    let module = policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let mut command = Command::new(BIN);
    command
        .arg("run")
        .arg("-s")
        .arg(settings)
        .arg("-r")
        .arg(golden("expiry-in-warning-window", "request.json"));
    if let Some(now) = now {
        command.args(["--now", now]);
    }
    let out: Output = command.arg(&module).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let response = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (response, stderr)
}

/// The vendor pattern of the golden case, expiring at `expires`.
fn settings(dir: &TempDir, expires: &str) -> PathBuf {
    let text = std::fs::read_to_string(golden("expiry-in-warning-window", "settings.json"))
        .expect("golden settings");
    let mut value: Value = serde_json::from_str(&text).expect("json");
    value["admissionAllowlists"][0]["patterns"][0]["expires"] = json!(expires);
    dir.write(&format!("settings-{expires}.json"), value.to_string())
}

fn warnings(response: &Value) -> Vec<String> {
    serde_json::from_value(response["warnings"].clone()).unwrap_or_default()
}

#[test]
fn the_module_reads_the_time_given_with_now() {
    let dir = TempDir::new("clock");
    let s = settings(&dir, "2026-12-31T00:00:00Z");
    let (r, _) = run(&s, Some("2026-12-28T00:00:00Z"));
    assert_eq!(r["allowed"], true);
    assert!(warnings(&r)[0].contains("(in 3 days)"), "{r}");
    // To the second: one second before the expiry, then at it.
    let (r, _) = run(&s, Some("2026-12-30T23:59:59Z"));
    assert!(warnings(&r)[0].contains("(in 1 minute)"), "{r}");
    let (r, stderr) = run(&s, Some("2026-12-31T00:00:00Z"));
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        stderr.contains(
            "note: admissionAllowlists[0].patterns[0] expired at 2026-12-31T00:00:00Z: it matches nothing"
        ),
        "{stderr}"
    );
    // An offset is read as the same instant.
    let (r, _) = run(&s, Some("2026-12-28T09:00:00+09:00"));
    assert!(warnings(&r)[0].contains("(in 3 days)"), "{r}");
}

#[test]
fn without_a_clock_an_expiring_pattern_fails_closed() {
    let dir = TempDir::new("clock");
    let s = settings(&dir, "2099-01-01T00:00:00Z");
    let (r, stderr) = run(&s, Some("none"));
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("image vendor.example.com/agent:1.2 is not attested")),
        "{r}"
    );
    assert!(stderr.contains("no usable clock"), "{stderr}");
    // A clock before 2020 is no clock either.
    let (r, _) = run(&s, Some("1970-01-01T00:00:00Z"));
    assert_eq!(r["allowed"], false, "{r}");
}

#[test]
fn by_default_the_module_reads_the_host_clock() {
    let dir = TempDir::new("clock");
    // Far ahead: admitted without a warning; long past: expired, noted.
    let (r, stderr) = run(&settings(&dir, "2099-01-01T00:00:00Z"), None);
    assert_eq!(r["allowed"], true, "{r}");
    assert!(warnings(&r).is_empty(), "{r}");
    assert!(!stderr.contains("expired"), "{stderr}");
    let (r, stderr) = run(&settings(&dir, "2021-01-01T00:00:00Z"), None);
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        stderr.contains("expired at 2021-01-01T00:00:00Z: it matches nothing"),
        "{stderr}"
    );
    // Expiring tomorrow by the host's clock: in the warning window.
    let tomorrow = policy_harness::host::clock::format_rfc3339(
        WasiClock::Host.unix_seconds().expect("host clock") + 86_400 + 3_600,
    );
    let (r, _) = run(&settings(&dir, &tomorrow), None);
    assert!(warnings(&r)[0].contains("(in 1 day)"), "{r}");
}
