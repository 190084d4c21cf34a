//! The performance targets, as data: what each compares, and the most it
//! may be. [`evaluate`] checks them all against a run's measurements.

use crate::runner::Measurements;
use crate::scenarios::Scheme;
use crate::stats::{fmt_ratio, fmt_time};

/// What a target measures, and in which unit its threshold is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Ratio: one verification in the module (warm slope) over OpenSSL's
    /// (1 / verify/s) on the same machine.
    VerifyVsOpenSsl(Scheme),
    /// Ratio: a scenario's fresh-instance median over one RSA-2048
    /// verification in the module (warm slope).
    FreshOverRsaVerify(&'static str),
    /// Seconds: a scenario's warm median minus one RSA-2048 verification in
    /// the module (warm slope): the policy's own work around the check.
    OwnWork(&'static str),
    /// Ratio: the fresh-instance medians of two scenarios.
    FreshRatio(&'static str, &'static str),
    /// Ratio: a scenario's fresh-instance median over its native median.
    FreshOverNative(&'static str),
    /// KiB: the module's size.
    ModuleSize,
    /// Seconds: the median uncached compilation.
    CompileTime,
    /// Ratio: the whole admission of scenario 1 on the policy-server path
    /// (median of its runs' medians) over one OpenSSL RSA-2048 verify.
    AdmissionVsOpenSsl,
    /// Ratio of retired instructions: one verification in the module (warm
    /// slope) over OpenSSL's.
    InstrVerifyVsOpenSsl(Scheme),
    /// Ratio of retired instructions: scenario 1's whole admission on the
    /// policy-server path over one OpenSSL RSA-2048 verification.
    InstrAdmissionVsOpenSsl,
    /// Seconds: a host-call scenario's warm median minus its host calls
    /// replayed alone, minus one in-module verification of the scheme if
    /// the path makes one: the policy's own work on that path.
    HostPathOwnWork(&'static str, Option<Scheme>),
    /// Seconds: the worst fresh-instance median of the 3 MiB candidates.
    WorstCase,
    /// Seconds: a scenario's native median.
    Native(&'static str),
}

/// A target: the measured value must be at most `threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Short name (stderr summary, tests).
    pub id: &'static str,
    /// The target as the report states it.
    pub description: &'static str,
    /// What is measured.
    pub metric: Metric,
    /// The most the measured value may be, in the metric's unit.
    pub threshold: f64,
    /// When it is not met: what the profile shows is left, and the next step.
    pub next_step: &'static str,
}

/// The targets, in the order of the report.
pub const TARGETS: &[Target] = &[
    Target {
        id: "rsa2048-vs-openssl",
        description: "RSA-2048 verify in the module ≤ 8× OpenSSL",
        metric: Metric::VerifyVsOpenSsl(Scheme::Rsa2048),
        threshold: 8.0,
        next_step: "The time is the Montgomery products (`modexp::Modulus::mont` with its column sums inlined, 70% of scenario 1): the sums take four 28-bit limbs per wasm SIMD vector (`u64x2_extmul_*_u32x4`, x86's `pmuludq`), about 3.4 x86 instructions per 56-bit product in blocks of 16 limbs (Cranelift puts two `pshufd` around every `pmuludq`, and each block's vector sums go to scalars because wasmtime's epoch check on every loop iteration would spill them); about half of `mont` is now its bookkeeping per pair of columns (a squaring's pair about 340 instructions, mostly spills and bounds checks), then the signature's conversion into Montgomery form (`shift_mod`, 7%). Next: that bookkeeping, for example four columns per pass over the limbs, not fewer products (product scanning with the reduction interleaved is already the fewest).",
    },
    Target {
        id: "rsa4096-vs-openssl",
        description: "RSA-4096 verify in the module ≤ 8× OpenSSL",
        metric: Metric::VerifyVsOpenSsl(Scheme::Rsa4096),
        threshold: 8.0,
        next_step: "As RSA-2048: the Montgomery products (`modexp::dot2_twice`).",
    },
    Target {
        id: "p256-vs-openssl",
        description: "P-256 verify in the module ≤ 8× OpenSSL",
        metric: Metric::VerifyVsOpenSsl(Scheme::P256),
        threshold: 8.0,
        next_step: "The time is field multiplication (`p256_verify::field`): next, a dedicated squaring and a larger precomputed table for G.",
    },
    Target {
        id: "scenario-1-vs-verify",
        description: "Scenario 1 fresh-instance validate ≤ 1.3× the bare RSA-2048 signature check",
        metric: Metric::FreshOverRsaVerify("1"),
        threshold: 1.3,
        next_step: "Cannot move further inside the policy: a fresh instance's fixed part (rehydrate, `_start`/`wapc_init`, drop: about 48–50 µs, the kernel's `mmap`/`munmap` and page faults and wasmtime's host code, the guest's `wapc_init` 2% of it) is now more than one whole RSA-2048 verification (33 µs at 21:05 on 2026-12-06 with the SIMD products, 47 µs at 18:15, 64 µs before the evening's Montgomery work), so fixed part + verification alone is about 2× the bare check before the policy reads a byte; the faster the check, the further this ratio. The policy's own work on top is the next row (met).",
    },
    Target {
        id: "scenario-1-own-work",
        description: "Scenario 1 own work (warm − one RSA-2048 verification) ≤ 30 µs",
        metric: Metric::OwnWork("1"),
        threshold: 30e-6,
        next_step: "Profile (callgrind per guest function, `POLICY_HARNESS_PERFMAP=1`, warm, 2026-12-06 20:25, with the SIMD products): the Montgomery products are 70% of the call (`mont`, its column sums inlined), the signature's conversion into Montgomery form 7% (`shift_mod`, 86 k instructions: one multiply-subtract per step, the remainder left below 3n instead of corrected every step), skipping the request's unread fields and strings about 9% (serde_json), base64 and the key's PEM 3%, SHA-256 1% (its message schedule vectorised by LLVM since `simd128`: 22 k → 12 k instructions). Next: reading the pod spec in the payload's pass.",
    },
    Target {
        id: "scenario-5-vs-1",
        description: "Scenario 5 (100 authorities) ≤ 1.5× scenario 1, fresh instance",
        metric: Metric::FreshRatio("5", "1"),
        threshold: 1.5,
        next_step: "Worse than at 16:22 (1.53×) and 18:15 (1.63×) only because scenario 1 got faster: the evening took about 22 µs off every RSA-2048 check (64 → 47 µs at 18:15, 33 µs with the SIMD products at 21:05), while scenario 5's extra over scenario 1 did not move (1.03 M instructions warm before and after each round; 35–38 µs warm, about 85 µs fresh). Profile (perf and callgrind, 2026-12-06): the 99 authorities that attest nothing cost about 10 k instructions each (were 20.5 k before the afternoon's round: an authority no signature names is not examined, its reason built only if the image is rejected; the keyring keeps 24 bytes per key and makes a key's slot on first use; names and key ids are indexed in hash maps sized once). What is left is the payload itself: reading the settings' JSON (serde_json's string scan most of it, on about 70 KB of keys that arrive with every request) and, on a fresh instance, the page faults of the 68 KB buffer waPC's guest allocates for the payload and the host fills (16 pages) and of the parsed settings (5 pages): about 45 µs that no policy can avoid (a larger initial memory did not help). Going further would take a hand-written reader for the authority (with serde's exact error messages) to skip bytes faster than serde_json does.",
    },
    Target {
        id: "scenario-3a-vs-3b",
        description: "Scenario 3a (10,000 patterns) ≤ 5× 3b (1 pattern), fresh instance",
        metric: Metric::FreshRatio("3a", "3b"),
        threshold: 5.0,
        next_step: "Out of reach of any reader of the payload: merely tokenising 3a's 500 KiB natively costs ~35× 3b's whole call (\"Scenario 3a's floor\" below). In the module, matching is ~7% of 3a and no pattern is allocated (borrowed text). Next: match while deserialising (no vector of patterns), which saves the vector, not the reading.",
    },
    Target {
        id: "scenario-2-vs-native",
        description: "Scenario 2 wasm/native ≤ 2× (fresh instance; warm in brackets)",
        metric: Metric::FreshOverNative("2"),
        threshold: 2.0,
        next_step: "The wasm/native gap is the modular arithmetic: next as for RSA-2048.",
    },
    Target {
        id: "module-size",
        description: "Module ≤ 400 KiB",
        metric: Metric::ModuleSize,
        threshold: 400.0,
        next_step: "Profile of the code (`python3 bench/wasm-size.py` on a names-kept build before `wasm-opt`, 2026-12-06, after this round: 624 KiB of code + 74 KiB of data): the policy's own code 271 KiB (the two ECDSA verifiers end to end, 65 KiB of it; the readers of the payload's and settings' outer shapes are now inlined into it), serde-derived readers 96 KiB (were 159 KiB over 55 types), core 76 KiB + `core::fmt` 30 KiB + float formatting 18 KiB (the texts of serde's and serde_json's errors, e.g. ``invalid type: floating point `1.5`, expected a string``), serde_json 30 KiB, alloc 18 KiB, hashbrown 17 KiB, std 13 KiB, the key decoding's der, PEM and base64 25 KiB. Done this round: every JSON read goes through `src/json.rs`, which hands `serde_json` a map request where serde's derive asks for a struct, so no derived reader's sequence visitor (serde_json reads a struct from an array, field by field) is compiled: −43 KB after `wasm-opt` (682,423 → 639,649 bytes), and an array where an object belongs is now refused; then enums read as strings (serde_json's map form of an enum no longer compiled: −4 KB, 635,604 bytes); in the evening, −2.3 KB from `-disable-lsr` (LLVM's loop strength reduction off for the wasm target) and +2.4 KB for the Montgomery columns' three runs, 635,571 bytes; then +5.3 KB for SIMD (`simd128`: the vector dot products and the loops LLVM now vectorises elsewhere, such as sha2's message schedule) and +7.5 KB for the column sums inlined into the Montgomery runs (−6.5% instructions on scenario 1), 648,365 bytes; at 22:00, +1.6 KB for the registry reasons that name an authority's `registryAnnotations`, 649,973 bytes. Earlier: P-256 in-house end to end (−30 KB), P-384 in-house (−26 KB), one JSON reader for every answer (−30 KiB of code), sha2's compact backend (−16 KiB). Measured and not kept: `opt-level = 2` (−29 KB, but P-256 +19%, P-384 +61%, the keyless path +17% in instructions), `\"s\"` (−106 KB; RSA-2048 +35%, P-256 ×3.5), the arithmetic at `opt-level = 3` in a crate of its own with the rest at `\"z\"` (−119 KB, own work ×2.7), binaryen's `--merge-similar-functions` and `--converge` (< 2 KB), P-384's square root by square-and-multiply instead of its addition chain (15 bytes, for a slower root). Why 400 KiB is out of reach: above it is the reading of JSON (serde's derived readers, serde_json and the formatting of their errors, about 190 KiB) and the policy's own logic. Shrinking the first further means a hand-written JSON reader for 55 shapes, which the project's rule on dependencies excludes (serde is the field's crate; only what no maintained crate does is written by hand), and the small-code crates cannot replace it: miniserde's errors carry no text (`validate_settings` must name the field and its line), and neither miniserde nor nanoserde borrows strings from the input (an allocation per string on every request).",
    },
    Target {
        id: "admission-vs-openssl",
        description: "Whole admission on the policy-server path (policy-evaluator 0.30.4: `InstancePre`, fresh instance, `validate`, drop), scenario 1, median of 3 runs ≤ 6× one OpenSSL RSA-2048 verify",
        metric: Metric::AdmissionVsOpenSsl,
        threshold: 6.0,
        next_step: "Cannot reach 6× in time (it is met in instructions, below). Profile (perf and callgrind, 2026-12-06): the fixed part alone is the kernel 68% (per instance: 2 `mmap`, 1 `mprotect`, 1 `munmap`, 5 page faults; 11 with `validate`), the host 25% (wasmtime clones its `Linker` and builds a WASI context for each instance), libc 5%, the guest's `wapc_init` 2%: about 48–50 µs of kernel and host work, 3.9× an OpenSSL check of 12.9 µs on its own, which the policy does not control. The RSA-2048 verification is 2.6× OpenSSL's in time with the SIMD products (3.7× at 18:15; wasm has no 64×64→128 multiply, so a 2048-bit product is 74² = 5,476 products of 28-bit limbs where OpenSSL does 32² = 1,024 with `mulx`, and wasm's SIMD multiplies two 32-bit lanes at a time), and the policy's own work 13–14 µs (1.0×). In instructions the kernel's share is not counted, which is why the same admission is 4.8× there.",
    },
    Target {
        id: "instr-rsa2048-vs-openssl",
        description: "RSA-2048 verify in the module ≤ 8× OpenSSL, retired instructions",
        metric: Metric::InstrVerifyVsOpenSsl(Scheme::Rsa2048),
        threshold: 8.0,
        next_step: "As the time target: the Montgomery products on 28-bit limbs (`modexp::dot2_twice`).",
    },
    Target {
        id: "instr-p256-vs-openssl",
        description: "P-256 verify in the module ≤ 8× OpenSSL, retired instructions",
        metric: Metric::InstrVerifyVsOpenSsl(Scheme::P256),
        threshold: 8.0,
        next_step: "As the time target: field multiplication.",
    },
    Target {
        id: "instr-admission-vs-openssl",
        description: "Whole admission (policy-server path, scenario 1) ≤ 6× one OpenSSL RSA-2048 verify, retired instructions",
        metric: Metric::InstrAdmissionVsOpenSsl,
        threshold: 6.0,
        next_step: "Met with a margin of about 350 k instructions since the SIMD products (25 k before them, at 18:15): the RSA-2048 verification (3.3× OpenSSL: the column sums four limbs per wasm SIMD vector, inlined into the Montgomery runs; 4.5× at 18:15, 5.7× at 16:22), the host's fixed part (0.59×) and the policy's own work (0.9×: reading the request and settings, the key's PEM and DER, the response) add up to 4.8×.",
    },
    Target {
        id: "registry-own-work",
        description: "Registry path (scenario 8) own work (warm − host calls replayed alone) ≤ 30 µs",
        metric: Metric::HostPathOwnWork("8", None),
        threshold: 30e-6,
        next_step: "Reading the request and settings and the host's answer: as scenario 1's own work.",
    },
    Target {
        id: "keyless-own-work",
        description: "Keyless path (scenario 9) own work (warm − host calls replayed alone − one P-256 verification) ≤ 30 µs",
        metric: Metric::HostPathOwnWork("9", Some(Scheme::P256)),
        threshold: 30e-6,
        next_step: "Beyond the layer's P-256 verification, the policy parses the signature manifest (4 KiB per layer), the layer's certificate (PEM, DER) and its Rekor bundle (base64 JSON inside JSON inside a JSON string, with the certificate again in base64 PEM inside it); w4 (32 layers) gives the cost per layer. Next: compare the bundle's certificate as bytes after one base64 decode rather than decoding it to DER, and decode the layer's key once per certificate.",
    },
    Target {
        id: "live-many-native",
        description: "Live mode with 100 GenericAttestationPolicies and 100 AttestationAuthorities in the namespace (scenario 10b), native ≤ 50 ms",
        metric: Metric::Native("10b"),
        threshold: 50e-3,
        next_step: "Each named authority's key is decoded on every request (to refuse a malformed one, naming it): next, check only the keys a signature names and report the others' problems lazily.",
    },
    Target {
        id: "worst-case-3mib",
        description: "Costliest request up to 3 MiB (candidates w0–w5), fresh instance ≤ 5 ms",
        metric: Metric::WorstCase,
        threshold: 5e-3,
        next_step: "Cannot reach 5 ms: the verification budget (the cost of 64 RSA-2048 checks, which a Pod of 64 attested images legitimately spends: scenario 4, 4.7–7 ms fresh from one machine to another) is about 5 ms of verification on its own, and reading a 3 MiB object of 12,000 containers with nothing to verify (w0) is about half of the costliest candidate's time again. With the policy's bounds (256 images judged, 16 failed verifications, verifications weighed by cost, 32 keyless layers) the candidates stay within about 20 ms: P-384 (w5) is now 12 checks of about 0.41 ms (in-house `p384_verify`, weighed 5; was 16 checks of 2.4 ms with the `p384` crate, 51 ms); then the signer's 32 P-256 checks (w3) or 16 failing RSA-4096 ones (w2). The object is already read once, in the payload's pass (it was scanned as raw text, then parsed again: w0 11.8 → 9.1 ms); what is left of w0 is serde_json's reading of 12,000 containers' fields and the images collected and de-duplicated (w0's per-image note below), not the verification budget.",
    },
    Target {
        id: "compile-time",
        description: "Compile (uncached `Module::new`) ≤ 150 ms",
        metric: Metric::CompileTime,
        threshold: 0.150,
        next_step: "Follows the module's code size (see the module's row). policy-server compiles a policy once, when it starts (and kwctl caches the compiled module), never per request, so this cost is paid once per policy-server start.",
    },
];

/// A target and how the run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The target.
    pub target: &'static Target,
    /// The measured values, as the report writes them.
    pub measured: String,
    /// `None`: a reference (OpenSSL) could not be measured.
    pub met: Option<bool>,
}

/// Every target of [`TARGETS`] checked against `m`; `None` when a partial
/// run (`--only`) lacks what a target needs.
#[must_use]
pub fn evaluate(m: &Measurements) -> Option<Vec<Check>> {
    TARGETS.iter().map(|t| check(t, m)).collect()
}

/// A count target in a full run without counts.
fn not_counted(target: &'static Target) -> Check {
    Check {
        target,
        measured: "not counted (valgrind missing or a count failed: see below)".to_owned(),
        met: None,
    }
}

/// `1.23 M`, `456.7 k` instructions.
#[must_use]
pub fn fmt_count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else {
        format!("{:.1} k", n / 1e3)
    }
}

/// One target against `m`: the measured value, its text, and the verdict.
fn check(target: &'static Target, m: &Measurements) -> Option<Check> {
    let ratio = |a: f64, b: f64| {
        let r = a / b;
        (
            r,
            format!("{} vs {} = {}", fmt_time(a), fmt_time(b), fmt_ratio(r)),
        )
    };
    let (value, measured) = match target.metric {
        Metric::VerifyVsOpenSsl(scheme) => {
            let (wasm, _) = m.slope(scheme)?;
            match m.openssl.as_ref()?.get(scheme) {
                Ok(speed) => {
                    let r = wasm * speed.verify_per_s;
                    let openssl = fmt_time(1.0 / speed.verify_per_s);
                    (
                        r,
                        format!("{} vs {openssl} = {}", fmt_time(wasm), fmt_ratio(r)),
                    )
                }
                Err(e) => {
                    return Some(Check {
                        target,
                        measured: format!("{} (OpenSSL not measured: {e})", fmt_time(wasm)),
                        met: None,
                    })
                }
            }
        }
        Metric::FreshOverRsaVerify(id) => ratio(m.fresh(id)?, m.slope(Scheme::Rsa2048)?.0),
        Metric::OwnWork(id) => {
            let (warm, verify) = (m.warm(id)?, m.slope(Scheme::Rsa2048)?.0);
            (
                warm - verify,
                format!(
                    "{} − {} = {}",
                    fmt_time(warm),
                    fmt_time(verify),
                    fmt_time(warm - verify)
                ),
            )
        }
        Metric::FreshRatio(a, b) => ratio(m.fresh(a)?, m.fresh(b)?),
        Metric::FreshOverNative(id) => {
            let native = m.row(id)?.native.median;
            let warm = m.warm(id)?;
            let (r, text) = ratio(m.fresh(id)?, native);
            let warm_text = format!("(warm {} = {})", fmt_time(warm), fmt_ratio(warm / native));
            (r, format!("{text} {warm_text}"))
        }
        Metric::ModuleSize => {
            let kib = m.module_size as f64 / 1024.0;
            (kib, format!("{kib:.1} KiB ({} bytes)", m.module_size))
        }
        Metric::CompileTime => {
            let median = m.compile?.median;
            (median, fmt_time(median))
        }
        Metric::AdmissionVsOpenSsl => {
            let admission = m.server.as_ref()?.admission_median()?;
            let Ok(speed) = m.openssl.as_ref()?.get(Scheme::Rsa2048) else {
                return Some(Check {
                    target,
                    measured: format!("{} (OpenSSL not measured)", fmt_time(admission)),
                    met: None,
                });
            };
            let r = admission * speed.verify_per_s;
            (
                r,
                format!(
                    "{} vs {} = {}",
                    fmt_time(admission),
                    fmt_time(1.0 / speed.verify_per_s),
                    fmt_ratio(r)
                ),
            )
        }
        Metric::InstrVerifyVsOpenSsl(scheme) => {
            m.compile?;
            let Some(c) = m.counts.as_ref() else {
                return Some(not_counted(target));
            };
            let (Some(wasm), Some(openssl)) = (c.slope(scheme), c.openssl(scheme)) else {
                return Some(not_counted(target));
            };
            let r = wasm / openssl;
            (
                r,
                format!(
                    "{} vs {} instructions = {}",
                    fmt_count(wasm),
                    fmt_count(openssl),
                    fmt_ratio(r)
                ),
            )
        }
        Metric::InstrAdmissionVsOpenSsl => {
            m.compile?;
            let Some(c) = m.counts.as_ref() else {
                return Some(not_counted(target));
            };
            let (Some(adm), Some(openssl)) = (c.admission, c.openssl(Scheme::Rsa2048)) else {
                return Some(not_counted(target));
            };
            let r = adm / openssl;
            (
                r,
                format!(
                    "{} vs {} instructions = {}",
                    fmt_count(adm),
                    fmt_count(openssl),
                    fmt_ratio(r)
                ),
            )
        }
        Metric::HostPathOwnWork(id, scheme) => {
            let row = m.row(id)?;
            let replay = row.host_replay.map_or(0.0, |s| s.median);
            let verify = match scheme {
                Some(s) => m.slope(s)?.0,
                None => 0.0,
            };
            let own = row.warm.median - replay - verify;
            let verify_text = if scheme.is_some() {
                format!(" − {}", fmt_time(verify))
            } else {
                String::new()
            };
            (
                own,
                format!(
                    "{} − {}{verify_text} = {}",
                    fmt_time(row.warm.median),
                    fmt_time(replay),
                    fmt_time(own)
                ),
            )
        }
        Metric::Native(id) => {
            let native = m.row(id)?.native.median;
            (native, fmt_time(native))
        }
        Metric::WorstCase => {
            let worst = m
                .rows
                .iter()
                .filter(|r| r.id.starts_with('w'))
                .filter_map(|r| r.fresh.map(|f| (r.id, f.median)))
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            (
                worst.1,
                format!("{} (candidate {})", fmt_time(worst.1), worst.0),
            )
        }
    };
    Some(Check {
        target,
        measured,
        // A value that prints as the threshold meets it (no float residue).
        met: Some(value <= target.threshold * (1.0 + 1e-9)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threshold as the description writes it.
    fn stated(t: &Target) -> String {
        match t.metric {
            Metric::ModuleSize => format!("≤ {} KiB", t.threshold),
            Metric::CompileTime => format!("≤ {} ms", t.threshold * 1000.0),
            Metric::OwnWork(_) | Metric::HostPathOwnWork(..) => {
                format!("≤ {:.0} µs", t.threshold * 1e6)
            }
            Metric::WorstCase | Metric::Native(_) => format!("≤ {} ms", t.threshold * 1000.0),
            _ => format!("≤ {}×", t.threshold),
        }
    }

    #[test]
    fn descriptions_state_the_thresholds() {
        for t in TARGETS {
            assert!(
                t.description.contains(&stated(t)),
                "{}: {}",
                t.id,
                stated(t)
            );
        }
    }

    #[test]
    fn a_full_run_checks_every_target() {
        let checks = evaluate(&crate::runner::fixture::measurements()).unwrap();
        let summary: Vec<(&str, &str, Option<bool>)> = checks
            .iter()
            .map(|c| (c.target.id, c.measured.as_str(), c.met))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "rsa2048-vs-openssl",
                    "50.0 µs vs 20.0 µs = 2.50×",
                    Some(true)
                ),
                (
                    "rsa4096-vs-openssl",
                    "200.0 µs vs 80.0 µs = 2.50×",
                    Some(true)
                ),
                ("p256-vs-openssl", "150.0 µs vs 50.0 µs = 3.00×", Some(true)),
                (
                    "scenario-1-vs-verify",
                    "100.0 µs vs 50.0 µs = 2.00×",
                    Some(false)
                ),
                (
                    "scenario-1-own-work",
                    "80.0 µs − 50.0 µs = 30.0 µs",
                    Some(true)
                ),
                (
                    "scenario-5-vs-1",
                    "120.0 µs vs 100.0 µs = 1.20×",
                    Some(true)
                ),
                (
                    "scenario-3a-vs-3b",
                    "400.0 µs vs 100.0 µs = 4.00×",
                    Some(true)
                ),
                (
                    "scenario-2-vs-native",
                    "1.50 ms vs 1.00 ms = 1.50× (warm 1.40 ms = 1.40×)",
                    Some(true)
                ),
                ("module-size", "300.0 KiB (307200 bytes)", Some(true)),
                (
                    "admission-vs-openssl",
                    "110.0 µs vs 20.0 µs = 5.50×",
                    Some(true)
                ),
                (
                    "instr-rsa2048-vs-openssl",
                    "400.0 k vs 100.0 k instructions = 4.00×",
                    Some(true)
                ),
                (
                    "instr-p256-vs-openssl",
                    "800.0 k vs 200.0 k instructions = 4.00×",
                    Some(true)
                ),
                (
                    "instr-admission-vs-openssl",
                    "900.0 k vs 100.0 k instructions = 9.00×",
                    Some(false)
                ),
                (
                    "registry-own-work",
                    "20.0 µs − 5.00 µs = 15.0 µs",
                    Some(true)
                ),
                (
                    "keyless-own-work",
                    "200.0 µs − 10.0 µs − 150.0 µs = 40.0 µs",
                    Some(false)
                ),
                ("live-many-native", "2.00 ms", Some(true)),
                ("worst-case-3mib", "4.00 ms (candidate w1)", Some(true)),
                ("compile-time", "120.0 ms", Some(true)),
            ]
        );
    }

    #[test]
    fn openssl_failure_is_not_measured_and_partial_runs_check_nothing() {
        let mut m = crate::runner::fixture::measurements();
        let openssl = m.openssl.as_ref().unwrap();
        let (rsa4096, p256) = (
            openssl.get(Scheme::Rsa4096).clone(),
            openssl.get(Scheme::P256).clone(),
        );
        m.openssl = Some(crate::machine::OpenSsl::from_parts(
            Err("cannot run `openssl speed`".to_owned()),
            rsa4096,
            p256,
        ));
        let checks = evaluate(&m).unwrap();
        assert_eq!(checks[0].met, None);
        assert_eq!(
            checks[0].measured,
            "50.0 µs (OpenSSL not measured: cannot run `openssl speed`)"
        );
        m.compile = None;
        assert_eq!(evaluate(&m), None);
    }

    #[test]
    fn every_target_says_its_next_step() {
        for t in TARGETS {
            assert!(t.next_step.len() > 40, "{}", t.id);
        }
    }

    #[test]
    fn ids_are_unique() {
        for (i, t) in TARGETS.iter().enumerate() {
            assert!(TARGETS[..i].iter().all(|u| u.id != t.id), "{}", t.id);
        }
    }
}
