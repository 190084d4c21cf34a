//! The prose sections: the 3 MiB worst case, where the time goes, and the
//! method.

use std::fmt::{self, Write as _};

use super::Report;
use crate::runner::{Measurements, Row};
use crate::scenarios::{Scheme, EXTRA_SIGNATURES};
use crate::stats::{fmt_ratio, fmt_time, MIN_SAMPLES};

impl Report {
    /// The 3 MiB candidates (issue 25): what each costs and on what.
    pub(super) fn worst_case(&self, w: &mut String) -> fmt::Result {
        let m = &self.measurements;
        let rows: Vec<&Row> = m.rows.iter().filter(|r| r.id.starts_with('w')).collect();
        if rows.is_empty() {
            return Ok(());
        }
        writeln!(w, "## The 3 MiB worst case\n")?;
        writeln!(
            w,
            "Candidates for the costliest request the API server lets through (3 MiB, \
             annotations ≤ 256 KiB), each on a fresh instance. Verification time is the \
             count of verifications the policy ran (natively, same decisions) × one \
             verification of the candidate's scheme (slope rows); the rest is reading and \
             judging. The floor is the payload only tokenised, natively.\n"
        )?;
        writeln!(w, "| # | payload | fresh median | native | verifications | × one verify | rest (warm − verifications) | host calls | tokenise floor (native) |")?;
        writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        let mut worst: Option<(&Row, f64)> = None;
        for r in &rows {
            let fresh = r.fresh.map_or(r.warm.median, |f| f.median);
            if worst.is_none_or(|(_, t)| fresh > t) {
                worst = Some((r, fresh));
            }
            let n = r.work.map_or(0, |k| k.verifications);
            let one = r.verify_scheme.and_then(|s| m.slope(s)).map(|s| s.0);
            let ver = one.map(|o| o * f64::from(n));
            writeln!(
                w,
                "| {} | {:.0} KiB | {} | {} | {n} | {} | {} | {} | {} |",
                r.id,
                r.payload_len as f64 / 1024.0,
                fmt_time(fresh),
                fmt_time(r.native.median),
                ver.map_or_else(|| "-".to_owned(), fmt_time),
                fmt_time(r.warm.median - ver.unwrap_or(0.0)),
                r.host_calls,
                fmt_time(r.tokenise.median)
            )?;
        }
        if let Some((r, t)) = worst {
            writeln!(w, "\nWorst: **{}** ({}), {}.\n", r.id, r.title, fmt_time(t))?;
        }
        for l in worst_case_lines(m) {
            writeln!(w, "* {l}")?;
        }
        writeln!(w)
    }

    /// Differences between scenarios that say where the time goes.
    pub(super) fn breakdown(&self, w: &mut String) -> fmt::Result {
        let lines = breakdown_lines(&self.measurements);
        if lines.is_empty() {
            return Ok(());
        }
        writeln!(w, "## Where the time goes (medians)\n")?;
        for l in lines {
            writeln!(w, "* {l}")?;
        }
        writeln!(w)
    }

    pub(super) fn method(&self, w: &mut String) -> fmt::Result {
        writeln!(w, "## Method\n")?;
        writeln!(
            w,
            "* Scenarios are generated in-process: TEST-ONLY keys of `testdata/keys/` \
             (`rsa2048`, `rsa2048b`, `rsa4096`, `p256`, `p384`), simple-signing payloads and \
             signatures made by `policy-harness`'s signer (`rsa` PKCS#1 v1.5, `p256` and \
             `p384` ECDSA), \
             requests shaped like the API server's (`testkit::objects`: defaulted container \
             fields, userInfo…). Before timing, each scenario's settings pass \
             `validate_settings`, and the module's answer is checked: the expected verdict, \
             byte-for-byte equal to the native answer."
        )?;
        writeln!(
            w,
            "* Scenario 5 reuses the two RSA-2048 keys alternately under 100 distinct key ids \
             (the policy decodes only the key a signature names); scenario 6's object carries an \
             attestation for another image."
        )?;
        writeln!(
            w,
            "* Scenario 9 is the golden case `keyless-subject-verified` (settings, request and \
             host fixtures as the golden cases' generator writes them in the SDK's wire \
             shapes: `oci`/`v2/verify` `SigstoreKeylessVerify` answered trusted, then \
             `oci`/`v1/oci_manifest` of `REPO:sha256-<hex>.sig` with one honest certificate \
             layer, which the policy checks itself: a P-256 verification and the Rekor \
             bundle); w4 serves that layer 32 times. The native column answers from the same \
             fixtures. *Host calls replayed alone*: the calls one `validate` made, sent again \
             to the harness's host without the module (fixture lookup and recording), so that \
             the policy's own work on a host path is the warm time minus that."
        )?;
        writeln!(
            w,
            "* The 3 MiB candidates fill the AdmissionRequest up to 3 MiB (3,145,728 bytes) \
             with the smallest containers the API server stores (name, image, \
             `imagePullPolicy`, `resources`, termination fields), each a distinct repository \
             and digest, and the attestation annotation up to 255 KiB: w0 none, w1 an \
             allowlist of 100 patterns none matches, w2 attestations naming the Pod's digests \
             with genuine RSA-4096 signatures over another payload (each check a full \
             verification that fails; the policy stops after 16), w3 valid P-256 \
             attestations (the policy stops when its verification budget, the cost of 64 RSA-2048 checks, is spent: 32 P-256 checks), w5 valid P-384 attestations, one more than the budget holds at P-384's weight (`VerifyingKey::cost`, read from the policy), and a 3 MiB Pod; w4 is the keyless path's maximum (below)."
        )?;
        writeln!(
            w,
            "* **Policy-server path** (`bench/src/server.rs`): the engine as policy-server 1.31 \
             builds it (`wasmtime::Config::new()` + epoch interruption, its defaults \
             otherwise: backtraces on, no memory limit, no WASI parameters), an `InstancePre` \
             built once as policy-evaluator 0.30.4's `StackPre::new`, and for each request \
             `rehydrate` + `WapcHost::new` (`_start`, `wapc_init`) + `validate` + drop, as its \
             `WapcStack::new_from_pre`; the JSON policy-evaluator writes around the call is \
             the server's and not timed. Its whole admission is run {} times; the target \
             takes the median of the runs' medians. It runs first, before any scenario: \
             measured after the 3 MiB candidates, the same instances cost half as much again \
             (fixed part 56 → 75 µs, admission 204 → 322 µs on 2026-12-06), the bench \
             process's allocator history rather than the policy.",
            crate::server::ADMISSION_RUNS
        )?;
        writeln!(
            w,
            "* **Retired instructions** (`bench/src/counts.rs`): this binary again under \
             `valgrind --tool=callgrind --toggle-collect=*counted_region*`, with everything \
             prepared outside the counted function and the measured work repeated inside it \
             (20 warm calls of a `sig-*-1` scenario, 3 of a `sig-*-k` one, 20 fixed parts, 10 \
             whole admissions); OpenSSL's is `EVP_PKEY_verify`'s inclusive count over its \
             calls in `openssl speed -seconds 1` under callgrind. Counts are user-space \
             instructions: the kernel's share (mapping and unmapping a linear memory, page \
             faults) is not in them, which is why the fixed part weighs more in time than in \
             instructions."
        )?;
        slope_method(w)?;
        writeln!(
            w,
            "* Percentiles: median, and p99 by nearest rank (with n < 100 it is the maximum). \
             Each measurement runs 3 untimed warm-up calls, then up to n samples, stopping after \
             {} ms once {MIN_SAMPLES} samples are taken.",
            self.budget_ms
        )?;
        writeln!(
            w,
            "* Host build: `bench/` is built in its `bench-release` profile (release, \
             opt-level 3, no LTO), as policy-server is built for release: instantiation (the \
             provider clones its `Linker` for every instance, builds a WASI context, maps \
             memory), the waPC calls and the guest's `memory.copy`/`memory.fill` (host libcalls \
             in wasmtime) run optimised host code, and the native column is the policy crate \
             optimised. The guest's own instructions run at the speed Cranelift gives them \
             whatever the host's profile; the compile time is measured with a release-built \
             Cranelift, as policy-server pays it."
        )?;
        self.openssl_lines(w)
    }
}

/// The per-signature method bullet.
fn slope_method(w: &mut String) -> fmt::Result {
    writeln!(
        w,
        "* **Per-signature cost**: one image whose attestation carries 1 signature (rows \
         `sig-*-1`) or {k1} signatures (`sig-*-k`), all naming the authority's key: the first \
         {EXTRA_SIGNATURES} are genuine signatures by that key over another image's payload, \
         so each costs a complete verification that fails, and only the last verifies. The \
         authority is pinned to one scheme (`RSA_PKCS1_SHA_256` / `ECDSA_SHA_256`) so a \
         failed RSA check does not retry PSS. Cost of one verification = (median(k) − \
         median(1)) / {EXTRA_SIGNATURES}, on a warm instance (and natively). The \
         difference also carries the base64 decoding of {EXTRA_SIGNATURES} signatures, \
         which is negligible next to a public-key operation. This is the \"bare signature \
         check\" scenario 1 is compared with; OpenSSL's is 1 / (verify/s) of `openssl speed`, \
         same machine, same run.",
        k1 = EXTRA_SIGNATURES + 1
    )
}

/// What the candidates' differences say (warm medians).
fn worst_case_lines(m: &Measurements) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(w0) = m.row("w0").filter(|r| r.images > 0) {
        lines.push(format!(
            "w0: {} per image named ({} distinct images, of which the policy judges at most \
             its limit and counts the rest; natively {}), against a tokenising floor of {} \
             for the whole payload: the cost follows the containers read and the images \
             collected and de-duplicated, more than the bytes.",
            fmt_time(w0.warm.median / w0.images as f64),
            w0.images,
            fmt_time(w0.native.median / w0.images as f64),
            fmt_time(w0.tokenise.median)
        ));
        if let Some(w1) = m.row("w1") {
            lines.push(format!(
                "w1 − w0 = {}: what an allowlist of 100 patterns none matches adds (warm).",
                fmt_time(w1.warm.median - w0.warm.median)
            ));
        }
    }
    if let (Some(w4), Some((p256, _))) = (m.row("w4"), m.slope(Scheme::P256)) {
        let layers = f64::from(w4.work.map_or(0, |k| k.verifications).max(1));
        lines.push(format!(
            "w4: {} per certificate layer, of which one P-256 verification {} and {} the \
             manifest, certificate and bundle.",
            fmt_time(w4.warm.median / layers),
            fmt_time(p256),
            fmt_time(w4.warm.median / layers - p256)
        ));
    }
    if let (Some(r), Some(f)) = (m.row("w2"), m.row("w2").and_then(|r| r.fresh)) {
        lines.push(format!(
            "Fresh − warm for w2 = {}: a fresh instance grows its linear memory to hold the \
             3 MiB payload and what is parsed from it (page faults on first touch).",
            fmt_time(f.median - r.warm.median)
        ));
    }
    lines
}

/// The "where the time goes" bullets that the run's scenarios allow.
fn breakdown_lines(m: &Measurements) -> Vec<String> {
    let mut lines = Vec::new();
    if let (Some(s1), Some(w1)) = (m.fresh("1"), m.warm("1")) {
        let inst = m.instantiate.median;
        lines.push(format!(
            "Fresh instance, fixed cost: instantiate + drop = {} = {:.0}% of scenario 1 \
             fresh ({}); scenario 1 fresh − warm = {} (instantiation, plus the first \
             touches of a new linear memory).",
            fmt_time(inst),
            100.0 * inst / s1,
            fmt_time(s1),
            fmt_time(s1 - w1)
        ));
        if let Some((rsa, _)) = m.slope(Scheme::Rsa2048) {
            lines.push(format!(
                "Scenario 1 warm − one RSA-2048 verification = {} ({:.0}% of the warm \
                 call): reading the request and settings, the annotation, base64, SHA-256, \
                 decoding the key (PEM, DER) and putting the signature into Montgomery \
                 form (a shift and a reduction, `modexp::Modulus::shift_mod`).",
                fmt_time(w1 - rsa),
                100.0 * (w1 - rsa) / w1
            ));
        }
        if let Some(w5) = m.warm("5") {
            lines.push(format!(
                "Scenario 5 − scenario 1 (warm) = {}: 99 more authorities ({} each).",
                fmt_time(w5 - w1),
                fmt_time((w5 - w1) / 99.0)
            ));
        }
        if let Some(w4) = m.warm("4") {
            lines.push(format!(
                "Scenario 4 − scenario 1 (warm) = {}: {} per additional attested image.",
                fmt_time(w4 - w1),
                fmt_time((w4 - w1) / (crate::scenarios::MANY_IMAGES - 1) as f64)
            ));
        }
    }
    for (id, scheme) in [("8", None), ("9", Some(Scheme::P256))] {
        let Some(r) = m.row(id) else { continue };
        let replay = r.host_replay.map_or(0.0, |s| s.median);
        let verify = scheme.and_then(|s| m.slope(s)).map_or(0.0, |s| s.0);
        lines.push(format!(
            "Scenario {id} warm = {}: its {} host call(s) replayed alone on the harness's host {}, \
             {}own work {}.",
            fmt_time(r.warm.median),
            r.host_calls,
            fmt_time(replay),
            if scheme.is_some() {
                format!("one P-256 verification (the certificate layer) {}, ", fmt_time(verify))
            } else {
                String::new()
            },
            fmt_time(r.warm.median - replay - verify)
        ));
    }
    if let (Some(server), Some(one)) = (&m.server, m.warm("1")) {
        let f = &server.fixed;
        if let Some(adm) = server.admission_median() {
            lines.push(format!(
                "Policy-server path, scenario 1: whole admission {} = fixed part {} \
                 (rehydrate {}, `_start` + `wapc_init` {}, drop {}) + the call; the harness's \
                 warm call is {}.",
                fmt_time(adm),
                fmt_time(f.whole.median),
                fmt_time(f.rehydrate.median),
                fmt_time(f.init.median),
                fmt_time(f.drop.median),
                fmt_time(one)
            ));
        }
    }
    if let (Some(a), Some(b)) = (m.warm("3a"), m.warm("3b")) {
        lines.push(format!(
            "Scenario 3a − 3b (warm) = {}: {} per additional allowlist pattern.",
            fmt_time(a - b),
            fmt_time((a - b) / 9999.0)
        ));
    }
    if let (Some(a), Some(b)) = (m.row("3a"), m.row("3b")) {
        let floor = a.tokenise.median;
        lines.push(format!(
            "Scenario 3a's floor: its {:.0} KiB payload only tokenised, natively \
             (`serde_json` skipping every value), takes {} = {} scenario 3b's whole \
             native call ({}): no reader of these bytes brings 3a within 5× of 3b. \
             The policy's native 3a is {} that floor, the module's warm 3a {}.",
            a.payload_len as f64 / 1024.0,
            fmt_time(floor),
            fmt_ratio(floor / b.native.median),
            fmt_time(b.native.median),
            fmt_ratio(a.native.median / floor),
            fmt_ratio(a.warm.median / floor),
        ));
    }
    lines
}
