//! The results as Markdown (`bench/results.md`): how to reproduce, the
//! machine, the results table, the targets, where the time goes, and the
//! method.

mod instructions;
mod notes;

use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use policy_harness::host::runtime::Limits;

use crate::machine::{openssl_algorithm, Machine};
use crate::runner::{Measurements, Row};
use crate::scenarios::Scheme;
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
            "| module | `{}`, {} bytes; wasm features (rustc's for wasm32-wasip1 and `simd128`): {} |",
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
