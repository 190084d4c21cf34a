//! The "Retired instructions (callgrind)" section: the instruction counts
//! beside this run's times and OpenSSL's.

use std::fmt::{self, Write as _};

use super::Report;
use crate::scenarios::Scheme;
use crate::stats::{fmt_ratio, fmt_time};
use crate::targets;

impl Report {
    /// Retired instructions beside the times (callgrind).
    pub(super) fn instructions(&self, w: &mut String) -> fmt::Result {
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
}
