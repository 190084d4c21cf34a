//! What the report says about the machine and the build: CPU, tools,
//! OpenSSL's speed on the same machine, the wasm features of the module's
//! target, and an engine configured as the harness's runtime.

use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use wasmtime_provider::wasmtime;

use crate::scenarios::Scheme;

/// Facts about the machine, gathered when the report is written.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `date -u`.
    pub date: String,
    /// `model name` of `/proc/cpuinfo`.
    pub cpu: String,
    /// `nproc`.
    pub nproc: String,
    /// `rustc --version`.
    pub rustc: String,
    /// `uname -sr`.
    pub kernel: String,
    /// `openssl version`.
    pub openssl: String,
    /// rustc's wasm features for wasm32-wasip1.
    pub wasm_features: String,
}

impl Machine {
    /// Runs the commands; `(unknown)` for any that fails.
    #[must_use]
    pub fn describe() -> Self {
        Self {
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpu: cpu_model(),
            nproc: command_output("nproc", &[]),
            rustc: command_output("rustc", &["--version"]),
            kernel: command_output("uname", &["-sr"]),
            openssl: command_output("openssl", &["version"]),
            wasm_features: wasm_target_features(),
        }
    }
}

/// One `openssl speed` result.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSslSpeed {
    /// Verifications per second.
    pub verify_per_s: f64,
    /// The results line, as printed.
    pub line: String,
}

/// OpenSSL's verification speed for every [`Scheme`]; an error message in
/// place of a result that could not be measured.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSsl {
    rsa2048: Result<OpenSslSpeed, String>,
    rsa4096: Result<OpenSslSpeed, String>,
    p256: Result<OpenSslSpeed, String>,
}

impl OpenSsl {
    /// Runs `openssl speed -seconds 1` for each scheme.
    #[must_use]
    pub fn measure() -> Self {
        let speed = |scheme| openssl_verify_per_s(scheme).map_err(|e| e.to_string());
        Self {
            rsa2048: speed(Scheme::Rsa2048),
            rsa4096: speed(Scheme::Rsa4096),
            p256: speed(Scheme::P256),
        }
    }

    /// Builds the results from their parts (for tests).
    #[cfg(test)]
    pub fn from_parts(
        rsa2048: Result<OpenSslSpeed, String>,
        rsa4096: Result<OpenSslSpeed, String>,
        p256: Result<OpenSslSpeed, String>,
    ) -> Self {
        Self {
            rsa2048,
            rsa4096,
            p256,
        }
    }

    /// The result of `scheme`.
    pub fn get(&self, scheme: Scheme) -> &Result<OpenSslSpeed, String> {
        match scheme {
            Scheme::Rsa2048 => &self.rsa2048,
            Scheme::Rsa4096 => &self.rsa4096,
            Scheme::P256 => &self.p256,
        }
    }
}

/// The algorithm argument of `openssl speed` for `scheme`.
#[must_use]
pub fn openssl_algorithm(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Rsa2048 => "rsa2048",
        Scheme::Rsa4096 => "rsa4096",
        Scheme::P256 => "ecdsap256",
    }
}

/// `openssl speed -seconds 1 <alg>`: verifications per second.
fn openssl_verify_per_s(scheme: Scheme) -> Result<OpenSslSpeed> {
    let alg = openssl_algorithm(scheme);
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "1", alg])
        .output()
        .context("cannot run `openssl speed`")?;
    if !out.status.success() {
        bail!(
            "`openssl speed {alg}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_openssl_speed(scheme, &String::from_utf8_lossy(&out.stdout))
}

/// Reads verify/s from the output of `openssl speed` for `scheme`.
fn parse_openssl_speed(scheme: Scheme, text: &str) -> Result<OpenSslSpeed> {
    // The results line follows a header ending in `sign/s verify/s`; the
    // last number of the line is verify/s.
    let wanted = match scheme {
        Scheme::Rsa2048 => "rsa 2048 bits",
        Scheme::Rsa4096 => "rsa 4096 bits",
        Scheme::P256 => "(nistp256)",
    };
    let alg = openssl_algorithm(scheme);
    let line = text
        .lines()
        .find(|l| l.contains(wanted))
        .ok_or_else(|| anyhow!("no `{wanted}` line in `openssl speed {alg}`:\n{text}"))?;
    let verify_per_s: f64 = line
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| anyhow!("cannot read verify/s from {line:?}"))?;
    Ok(OpenSslSpeed {
        verify_per_s,
        line: line.trim().to_owned(),
    })
}

/// The trimmed standard output of a command, `(unknown)` if it fails.
fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "(unknown)".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "(unknown)".to_owned())
}

/// The 1-minute load average (`/proc/loadavg`).
#[must_use]
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "(unknown)".to_owned())
}

/// The wasm features the policy is built with: rustc's for `wasm32-wasip1`
/// plus `simd128`, which `.cargo/config.toml` adds (the Montgomery
/// products' dot products, `src/modexp/dot.rs`).
fn wasm_target_features() -> String {
    let cfg = command_output(
        "rustc",
        &[
            "--print",
            "cfg",
            "--target",
            "wasm32-wasip1",
            "-C",
            "target-feature=+simd128",
        ],
    );
    let features: Vec<&str> = cfg
        .lines()
        .filter_map(|l| l.strip_prefix("target_feature=\""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    if features.is_empty() {
        "(unknown)".to_owned()
    } else {
        features.join(", ")
    }
}

/// The engine configuration of `PolicyModule::from_bytes` with the default
/// limits (kept in step with `harness/src/host/runtime.rs`): wasmtime's
/// defaults (Cranelift, `OptLevel::Speed`, SIMD and the other default
/// proposals on), wasm backtraces off, epoch interruption on.
///
/// # Errors
///
/// wasmtime rejects the configuration.
pub fn engine_like_runtime() -> Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_backtrace_max_frames(None);
    config.epoch_interruption(true);
    wasmtime::Engine::new(&config).map_err(|e| anyhow!("cannot create the engine: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_verify_per_second_from_openssl_speed() {
        let rsa = "Doing 2048 bits public rsa's for 1s: 60000 2048 bits public RSA's in 1.00s\n\
                   version: 3.0.13\n                  sign    verify    sign/s verify/s\n\
                   rsa 2048 bits 0.000690s 0.000020s   1449.3  49999.5\n";
        let speed = parse_openssl_speed(Scheme::Rsa2048, rsa).unwrap();
        assert_eq!(speed.verify_per_s, 49999.5);
        assert_eq!(
            speed.line,
            "rsa 2048 bits 0.000690s 0.000020s   1449.3  49999.5"
        );
        let p256 = "                              sign    verify    sign/s verify/s\n \
                    256 bits ecdsa (nistp256)   0.0000s   0.0001s  40000.0  13000.0\n";
        let rsa4096 = "rsa 2048 bits 0.000690s 0.000020s   1449.3  49999.5\n\
                       rsa 4096 bits 0.003483s 0.000056s    287.1  17884.0\n";
        assert_eq!(
            parse_openssl_speed(Scheme::Rsa4096, rsa4096)
                .unwrap()
                .verify_per_s,
            17884.0
        );
        let speed = parse_openssl_speed(Scheme::P256, p256).unwrap();
        assert_eq!(speed.verify_per_s, 13000.0);
    }

    #[test]
    fn openssl_output_without_the_line_is_an_error() {
        let err = parse_openssl_speed(Scheme::P256, "nothing\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no `(nistp256)` line in `openssl speed ecdsap256`:\nnothing\n"
        );
    }
}
