//! The results as Markdown (`bench/results.md`): how to reproduce, the
//! machine, the results table, the targets, where the time goes, and the
//! method.

use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use policy_harness::host::runtime::Limits;

use crate::machine::{openssl_algorithm, Machine};
use crate::runner::{Measurements, Row};
use crate::scenarios::{Scheme, EXTRA_SIGNATURES};
use crate::stats::{fmt_ratio, fmt_time, MIN_SAMPLES};
use crate::{history, targets};

/// Everything the report says.
#[derive(Debug, Clone)]
pub struct Report {
    /// The module measured.
    pub module: PathBuf,
    /// The timings.
    pub measurements: Measurements,
    /// The machine and tools.
    pub machine: Machine,
    /// The limits the module ran under.
    pub limits: Limits,
    /// 1-minute load average when the run started.
    pub load_average: String,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// `--budget-ms`.
    pub budget_ms: u64,
    /// The targets of the latest run of an earlier day ([`history`]).
    pub earlier: Option<String>,
}

impl Report {
    /// The whole report.
    ///
    /// # Errors
    ///
    /// Never in practice: writing to a `String` does not fail.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut w = String::new();
        header(&mut w)?;
        self.machine_table(&mut w)?;
        self.results_table(&mut w)?;
        self.targets(&mut w)?;
        self.instructions(&mut w)?;
        self.worst_case(&mut w)?;
        if let Some(body) = &self.earlier {
            writeln!(w, "{}\n\n{body}\n", history::HEADING)?;
        }
        self.breakdown(&mut w)?;
        self.method(&mut w)?;
        Ok(w)
    }

    fn machine_table(&self, w: &mut String) -> fmt::Result {
        let m = &self.machine;
        writeln!(w, "## Machine and build\n")?;
        writeln!(w, "| | |\n|---|---|")?;
        writeln!(w, "| date | {} |", m.date)?;
        writeln!(w, "| CPU | {} |", m.cpu)?;
        writeln!(w, "| `nproc` | {} |", m.nproc)?;
        writeln!(
            w,
            "| load average (1 min) at start | {} |",
            self.load_average
        )?;
        writeln!(w, "| rustc | {} |", m.rustc)?;
        writeln!(w, "| kernel | {} |", m.kernel)?;
        writeln!(
            w,
            "| host | `kritis-bench` on policy-harness's host (wapc 2.2, wasmtime-provider 2.25.0, \
             wasmtime 48), built in the `bench-release` profile (release, no LTO); engine as \
             `policy-harness run`: Cranelift `OptLevel::Speed`, wasmtime's default features \
             (SIMD on), epoch interruption on ({} ms deadline), {} MiB memory limit, on-demand \
             instance allocator; a fresh instance is `WasmtimeEngineProviderPre::rehydrate` + \
             `WapcHost::new`, what policy-evaluator does for each request; the policy-server \
             path uses policy-server's own engine configuration (see Method) |",
            self.limits.timeout_ms, self.limits.max_memory_mb
        )?;
        writeln!(
            w,
            "| module | `{}`, {} bytes; wasm features (rustc's for wasm32-wasip1, no `simd128`): {} |",
            self.module.display(),
            self.measurements.module_size,
            m.wasm_features
        )?;
        writeln!(w, "| OpenSSL | {} |", m.openssl)?;
        writeln!(w, "| run time | {:.0} s |\n", self.elapsed.as_secs_f64())
    }

    fn results_table(&self, w: &mut String) -> fmt::Result {
        writeln!(w, "## Results\n")?;
        writeln!(
            w,
            "Time of one `validate` call. **fresh**: instantiate the pre-compiled module \
             (`InstancePre`, `_start`/`wapc_init`), `validate`, drop the store, as policy-server \
             does for each request. **warm**: `validate` repeated on one instance. **native**: \
             the same crate called in-process on the same bytes (`validate` + response \
             encoding). Ratios are wasm median / native median. n = samples \
             (fresh/warm/native).\n"
        )?;
        writeln!(
            w,
            "| # | scenario | payload | fresh median | fresh p99 | warm median | warm p99 | native median | native p99 | fresh/native | warm/native | n |"
        )?;
        writeln!(
            w,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )?;
        for r in &self.measurements.rows {
            scenario_row(w, r)?;
        }
        self.reference_rows(w)?;
        writeln!(w)
    }

    /// The rows after the scenarios: one verification (slopes, OpenSSL),
    /// instantiation alone, compilation.
    fn reference_rows(&self, w: &mut String) -> fmt::Result {
        let m = &self.measurements;
        for scheme in Scheme::ALL {
            if let Some((wasm, native)) = m.slope(scheme) {
                writeln!(
                    w,
                    "| | **{} verify, one signature** (slope, see method) | | | | {} | | {} | | | {} | |",
                    scheme.label(),
                    fmt_time(wasm),
                    fmt_time(native),
                    fmt_ratio(wasm / native)
                )?;
            }
        }
        if let Some(openssl) = &m.openssl {
            for scheme in Scheme::ALL {
                let cell = match openssl.get(scheme) {
                    Ok(speed) => fmt_time(1.0 / speed.verify_per_s),
                    Err(_) => "n/a".to_owned(),
                };
                writeln!(
                    w,
                    "| | OpenSSL {} verify (`openssl speed -seconds 1 {}`) | | | | | | {cell} | | | | |",
                    scheme.label(),
                    openssl_algorithm(scheme)
                )?;
            }
        }
        writeln!(
            w,
            "| | instantiate + drop only (no call) | | {} | {} | | | | | | | {}/-/- |",
            fmt_time(m.instantiate.median),
            fmt_time(m.instantiate.p99),
            m.instantiate.n
        )?;
        if let Some(server) = &m.server {
            for (i, run) in server.admission.iter().enumerate() {
                writeln!(
                    w,
                    "| | policy-server path (policy-evaluator 0.30.4): scenario 1, whole admission, run {} of {} | | {} | {} | | | | | | | {}/-/- |",
                    i + 1,
                    server.admission.len(),
                    fmt_time(run.median),
                    fmt_time(run.p99),
                    run.n
                )?;
            }
            if let Some(k) = server.keyless {
                writeln!(
                    w,
                    "| | policy-server path: scenario 9 (keyless), whole admission | | {} | {} | | | | | | | {}/-/- |",
                    fmt_time(k.median),
                    fmt_time(k.p99),
                    k.n
                )?;
            }
            let f = &server.fixed;
            for (what, st) in [
                ("fixed part: rehydrate + `_start`/`wapc_init` + drop, one region", f.whole),
                ("fixed part, step 1: `rehydrate` (store, instance from the `InstancePre`, WASI context)", f.rehydrate),
                ("fixed part, step 2: `WapcHost::new` (`_start`, `wapc_init`)", f.init),
                ("fixed part, step 3: drop (store, linear memory)", f.drop),
            ] {
                writeln!(
                    w,
                    "| | policy-server path: {what} | | {} | {} | | | | | | | {}/-/- |",
                    fmt_time(st.median),
                    fmt_time(st.p99),
                    st.n
                )?;
            }
        }
        if let Some(compile) = m.compile {
            writeln!(
                w,
                "| | compile, uncached `Module::new` (median) | {:.1} KiB | {} | | | | | | | | {}/-/- |",
                m.module_size as f64 / 1024.0,
                fmt_time(compile.median),
                compile.n
            )?;
        }
        Ok(())
    }

    fn targets(&self, w: &mut String) -> fmt::Result {
        let Some(checks) = targets::evaluate(&self.measurements) else {
            return Ok(());
        };
        writeln!(w, "## Targets\n")?;
        writeln!(w, "| target | measured | |\n|---|---|---|")?;
        for c in checks {
            let verdict = match c.met {
                Some(true) => "met".to_owned(),
                Some(false) => format!("**not met**. {}", c.target.next_step),
                None => "not measured".to_owned(),
            };
            writeln!(
                w,
                "| {} | {} | {verdict} |",
                c.target.description, c.measured
            )?;
        }
        writeln!(w)
    }

    /// Retired instructions beside the times (callgrind).
    fn instructions(&self, w: &mut String) -> fmt::Result {
        let m = &self.measurements;
        let Some(c) = &m.counts else {
            return Ok(());
        };
        writeln!(w, "## Retired instructions (callgrind)\n")?;
        writeln!(
            w,
            "Counts that do not move with the machine's load (`valgrind --tool=callgrind`, \
             collected only inside the measured region; see `bench/src/counts.rs`), beside \
             this run's times. The module's figures count the x86 instructions Cranelift \
             generated for it plus the host code it calls.\n"
        )?;
        writeln!(w, "| what | instructions | time (this run) | instructions / OpenSSL's | time / OpenSSL's |")?;
        writeln!(w, "|---|---:|---:|---:|---:|")?;
        let openssl_time = |s: Scheme| {
            m.openssl
                .as_ref()
                .and_then(|o| o.get(s).as_ref().ok().map(|x| 1.0 / x.verify_per_s))
        };
        let cell = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), targets::fmt_count);
        let tcell = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), fmt_time);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => fmt_ratio(a / b),
            _ => "n/a".to_owned(),
        };
        for scheme in [Scheme::Rsa2048, Scheme::P256] {
            let (ic, oc) = (c.slope(scheme), c.openssl(scheme));
            let (it, ot) = (m.slope(scheme).map(|s| s.0), openssl_time(scheme));
            writeln!(
                w,
                "| {} verify in the module (slope) | {} | {} | {} | {} |",
                scheme.label(),
                cell(ic),
                tcell(it),
                ratio(ic, oc),
                ratio(it, ot)
            )?;
        }
        let rsa_i = c.openssl(Scheme::Rsa2048);
        let rsa_t = openssl_time(Scheme::Rsa2048);
        let server = m.server.as_ref();
        writeln!(
            w,
            "| fresh instance's fixed part (policy-server path: rehydrate + `wapc_init` + drop) | {} | {} | {} | {} |",
            cell(c.fixed),
            tcell(server.map(|s| s.fixed.whole.median)),
            ratio(c.fixed, rsa_i),
            ratio(server.map(|s| s.fixed.whole.median), rsa_t)
        )?;
        let adm_t = server.and_then(crate::server::ServerRun::admission_median);
        writeln!(
            w,
            "| whole admission, scenario 1 (policy-server path) | {} | {} | {} | {} |",
            cell(c.admission),
            tcell(adm_t),
            ratio(c.admission, rsa_i),
            ratio(adm_t, rsa_t)
        )?;
        for scheme in [Scheme::Rsa2048, Scheme::P256] {
            writeln!(
                w,
                "| OpenSSL {} verify (`EVP_PKEY_verify` in `openssl speed {}`'s loop) | {} | {} | 1.00× | 1.00× |",
                scheme.label(),
                crate::machine::openssl_algorithm(scheme),
                cell(c.openssl(scheme)),
                tcell(openssl_time(scheme))
            )?;
        }
        if let (Some(adm), Some(fixed), Some(rsa)) =
            (c.admission, c.fixed, c.slope(Scheme::Rsa2048))
        {
            writeln!(
                w,
                "\nScenario 1's whole admission in instructions: fixed part {} ({:.0}%), one RSA-2048 \
                 verification {} ({:.0}%), the rest (reading the request and settings, the \
                 attestation, decoding the key, the response) {} ({:.0}%).",
                targets::fmt_count(fixed),
                100.0 * fixed / adm,
                targets::fmt_count(rsa),
                100.0 * rsa / adm,
                targets::fmt_count(adm - fixed - rsa),
                100.0 * (adm - fixed - rsa) / adm
            )?;
        }
        for e in &c.errors {
            writeln!(w, "\nNot counted: {e}")?;
        }
        for (scheme, r) in &c.openssl {
            if let Err(e) = r {
                writeln!(w, "\nOpenSSL {} not counted: {e}", scheme.label())?;
            }
        }
        writeln!(w)
    }

    /// The 3 MiB candidates (issue 25): what each costs and on what.
    fn worst_case(&self, w: &mut String) -> fmt::Result {
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
    fn breakdown(&self, w: &mut String) -> fmt::Result {
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

    fn method(&self, w: &mut String) -> fmt::Result {
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

    /// The raw `openssl speed` lines, if any.
    fn openssl_lines(&self, w: &mut String) -> fmt::Result {
        let Some(openssl) = &self.measurements.openssl else {
            return Ok(());
        };
        let lines: Vec<&str> = Scheme::ALL
            .into_iter()
            .filter_map(|s| openssl.get(s).as_ref().ok())
            .map(|speed| speed.line.as_str())
            .collect();
        if !lines.is_empty() {
            writeln!(w, "\nRaw `openssl speed` lines:\n")?;
            for line in lines {
                writeln!(w, "    {line}")?;
            }
        }
        Ok(())
    }
}

fn header(w: &mut String) -> fmt::Result {
    writeln!(w, "# Benchmark\n")?;
    writeln!(
        w,
        "**Reproduce:** `make bench` on a fresh machine (Rust toolchain, the `openssl` \
         CLI, and `valgrind` for the instruction counts, which are left out without it): it \
         builds the release module (`policy.wasm`, with binaryen's `wasm-opt`, which `make` \
         installs), then, in `bench/`, runs \
         `cargo run --locked --profile bench-release -- --module ../policy.wasm --output \
         results.md`, which builds the benchmark in its `bench-release` profile (release \
         without LTO: the host, wasmtime and the native policy optimised as a release-built \
         policy-server is; the first build takes ~15-20 minutes on 2 cores). Options: \
         `--iterations N` (fresh-instance samples, default 400; warm and native take 5/2 as \
         many), `--budget-ms MS` (time cap per measurement, default 3000, at least \
         {MIN_SAMPLES} samples), `--only ID,…` (some scenarios, for profiling). This file is \
         overwritten by each run, except the targets of the latest run of an earlier day, \
         which it carries (wasm speed varies from day to day: targets are judged on two \
         days); run it on an otherwise idle machine. To see guest functions in `perf`, run \
         with `POLICY_HARNESS_PERFMAP=1` and a module built with its names \
         (`CARGO_PROFILE_RELEASE_STRIP=false`).\n"
    )
}

fn scenario_row(w: &mut String, r: &Row) -> fmt::Result {
    let kib = r.payload_len as f64 / 1024.0;
    let (fresh_median, fresh_p99, fresh_ratio, fresh_n) = match r.fresh {
        Some(f) => (
            fmt_time(f.median),
            fmt_time(f.p99),
            fmt_ratio(f.median / r.native.median),
            f.n.to_string(),
        ),
        None => (String::new(), String::new(), String::new(), "-".to_owned()),
    };
    writeln!(
        w,
        "| {} | {} | {kib:.1} KiB | {fresh_median} | {fresh_p99} | {} | {} | {} | {} | {fresh_ratio} | {} | {fresh_n}/{}/{} |",
        r.id,
        r.title,
        fmt_time(r.warm.median),
        fmt_time(r.warm.p99),
        fmt_time(r.native.median),
        fmt_time(r.native.p99),
        fmt_ratio(r.warm.median / r.native.median),
        r.warm.n,
        r.native.n
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::fixture;

    fn report() -> Report {
        Report {
            module: PathBuf::from("policy.wasm"),
            measurements: fixture::measurements(),
            machine: Machine {
                date: "2026-01-01 00:00 UTC".to_owned(),
                cpu: "Test CPU".to_owned(),
                nproc: "2".to_owned(),
                rustc: "rustc 1.95.0".to_owned(),
                kernel: "Linux 6.0".to_owned(),
                openssl: "OpenSSL 3.0.13".to_owned(),
                wasm_features: "bulk-memory, mutable-globals".to_owned(),
            },
            limits: Limits::default(),
            load_average: "0.10".to_owned(),
            elapsed: Duration::from_secs(120),
            budget_ms: 3000,
            earlier: None,
        }
    }

    fn sections(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with('#')).collect()
    }

    #[test]
    fn a_full_run_has_every_section() {
        let text = report().render().unwrap();
        assert_eq!(
            sections(&text),
            [
                "# Benchmark",
                "## Machine and build",
                "## Results",
                "## Targets",
                "## Retired instructions (callgrind)",
                "## The 3 MiB worst case",
                "## Where the time goes (medians)",
                "## Method"
            ]
        );
        assert!(text.contains("| whole admission, scenario 1 (policy-server path) | 900.0 k | 110.0 µs | 9.00× | 5.50× |\n"), "{text}");
        assert!(
            text.contains(
                "| RSA-2048 verify in the module (slope) | 400.0 k | 50.0 µs | 4.00× | 2.50× |\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("Worst: **w1** (scenario w1), 4.00 ms."),
            "{text}"
        );
        assert!(text.contains("| | policy-server path: fixed part, step 2: `WapcHost::new` (`_start`, `wapc_init`) | | 20.0 µs | 40.0 µs |"), "{text}");
        assert!(text.contains("| 1 | scenario 1 | 10.0 KiB | 100.0 µs | 200.0 µs | 80.0 µs | 160.0 µs | 40.0 µs | 80.0 µs | 2.50× | 2.00× | 400/1000/1000 |\n"), "{text}");
        assert!(text.contains("| | **P-256 verify, one signature** (slope, see method) | | | | 150.0 µs | | 60.0 µs | | | 2.50× | |\n"), "{text}");
        assert!(text.contains("| | OpenSSL RSA-2048 verify (`openssl speed -seconds 1 rsa2048`) | | | | | | 20.0 µs | | | | |\n"), "{text}");
        assert!(text.contains("| Scenario 1 fresh-instance validate ≤ 1.3× the bare RSA-2048 signature check | 100.0 µs vs 50.0 µs = 2.00× | **not met**. Cannot move further inside the policy: a fresh instance's fixed part"), "{text}");
        assert!(
            text.contains("| Module ≤ 400 KiB | 300.0 KiB (307200 bytes) | met |\n"),
            "{text}"
        );
        assert!(text.contains("epoch interruption on (2000 ms deadline), 256 MiB memory limit"));
        assert!(
            text.ends_with("\n    verify/s 50000\n    verify/s 12500\n    verify/s 20000\n"),
            "{text}"
        );
        assert!(!text.contains("e2e-tests"), "{text}");
    }

    #[test]
    fn a_partial_run_has_no_targets() {
        let mut r = report();
        r.measurements
            .rows
            .retain(|row| row.id == "3a" || row.id == "3b");
        r.measurements.compile = None;
        r.measurements.openssl = None;
        r.measurements.server = None;
        r.measurements.counts = None;
        let text = r.render().unwrap();
        assert_eq!(
            sections(&text),
            [
                "# Benchmark",
                "## Machine and build",
                "## Results",
                "## Where the time goes (medians)",
                "## Method"
            ]
        );
        assert!(
            text.contains("* Scenario 3a − 3b (warm) = 300.0 µs: 0.03 µs per additional"),
            "{text}"
        );
        assert!(!text.contains("OpenSSL RSA-2048 verify"), "{text}");
        assert!(!text.contains("Raw `openssl speed` lines"), "{text}");
    }
}
