//! The run path through the library, with small WAT waPC guests.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{pod_review, Behavior, Guest, TempDir};
use policy_harness::host::admission::admission_request;
use policy_harness::host::cache::CacheMode;
use policy_harness::{
    evaluate, AdmissionResponse, Evaluation, HostCapabilities, HostEnvironment, Limits, Outcome,
    PolicyModule,
};
use serde_json::{json, Value};

fn load(guest: &Guest, limits: Limits) -> anyhow::Result<PolicyModule> {
    PolicyModule::from_bytes(&guest.wasm(), limits, &CacheMode::Disabled)
}

fn run_with(
    guest: &Guest,
    limits: Limits,
    caps: HostCapabilities,
    settings: Value,
) -> (anyhow::Result<Evaluation>, Arc<HostEnvironment>) {
    let policy = load(guest, limits).expect("module loads");
    let env = Arc::new(HostEnvironment::new(caps));
    let request = admission_request(pod_review("uid-1", "ghcr.io/org/app:1")).expect("request");
    (
        evaluate(&policy, Arc::clone(&env), &settings, &request),
        env,
    )
}

fn run(guest: &Guest) -> anyhow::Result<Evaluation> {
    run_with(
        guest,
        Limits::default(),
        HostCapabilities::none(),
        json!({}),
    )
    .0
}

fn response(guest: &Guest) -> AdmissionResponse {
    match run(guest).expect("evaluation succeeds").outcome {
        Outcome::Response(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn validate(behavior: Behavior) -> Guest {
    Guest {
        validate: behavior,
        ..Guest::default()
    }
}

#[test]
fn accepts_and_echoes_message() {
    let r = response(&validate(Behavior::respond(
        r#"{"accepted":true,"message":"hello"}"#,
    )));
    assert_eq!(
        serde_json::to_value(&r).expect("json"),
        json!({"uid": "uid-1", "allowed": true, "status": {"message": "hello"},
               "auditAnnotations": null, "warnings": null})
    );
}

#[test]
fn rejection_keeps_code_warnings_and_annotations() {
    let r = response(&validate(Behavior::respond(
        r#"{"accepted":false,"message":"denied","code":403,"warnings":["careful"],"audit_annotations":{"a/b":"c"}}"#,
    )));
    assert_eq!(
        serde_json::to_value(&r).expect("json"),
        json!({"uid": "uid-1", "allowed": false, "status": {"message": "denied", "code": 403},
               "warnings": ["careful"], "auditAnnotations": {"a/b": "c"}})
    );
}

#[test]
fn mutation_is_a_json_patch() {
    let mutated = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "ghcr.io/org/app@sha256:00"}]}});
    let r = response(&validate(Behavior::respond(
        json!({"accepted": true, "mutated_object": mutated}).to_string(),
    )));
    assert_eq!(r.patch_type.as_deref(), Some("JSONPatch"));
    assert_eq!(
        r.decoded_patch().expect("patch"),
        Some(
            json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "ghcr.io/org/app@sha256:00"}])
        )
    );
}

#[test]
fn invalid_settings_stop_before_validate() {
    let guest = Guest {
        validate_settings: Behavior::respond(
            r#"{"valid":false,"message":"trustedAuthorities is empty"}"#,
        ),
        validate: Behavior::Trap,
        ..Guest::default()
    };
    let evaluation = run(&guest).expect("evaluation succeeds");
    assert_eq!(evaluation.protocol_version, "v1");
    assert_eq!(
        evaluation.outcome,
        Outcome::SettingsInvalid {
            message: Some("trustedAuthorities is empty".to_owned())
        }
    );
}

#[test]
fn guest_error_in_validate_is_a_500_rejection() {
    let r = response(&validate(Behavior::GuestError(
        "cannot decode request".to_owned(),
    )));
    assert!(!r.allowed);
    assert_eq!(r.code(), Some(500));
    let message = r.message().expect("message");
    assert!(message.contains("cannot decode request"), "{message}");
}

#[test]
fn trap_in_validate_is_an_error() {
    let err = run(&validate(Behavior::Trap)).expect_err("trap must fail");
    let text = format!("{err:#}");
    assert!(text.contains("policy trapped during `validate`"), "{text}");
    assert!(text.contains("unreachable"), "{text}");
}

#[test]
fn proc_exit_is_an_error() {
    let err = run(&validate(Behavior::Exit(3))).expect_err("exit must fail");
    let text = format!("{err:#}");
    assert!(
        text.contains("exited during `validate`") && text.contains("exit status 3"),
        "{text}"
    );
}

#[test]
fn endless_validate_is_stopped_by_the_deadline() {
    let limits = Limits {
        timeout_ms: 300,
        ..Limits::default()
    };
    let start = Instant::now();
    let (result, _) = run_with(
        &validate(Behavior::Loop),
        limits,
        HostCapabilities::none(),
        json!({}),
    );
    let elapsed = start.elapsed();
    let text = format!("{:#}", result.expect_err("must be interrupted"));
    assert!(
        text.contains("policy evaluation exceeded the 300 ms deadline"),
        "{text}"
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(300), "took {elapsed:?}");
}

#[test]
fn endless_init_is_stopped_by_the_deadline() {
    let guest = Guest {
        init: Some(Behavior::Loop),
        ..Guest::default()
    };
    let limits = Limits {
        timeout_ms: 200,
        ..Limits::default()
    };
    let policy = load(&guest, limits).expect("module loads");
    let err = policy
        .instantiate(Arc::new(HostEnvironment::default()))
        .expect_err("init must be interrupted");
    let text = format!("{err:#}");
    assert!(
        text.contains("initialisation exceeded the 200 ms deadline"),
        "{text}"
    );
}

#[test]
fn missing_guest_call_export_is_an_error() {
    let guest = Guest {
        export_guest_call: false,
        ..Guest::default()
    };
    let policy = load(&guest, Limits::default()).expect("module compiles");
    let err = policy
        .instantiate(Arc::new(HostEnvironment::default()))
        .expect_err("no __guest_call");
    let text = format!("{err:#}");
    assert!(text.contains("__guest_call"), "{text}");
}

#[test]
fn invalid_wasm_is_an_error() {
    let err = PolicyModule::from_bytes(
        b"\0asm\x01\0\0\0garbage",
        Limits::default(),
        &CacheMode::Disabled,
    )
    .expect_err("garbage");
    assert!(format!("{err:#}").contains("cannot compile the WebAssembly module"));
}

#[test]
fn unknown_import_is_an_error() {
    let wat = r#"(module (import "env" "surprise" (func)) (memory (export "memory") 1)
                 (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 0)))"#;
    let err = PolicyModule::from_bytes(wat.as_bytes(), Limits::default(), &CacheMode::Disabled)
        .expect_err("unknown import");
    assert!(format!("{err:#}").contains("surprise"), "{err:#}");
}

#[test]
fn unsupported_protocol_version_is_an_error() {
    let guest = Guest {
        protocol_version: Behavior::respond(r#""v2""#),
        ..Guest::default()
    };
    let text = format!("{:#}", run(&guest).expect_err("v2"));
    assert!(
        text.contains("unsupported policy protocol version"),
        "{text}"
    );
}

#[test]
fn malformed_validation_response_is_an_error() {
    let text = format!(
        "{:#}",
        run(&validate(Behavior::respond("not json"))).expect_err("garbage answer")
    );
    assert!(
        text.contains("not a Kubewarden ValidationResponse"),
        "{text}"
    );
}

#[test]
fn host_call_is_served_from_fixtures_and_recorded() {
    let guest = validate(Behavior::host_call(
        "oci",
        "v1/manifest_digest",
        r#""ghcr.io/org/app:1""#,
    ));
    let caps = HostCapabilities::from_json_str(
        &json!([{"namespace": "oci", "operation": "v1/manifest_digest", "request": "ghcr.io/org/app:1",
                 "response": {"accepted": false, "message": "from the fixture"}}])
        .to_string(),
    )
    .expect("fixtures");
    let (result, env) = run_with(&guest, Limits::default(), caps, json!({}));
    let Outcome::Response(r) = result.expect("evaluation").outcome else {
        panic!("expected a response")
    };
    assert_eq!(r.message(), Some("from the fixture"));
    let calls = env.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].namespace, "oci");
    assert_eq!(calls[0].operation, "v1/manifest_digest");
    assert_eq!(calls[0].request, json!("ghcr.io/org/app:1"));
}

#[test]
fn unexpected_host_call_fails_without_guessing() {
    let guest = validate(Behavior::host_call(
        "oci",
        "v1/manifest_digest",
        r#""ghcr.io/org/other:2""#,
    ));
    let (result, env) = run_with(
        &guest,
        Limits::default(),
        HostCapabilities::none(),
        json!({}),
    );
    let Outcome::Response(r) = result.expect("evaluation").outcome else {
        panic!("expected a response")
    };
    // The guest turned the host error into a guest error: a 500 rejection.
    assert!(!r.allowed);
    assert_eq!(r.code(), Some(500));
    let message = r.message().expect("message");
    for needle in [
        "no matching fixture for host call",
        "kubewarden",
        "oci",
        "v1/manifest_digest",
        "ghcr.io/org/other:2",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }
    assert_eq!(env.calls().len(), 1);
}

#[test]
fn fixture_error_reaches_the_guest() {
    let guest = validate(Behavior::host_call(
        "oci",
        "v1/manifest_digest",
        r#""ghcr.io/org/app:1""#,
    ));
    let caps = HostCapabilities::from_json_str(
        r#"[{"namespace":"oci","operation":"v1/manifest_digest","request":"ghcr.io/org/app:1","error":"registry unreachable"}]"#,
    )
    .expect("fixtures");
    let (result, _) = run_with(&guest, Limits::default(), caps, json!({}));
    let Outcome::Response(r) = result.expect("evaluation").outcome else {
        panic!("expected a response")
    };
    assert!(r
        .message()
        .expect("message")
        .contains("registry unreachable"));
}

#[test]
fn validate_receives_request_and_settings() {
    let guest = validate(Behavior::ForwardToHost {
        namespace: "test".to_owned(),
        operation: "echo".to_owned(),
    });
    let settings = json!({"trustedAuthorities": [{"keyId": "k"}]});
    let request = admission_request(pod_review("uid-1", "ghcr.io/org/app:1")).expect("request");
    let caps = HostCapabilities::from_json_str(
        &json!([{"namespace": "test", "operation": "echo",
                 "request": {"request": request, "settings": settings},
                 "response": {"accepted": true}}])
        .to_string(),
    )
    .expect("fixtures");
    let (result, env) = run_with(&guest, Limits::default(), caps, settings.clone());
    let Outcome::Response(r) = result.expect("evaluation").outcome else {
        panic!("expected a response")
    };
    assert!(r.allowed, "{r:?} / {:?}", env.calls());
    assert_eq!(
        env.calls()[0].request,
        json!({"request": request, "settings": settings})
    );
}

#[test]
fn validate_settings_receives_the_settings() {
    let guest = Guest {
        validate_settings: Behavior::ForwardToHost {
            namespace: "test".to_owned(),
            operation: "settings".to_owned(),
        },
        ..Guest::default()
    };
    let settings = json!({"a": [1, 2]});
    let caps = HostCapabilities::from_json_str(
        &json!([{"namespace": "test", "operation": "settings", "request": settings,
                 "response": {"valid": false, "message": "seen"}}])
        .to_string(),
    )
    .expect("fixtures");
    let (result, _) = run_with(&guest, Limits::default(), caps, settings);
    assert_eq!(
        result.expect("evaluation").outcome,
        Outcome::SettingsInvalid {
            message: Some("seen".to_owned())
        }
    );
}

#[test]
fn memory_limit_is_enforced() {
    let limits = Limits {
        max_memory_mb: 4,
        ..Limits::default()
    };
    // 17 pages + 64 pages (4 MiB) is over 4 MiB: memory.grow fails, the guest traps.
    let greedy = validate(Behavior::GrowThenRespond(
        64,
        r#"{"accepted":true}"#.to_owned(),
    ));
    let (result, _) = run_with(&greedy, limits, HostCapabilities::none(), json!({}));
    let text = format!("{:#}", result.expect_err("grow must fail"));
    assert!(
        text.contains("trapped") && text.contains("4 MiB memory limit"),
        "{text}"
    );

    // Within the limit the same growth works.
    let modest = validate(Behavior::GrowThenRespond(
        16,
        r#"{"accepted":true}"#.to_owned(),
    ));
    let (result, _) = run_with(&modest, limits, HostCapabilities::none(), json!({}));
    assert!(result.is_ok(), "{result:?}");

    // A module whose initial memory is over the limit cannot be instantiated.
    let huge = Guest {
        pages: 128,
        ..Guest::default()
    };
    let policy = load(&huge, limits).expect("compiles");
    let err = policy
        .instantiate(Arc::new(HostEnvironment::default()))
        .expect_err("over the limit");
    assert!(format!("{err:#}").contains("cannot instantiate"), "{err:#}");
}

#[test]
fn compiled_modules_are_cached() {
    let dir = TempDir::new("cache");
    let mode = CacheMode::Dir(dir.path().join("c"));
    let wasm = validate(Behavior::respond(r#"{"accepted":true,"message":"cached"}"#)).wasm();
    let first = PolicyModule::from_bytes(&wasm, Limits::default(), &mode).expect("compile");
    drop(first);
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("c"))
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].to_string_lossy().ends_with(".cwasm"));

    // Loaded from the cache, it still works.
    let policy = PolicyModule::from_bytes(&wasm, Limits::default(), &mode).expect("from cache");
    let request = admission_request(pod_review("u", "i")).expect("request");
    let evaluation = evaluate(
        &policy,
        Arc::new(HostEnvironment::default()),
        &json!({}),
        &request,
    )
    .expect("eval");
    assert!(
        matches!(evaluation.outcome, Outcome::Response(ref r) if r.message() == Some("cached"))
    );

    // A corrupt entry is ignored and replaced.
    std::fs::write(&entries[0], b"corrupt").expect("corrupt the entry");
    let policy = PolicyModule::from_bytes(&wasm, Limits::default(), &mode).expect("recompiles");
    drop(policy);
    assert_ne!(std::fs::read(&entries[0]).expect("entry"), b"corrupt");

    // Different engine settings (no epoch interruption) use another entry.
    let no_deadline = Limits {
        timeout_ms: 0,
        ..Limits::default()
    };
    PolicyModule::from_bytes(&wasm, no_deadline, &mode).expect("compile");
    assert_eq!(
        std::fs::read_dir(dir.path().join("c"))
            .expect("cache dir")
            .count(),
        2
    );
}

#[test]
fn one_policy_serves_many_evaluations() {
    let policy = load(
        &validate(Behavior::respond(r#"{"accepted":true}"#)),
        Limits::default(),
    )
    .expect("load");
    for i in 0..20 {
        let request = admission_request(pod_review(&format!("u{i}"), "i")).expect("request");
        let evaluation = evaluate(
            &policy,
            Arc::new(HostEnvironment::default()),
            &json!({}),
            &request,
        )
        .expect("evaluation");
        match evaluation.outcome {
            Outcome::Response(r) => assert_eq!(r.uid, format!("u{i}")),
            other => panic!("{other:?}"),
        }
    }
}
