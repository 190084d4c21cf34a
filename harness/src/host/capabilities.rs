//! Host capabilities served to the guest through waPC `__host_call`.
//!
//! Answers come only from a fixture file (see `README.md`): an entry matches
//! when binding, namespace and operation are equal and the call's payload,
//! parsed as JSON, equals the entry's `request`. Any other call gets a host
//! error naming binding/namespace/operation/payload; nothing is ever guessed.
//!
//! One call is served natively: the Kubewarden SDK's logging drain sends
//! `kubewarden`/`tracing`/`log`, which policy-server forwards to its own log.
//! Here it is answered with an empty success, kept in [`HostEnvironment::guest_logs`],
//! and *not* counted as a host call.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The waPC binding of every Kubewarden host capability.
pub const KUBEWARDEN_BINDING: &str = "kubewarden";

type HostCallResult = std::result::Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;

fn default_binding() -> String {
    KUBEWARDEN_BINDING.to_owned()
}

/// Deserializes a field that is present into `Some`, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// One entry of a host-capabilities fixture file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// waPC binding; always `kubewarden` for Kubewarden capabilities.
    #[serde(default = "default_binding")]
    pub binding: String,
    /// e.g. `oci`.
    pub namespace: String,
    /// e.g. `v1/manifest_digest`.
    pub operation: String,
    /// The expected payload, as JSON.
    pub request: Value,
    /// The answer, serialized as the host-call result bytes.
    #[serde(default, deserialize_with = "present")]
    pub response: Option<Value>,
    /// Instead of `response`: make the host call fail with this message.
    #[serde(default)]
    pub error: Option<String>,
}

/// What a fixture answers.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Response(Vec<u8>),
    Error(String),
}

/// The parsed fixture file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostCapabilities {
    fixtures: Vec<(Fixture, Answer)>,
}

impl HostCapabilities {
    /// No capability at all: every host call fails.
    pub fn none() -> Self {
        Self::default()
    }

    /// Loads a fixture file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read host capabilities file {}", path.display()))?;
        Self::from_json_str(&text)
            .with_context(|| format!("invalid host capabilities file {}", path.display()))
    }

    /// Parses the fixture list from JSON text.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let entries: Vec<Fixture> =
            serde_json::from_str(text).context("expected a JSON list of host-call fixtures")?;
        Self::from_fixtures(entries)
    }

    /// Builds from already parsed fixtures, checking them.
    pub fn from_fixtures(entries: Vec<Fixture>) -> Result<Self> {
        let mut fixtures: Vec<(Fixture, Answer)> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            let answer = match (&entry.response, &entry.error) {
                (Some(response), None) => Answer::Response(
                    serde_json::to_vec(response).context("cannot serialize a fixture response")?,
                ),
                (None, Some(error)) => Answer::Error(error.clone()),
                (Some(_), Some(_)) => bail!(
                    "fixture #{index} ({}/{}/{}) has both `response` and `error`",
                    entry.binding,
                    entry.namespace,
                    entry.operation
                ),
                (None, None) => bail!(
                    "fixture #{index} ({}/{}/{}) needs either `response` or `error`",
                    entry.binding,
                    entry.namespace,
                    entry.operation
                ),
            };
            if let Some((_, _)) = fixtures.iter().find(|(other, _)| {
                other.binding == entry.binding
                    && other.namespace == entry.namespace
                    && other.operation == entry.operation
                    && other.request == entry.request
            }) {
                bail!(
                    "fixture #{index} duplicates an earlier fixture for {}/{}/{} with request {}",
                    entry.binding,
                    entry.namespace,
                    entry.operation,
                    entry.request
                );
            }
            fixtures.push((entry, answer));
        }
        Ok(Self { fixtures })
    }

    /// Number of fixtures.
    pub fn len(&self) -> usize {
        self.fixtures.len()
    }

    /// `true` when there is no fixture.
    pub fn is_empty(&self) -> bool {
        self.fixtures.is_empty()
    }

    fn lookup(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Option<&Answer> {
        let request: Value = serde_json::from_slice(payload).ok()?;
        self.fixtures
            .iter()
            .find(|(f, _)| {
                f.binding == binding
                    && f.namespace == namespace
                    && f.operation == operation
                    && f.request == request
            })
            .map(|(_, answer)| answer)
    }
}

/// What a [`LiveCapabilities`] answers: the host-call result bytes, or the
/// host error's message.
pub type LiveAnswer = std::result::Result<Vec<u8>, String>;

/// Answers, live, host calls that no fixture matched (`run --allow-network`:
/// `oci`/`v1/manifest_digest` from the registry). Fixtures always win.
pub trait LiveCapabilities: fmt::Debug + Send + Sync {
    /// `None` when this call is not served live (it stays unexpected).
    fn call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Option<LiveAnswer>;
}

/// How a recorded host call was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HostCallOutcome {
    /// A fixture's `response`.
    Response,
    /// A fixture's `error`.
    FixtureError,
    /// Answered live (no fixture matched; `--allow-network`).
    Live,
    /// Failed live (no fixture matched; `--allow-network`).
    LiveError,
    /// No fixture matched: a host error was returned.
    Unexpected,
}

/// One host call made by the guest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostCall {
    /// waPC binding.
    pub binding: String,
    /// Capability namespace.
    pub namespace: String,
    /// Capability operation.
    pub operation: String,
    /// Payload as JSON, or as a string when it is not JSON.
    pub request: Value,
    /// How it was answered.
    pub outcome: HostCallOutcome,
    /// What the guest was given: the result bytes or the host error's
    /// message; `None` for an unexpected call (no answer existed). Kept
    /// for `--record-host-capabilities-interactions`.
    #[serde(skip)]
    pub answer: Option<LiveAnswer>,
}

impl fmt::Display for HostCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            HostCallOutcome::Response => "response",
            HostCallOutcome::FixtureError => "fixture error",
            HostCallOutcome::Live => "live response",
            HostCallOutcome::LiveError => "live error (host error)",
            HostCallOutcome::Unexpected => "UNEXPECTED (host error)",
        };
        write!(
            f,
            "{}/{}/{} request={} -> {outcome}",
            self.binding, self.namespace, self.operation, self.request
        )
    }
}

/// Fixtures plus the record of the calls served to one evaluation.
#[derive(Debug, Default)]
pub struct HostEnvironment {
    capabilities: HostCapabilities,
    calls: Mutex<Vec<HostCall>>,
    logs: Mutex<Vec<Value>>,
    live: Option<Arc<dyn LiveCapabilities>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: keep using it.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// At most 120 characters of a payload, for messages.
fn preview(payload: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(payload);
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// `true` for the calls `--allow-network` answers from the registry.
fn is_registry_call(binding: &str, namespace: &str, operation: &str) -> bool {
    binding == KUBEWARDEN_BINDING
        && namespace == "oci"
        && matches!(
            operation,
            "v1/manifest_digest" | "v1/oci_manifest" | "v2/verify"
        )
}

/// The short hint inside the host error (the guest quotes host errors cut
/// to about 200 characters, so it stays short; [`unanswered_hint`] is the
/// long form the harness prints itself).
fn short_hint(binding: &str, namespace: &str, operation: &str, live: bool) -> &'static str {
    if is_registry_call(binding, namespace, operation) && !live {
        "use --allow-network, a recorded session or a fixture"
    } else {
        "add a fixture"
    }
}

/// For a call that had no answer (no fixture, nothing live), how to give
/// it one: the registry (`--allow-network`), a recorded session, or a
/// fixture of the harness's format, whose shape is spelled out with this
/// call's own fields. `None` for a call that was answered.
#[must_use]
pub fn unanswered_hint(call: &HostCall, live: bool) -> Option<String> {
    if call.outcome != HostCallOutcome::Unexpected {
        return None;
    }
    let fixture = format!(
        "a fixture (hostCapabilities of the suite or case, or --host-capabilities FILE): \
         [{{\"namespace\": \"{}\", \"operation\": \"{}\", \"request\": {}, \
         \"response\": <the answer as JSON>}}] (or \"error\": \"<message>\" instead of \
         \"response\")",
        call.namespace, call.operation, call.request
    );
    Some(
        if is_registry_call(&call.binding, &call.namespace, &call.operation) && !live {
            format!(
                "no answer for host call {}/{}/{}: give --allow-network to ask the registry; \
                 or record the registry's answers once with `policy-harness run --allow-network \
                 --record-host-capabilities-interactions FILE` (kwctl's session format, which \
                 `kwctl run --record-host-capabilities-interactions` writes too) and replay \
                 them with --replay-host-capabilities-interactions FILE or a suite's \
                 hostCapabilities: FILE; or write {fixture}",
                call.binding, call.namespace, call.operation
            )
        } else {
            format!(
                "no answer for host call {}/{}/{}: write {fixture}",
                call.binding, call.namespace, call.operation
            )
        },
    )
}

fn payload_as_json(payload: &[u8]) -> Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
}

impl HostEnvironment {
    /// A fresh environment (no call recorded yet) serving `capabilities`.
    pub fn new(capabilities: HostCapabilities) -> Self {
        Self {
            capabilities,
            calls: Mutex::new(Vec::new()),
            logs: Mutex::new(Vec::new()),
            live: None,
        }
    }

    /// Also answers, through `live`, the calls no fixture matches.
    pub fn with_live(mut self, live: Arc<dyn LiveCapabilities>) -> Self {
        self.live = Some(live);
        self
    }

    /// What answers the calls no fixture matches, to chain another in
    /// front of it (the cluster's Kubernetes calls before the registry's).
    pub fn live(&self) -> Option<Arc<dyn LiveCapabilities>> {
        self.live.clone()
    }

    /// The waPC host callback.
    pub fn host_call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> HostCallResult {
        if binding == KUBEWARDEN_BINDING && namespace == "tracing" && operation == "log" {
            lock(&self.logs).push(payload_as_json(payload));
            return Ok(Vec::new());
        }
        let answer = self
            .capabilities
            .lookup(binding, namespace, operation, payload)
            .cloned();
        let live = match (&answer, &self.live) {
            (None, Some(live)) => live.call(binding, namespace, operation, payload),
            _ => None,
        };
        let outcome = match (&answer, &live) {
            (Some(Answer::Response(_)), _) => HostCallOutcome::Response,
            (Some(Answer::Error(_)), _) => HostCallOutcome::FixtureError,
            (None, Some(Ok(_))) => HostCallOutcome::Live,
            (None, Some(Err(_))) => HostCallOutcome::LiveError,
            (None, None) => HostCallOutcome::Unexpected,
        };
        let given: Option<LiveAnswer> = match (answer, live) {
            (Some(Answer::Response(bytes)), _) => Some(Ok(bytes)),
            (Some(Answer::Error(message)), _) => Some(Err(message)),
            (None, Some(result)) => Some(result),
            (None, None) => None,
        };
        lock(&self.calls).push(HostCall {
            binding: binding.to_owned(),
            namespace: namespace.to_owned(),
            operation: operation.to_owned(),
            request: payload_as_json(payload),
            outcome,
            answer: given.clone(),
        });
        match given {
            Some(result) => result.map_err(Into::into),
            // The hint comes first and the payload (user-controlled, and cut)
            // last: policies quote host errors cut to a few hundred
            // characters, and the hint must survive that.
            None => Err(format!(
                "policy-harness: no matching fixture for host call {binding}/{namespace}/{operation} \
                 ({}) payload={}",
                short_hint(binding, namespace, operation, self.live.is_some()),
                preview(payload)
            )
            .into()),
        }
    }

    /// `true` when calls no fixture matches are answered live.
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// [`unanswered_hint`] of every unanswered call so far.
    pub fn unanswered_hints(&self) -> Vec<String> {
        let live = self.is_live();
        self.calls()
            .iter()
            .filter_map(|c| unanswered_hint(c, live))
            .collect()
    }

    /// Every host call made so far (guest log events excluded).
    pub fn calls(&self) -> Vec<HostCall> {
        lock(&self.calls).clone()
    }

    /// Log events sent by the guest through `kubewarden`/`tracing`/`log`.
    pub fn guest_logs(&self) -> Vec<Value> {
        lock(&self.logs).clone()
    }

    /// Human-readable trace: each call, then counts by namespace/operation/request.
    pub fn trace(&self) -> String {
        let calls = self.calls();
        let mut out = format!("policy-harness: {} host call(s)\n", calls.len());
        for (i, call) in calls.iter().enumerate() {
            out.push_str(&format!("  #{}: {call}\n", i + 1));
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for call in &calls {
            let key = format!(
                "{}/{}/{} request={}",
                call.binding, call.namespace, call.operation, call.request
            );
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        if !counts.is_empty() {
            out.push_str("policy-harness: host calls by namespace/operation/request\n");
            for (key, n) in counts {
                out.push_str(&format!("  {n} x {key}\n"));
            }
        }
        for event in self.guest_logs() {
            out.push_str(&format!("policy-harness: guest log: {event}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caps() -> HostCapabilities {
        HostCapabilities::from_json_str(
            &json!([
                {"namespace": "oci", "operation": "v1/manifest_digest",
                 "request": "ghcr.io/a/b:1", "response": {"digest": "sha256:00"}},
                {"namespace": "oci", "operation": "v1/manifest_digest",
                 "request": "ghcr.io/a/b:2", "error": "registry down"},
                {"namespace": "oci", "operation": "v1/oci_manifest",
                 "request": "x", "response": null}
            ])
            .to_string(),
        )
        .expect("valid fixtures")
    }

    #[test]
    fn matches_by_parsed_json_payload() {
        let env = HostEnvironment::new(caps());
        let ok = env
            .host_call(
                "kubewarden",
                "oci",
                "v1/manifest_digest",
                br#" "ghcr.io/a/b:1" "#,
            )
            .expect("fixture answer");
        assert_eq!(ok, br#"{"digest":"sha256:00"}"#);
        let null = env
            .host_call("kubewarden", "oci", "v1/oci_manifest", br#""x""#)
            .expect("null response is a response");
        assert_eq!(null, b"null");
        let err = env
            .host_call(
                "kubewarden",
                "oci",
                "v1/manifest_digest",
                br#""ghcr.io/a/b:2""#,
            )
            .expect_err("fixture error");
        assert_eq!(err.to_string(), "registry down");
        assert_eq!(env.calls().len(), 3);
    }

    #[test]
    fn unexpected_calls_fail_and_are_recorded() {
        let env = HostEnvironment::new(caps());
        for (binding, ns, op, payload) in [
            (
                "kubewarden",
                "oci",
                "v1/manifest_digest",
                &br#""ghcr.io/a/b:3""#[..],
            ),
            (
                "other",
                "oci",
                "v1/manifest_digest",
                &br#""ghcr.io/a/b:1""#[..],
            ),
            (
                "kubewarden",
                "net",
                "v1/dns_lookup_host",
                &br#""example.com""#[..],
            ),
            ("kubewarden", "oci", "v1/manifest_digest", &b"not json"[..]),
        ] {
            let err = env
                .host_call(binding, ns, op, payload)
                .expect_err("no fixture");
            let msg = err.to_string();
            assert!(
                msg.contains(binding) && msg.contains(ns) && msg.contains(op),
                "{msg}"
            );
        }
        let calls = env.calls();
        assert_eq!(calls.len(), 4);
        assert!(calls
            .iter()
            .all(|c| c.outcome == HostCallOutcome::Unexpected));
        assert_eq!(calls[3].request, json!("not json"));
        assert!(env.trace().contains("4 host call(s)"));
    }

    #[test]
    fn logs_are_served_but_not_counted() {
        let env = HostEnvironment::new(HostCapabilities::none());
        let out = env
            .host_call("kubewarden", "tracing", "log", br#"{"msg":"hi"}"#)
            .expect("logging always works");
        assert!(out.is_empty());
        assert!(env.calls().is_empty());
        assert_eq!(env.guest_logs(), vec![json!({"msg": "hi"})]);
    }

    #[test]
    fn rejects_bad_fixture_files() {
        for bad in [
            json!({"namespace": "oci"}),
            json!([{"namespace": "oci", "operation": "x", "request": 1}]),
            json!([{"namespace": "oci", "operation": "x", "request": 1, "response": 1, "error": "e"}]),
            json!([{"namespace": "oci", "operation": "x", "request": 1, "response": 1, "extra": 1}]),
            json!([
                {"namespace": "oci", "operation": "x", "request": 1, "response": 1},
                {"namespace": "oci", "operation": "x", "request": 1, "response": 2}
            ]),
        ] {
            assert!(
                HostCapabilities::from_json_str(&bad.to_string()).is_err(),
                "{bad}"
            );
        }
    }
}
