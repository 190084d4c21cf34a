//! The wall clock the policy module reads through WASI
//! (`wasi_snapshot_preview1.clock_time_get`, clock id `REALTIME`).
//!
//! By default the harness gives the module the host's real clock, as
//! policy-server does: policy-evaluator 0.30.4 builds its waPC runtime with
//! `wasmtime_provider::WasmtimeEngineProviderBuilder::new().engine(..).module(..)`
//! (src/runtimes/wapc/stack_pre.rs) and wasmtime-provider's default `wasi`
//! feature links WASI preview 1 with a `WasiCtxBuilder::new()` context, whose
//! wall clock is the system's realtime clock. The harness links the same
//! (`WasmtimeEngineProviderPre` with default `WasiParams`).
//!
//! For tests, `--now RFC3339` makes the module read a fixed time and
//! `--now none` makes the realtime clock refuse (errno `notsup`), so the
//! policy's "no clock" path runs in the real module. wasmtime-provider 2.25
//! builds the WASI context and the linker privately (its builder only takes
//! argv, env and preopened directories), so neither a custom
//! `HostWallClock` nor a linker override can be given to it. Instead the
//! module itself is given a shim: every call the module makes to its
//! `clock_time_get` import is redirected to a function appended to the
//! module that answers `REALTIME` with the fixed time (or the errno) and
//! passes every other clock (monotonic, CPU time) to the real import.
//! Nothing else of the module changes: the import stays linked, function
//! indices are unchanged (the shim is appended; only references to the
//! import are remapped), custom sections are copied. Hand-written on
//! wasm-encoder's `Reencode`, the rewriter the harness already builds.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use wasm_encoder::reencode::{utils, Error as ReencodeError, Reencode};
use wasm_encoder::{BlockType, CodeSection, Function, FunctionSection, MemArg};

/// WASI preview 1 errno `notsup` ("not supported"): the answer of a host
/// that has no realtime clock to give.
pub const ERRNO_NOTSUP: i32 = 58;

/// The realtime clock the module sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WasiClock {
    /// The host's real wall clock (policy-server's behaviour).
    #[default]
    Host,
    /// A fixed time: nanoseconds since the Unix epoch (TEST flag `--now`).
    Fixed {
        /// Nanoseconds since 1970-01-01T00:00:00Z.
        nanos: u64,
    },
    /// No usable clock: `clock_time_get(REALTIME)` returns errno `notsup`
    /// (TEST flag `--now none`).
    Refused,
}

impl WasiClock {
    /// Parses the value of `--now`: `none`, or an RFC 3339 time
    /// (`2026-12-01T00:00:00Z`, a fraction and a `±HH:MM` offset allowed).
    ///
    /// # Errors
    /// Any other text, or a time before 1970.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(Self::Refused);
        }
        let (seconds, nanos) = parse_rfc3339(text).ok_or_else(|| {
            anyhow!(
                "--now {text:?} is neither `none` nor an RFC 3339 time such as \
                 2026-12-01T00:00:00Z"
            )
        })?;
        let total = u64::try_from(seconds)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000))
            .and_then(|n| n.checked_add(u64::from(nanos)))
            .ok_or_else(|| anyhow!("--now {text:?} is before 1970 or too far ahead"))?;
        Ok(Self::Fixed { nanos: total })
    }

    /// Seconds since the Unix epoch this clock reads now; `None` for
    /// [`WasiClock::Refused`] (or a host clock before 1970).
    #[must_use]
    pub fn unix_seconds(&self) -> Option<i64> {
        match self {
            Self::Host => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok()),
            Self::Fixed { nanos } => i64::try_from(nanos / 1_000_000_000).ok(),
            Self::Refused => None,
        }
    }
}

impl fmt::Display for WasiClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host => f.write_str("the host's clock"),
            Self::Fixed { nanos } => {
                let seconds = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
                write!(f, "{}", format_rfc3339(seconds))
            }
            Self::Refused => f.write_str("no clock"),
        }
    }
}

/// Seconds (and nanoseconds) since the Unix epoch of an RFC 3339 time:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. `None` for anything else.
#[must_use]
pub fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let b = text.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, set: &[u8]| b.get(i).is_some_and(|c| set.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = b.get(19..)?;
    let mut nanos: u32 = 0;
    if rest.first() == Some(&b'.') {
        let digits: Vec<u8> = rest[1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .copied()
            .collect();
        if digits.is_empty() {
            return None;
        }
        for i in 0..9 {
            nanos = nanos * 10 + u32::from(digits.get(i).map_or(0, |d| d - b'0'));
        }
        rest = &rest[1 + digits.len()..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let hours = digit(h1)? * 10 + digit(h2)?;
            let minutes = digit(m1)? * 10 + digit(m2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = hours * 3_600 + minutes * 60;
            if *sign == b'+' {
                magnitude
            } else {
                -magnitude
            }
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some((local - offset, nanos))
}

/// `2026-12-01T00:00:00Z` for a number of seconds since the Unix epoch.
#[must_use]
pub fn format_rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3_600,
        in_day % 3_600 / 60,
        in_day % 60
    )
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil` algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`] (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Notes for the expiring entries of `settings` that `clock` says have
/// expired: an allowlist pattern's `expires` or `breakglassExpires` at or
/// before now matches nothing (valid settings, but worth saying). With
/// [`WasiClock::Refused`], one note that the expiring entries admit nothing.
/// Malformed dates are left to the policy's `validate_settings`.
#[must_use]
pub fn expiry_notes(settings: &serde_json::Value, clock: WasiClock) -> Vec<String> {
    let mut dated: Vec<(String, &str, &str)> = Vec::new();
    if let Some(lists) = settings
        .get("admissionAllowlists")
        .and_then(serde_json::Value::as_array)
    {
        for (i, list) in lists.iter().enumerate() {
            let patterns = list.get("patterns").and_then(serde_json::Value::as_array);
            for (k, pattern) in patterns.into_iter().flatten().enumerate() {
                if let Some(date) = pattern.get("expires").and_then(serde_json::Value::as_str) {
                    dated.push((
                        format!("admissionAllowlists[{i}].patterns[{k}]"),
                        date,
                        "it matches nothing",
                    ));
                }
            }
        }
    }
    if let Some(date) = settings
        .get("breakglassExpires")
        .and_then(serde_json::Value::as_str)
    {
        dated.push((
            "breakglassExpires".to_owned(),
            date,
            "break-glass is refused",
        ));
    }
    // The policy believes no clock before 2020-01-01 (its EARLIEST_PLAUSIBLE).
    let Some(now) = clock.unix_seconds().filter(|&s| s >= 1_577_836_800) else {
        return if dated.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "the module has no usable clock ({clock}): {} expiring entr{} admit nothing",
                dated.len(),
                if dated.len() == 1 { "y" } else { "ies" }
            )]
        };
    };
    dated
        .into_iter()
        .filter_map(|(place, date, effect)| {
            let (at, _) = parse_rfc3339(date)?;
            (at <= now).then(|| format!("{place} expired at {date}: {effect}"))
        })
        .collect()
}

/// WASI module names whose `clock_time_get` is shimmed (preview 1, and the
/// older `wasi_unstable` that wasmtime-provider also links).
const WASI_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "wasi_unstable"];

/// One `clock_time_get` import of the module.
#[derive(Debug, Clone, Copy)]
struct ClockImport {
    /// Its index in the function index space.
    func: u32,
    /// Its type (checked to be `(i32, i64, i32) -> i32`).
    ty: u32,
}

/// Returns the module to compile for `clock`: `bytes` unchanged for
/// [`WasiClock::Host`] or a module that imports no `clock_time_get`,
/// otherwise the module with its realtime clock shimmed (see the module's
/// documentation).
///
/// # Errors
/// A module that cannot be parsed, whose `clock_time_get` import has an
/// unexpected type, or that has no 32-bit memory 0 to write the time to.
pub fn instrument(bytes: &[u8], clock: WasiClock) -> Result<Vec<u8>> {
    if clock == WasiClock::Host {
        return Ok(bytes.to_vec());
    }
    if !bytes.starts_with(b"\0asm") {
        bail!("a fixed clock (--now) needs a binary WebAssembly module, not WAT text");
    }
    let binary = bytes;
    let scan = scan(binary)?;
    if scan.imports.is_empty() {
        return Ok(binary.to_vec());
    }
    let mut shim = ClockShim {
        imports: scan.imports,
        first_shim: scan.functions,
        clock,
    };
    let mut module = wasm_encoder::Module::new();
    shim.parse_core_module(&mut module, wasmparser::Parser::new(0), binary)
        .map_err(|e| anyhow!("cannot rewrite the module's clock: {e}"))?;
    let out = module.finish();
    wasmparser::Validator::new()
        .validate_all(&out)
        .map_err(|e| anyhow!("the module with a fixed clock does not validate: {e}"))?;
    Ok(out)
}

struct Scan {
    imports: Vec<ClockImport>,
    /// Functions in the module (imported and defined): the first shim's index.
    functions: u32,
}

fn scan(binary: &[u8]) -> Result<Scan> {
    use wasmparser::{Payload, TypeRef, ValType};
    let mut types: Vec<Option<wasmparser::FuncType>> = Vec::new();
    let mut imports = Vec::new();
    let mut functions: u32 = 0;
    let mut memory0: Option<bool> = None;
    let mut has_code = false;
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        match payload? {
            Payload::TypeSection(section) => {
                for group in section {
                    for sub in group?.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import?;
                    match import.ty {
                        TypeRef::Func(ty) | TypeRef::FuncExact(ty) => {
                            if WASI_MODULES.contains(&import.module)
                                && import.name == "clock_time_get"
                            {
                                imports.push(ClockImport {
                                    func: functions,
                                    ty,
                                });
                            }
                            functions += 1;
                        }
                        TypeRef::Memory(m) if memory0.is_none() => memory0 = Some(m.memory64),
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(section) => {
                has_code = true;
                functions += section.count();
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    let memory = memory?;
                    if memory0.is_none() {
                        memory0 = Some(memory.memory64);
                    }
                }
            }
            _ => {}
        }
    }
    if imports.is_empty() {
        return Ok(Scan { imports, functions });
    }
    let wanted = [ValType::I32, ValType::I64, ValType::I32];
    for import in &imports {
        let ok = types
            .get(import.ty as usize)
            .and_then(Option::as_ref)
            .is_some_and(|f| f.params() == wanted && f.results() == [ValType::I32]);
        if !ok {
            bail!("the module imports clock_time_get with a type other than WASI's (i32, i64, i32) -> i32");
        }
    }
    match memory0 {
        Some(false) => {}
        Some(true) => {
            bail!("the module's memory is 64-bit: WASI preview 1 clocks write to a 32-bit memory")
        }
        None => bail!("the module imports clock_time_get but has no memory to receive the time"),
    }
    if !has_code {
        bail!("the module defines no function: nothing calls its clock");
    }
    Ok(Scan { imports, functions })
}

/// The rewriter: references to a `clock_time_get` import become references
/// to its shim; the shims are appended to the function and code sections.
struct ClockShim {
    imports: Vec<ClockImport>,
    first_shim: u32,
    clock: WasiClock,
}

impl ClockShim {
    /// `(id, precision, ptr) -> errno`: REALTIME (id 0) answered here,
    /// other clocks by the real import.
    fn body(&self, import: ClockImport) -> Function {
        let mut f = Function::new([]);
        let mut sink = f.instructions();
        sink.local_get(0)
            .i32_eqz()
            .if_(BlockType::Result(wasm_encoder::ValType::I32));
        match self.clock {
            WasiClock::Fixed { nanos } => {
                sink.local_get(2)
                    .i64_const(i64::from_ne_bytes(nanos.to_ne_bytes()))
                    .i64_store(MemArg {
                        offset: 0,
                        align: 3,
                        memory_index: 0,
                    })
                    .i32_const(0);
            }
            WasiClock::Refused | WasiClock::Host => {
                sink.i32_const(ERRNO_NOTSUP);
            }
        }
        sink.else_()
            .local_get(0)
            .local_get(1)
            .local_get(2)
            .call(import.func)
            .end()
            .end();
        f
    }
}

impl Reencode for ClockShim {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, ReencodeError<Self::Error>> {
        Ok(self
            .imports
            .iter()
            .position(|i| i.func == func)
            .and_then(|n| u32::try_from(n).ok())
            .map_or(func, |n| self.first_shim + n))
    }

    fn parse_function_section(
        &mut self,
        functions: &mut FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_function_section(self, functions, section)?;
        for import in &self.imports {
            functions.function(import.ty);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_code_section(self, code, section)?;
        for import in self.imports.clone() {
            code.function(&self.body(import));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        assert_eq!(
            parse_rfc3339("2026-12-01T00:00:00Z"),
            Some((1_796_083_200, 0))
        );
        assert_eq!(
            parse_rfc3339("2026-12-01T01:00:00.5+01:00"),
            Some((1_796_083_200, 500_000_000))
        );
        assert_eq!(format_rfc3339(1_796_083_200), "2026-12-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for bad in [
            "",
            "2026-12-01",
            "2026-02-30T00:00:00Z",
            "2026-12-01T00:00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn now_flag() {
        assert_eq!(WasiClock::parse("none").ok(), Some(WasiClock::Refused));
        assert_eq!(
            WasiClock::parse("1970-01-01T00:00:01Z").ok(),
            Some(WasiClock::Fixed {
                nanos: 1_000_000_000
            })
        );
        assert!(WasiClock::parse("yesterday").is_err());
        assert!(WasiClock::parse("1969-12-31T23:59:59Z").is_err());
    }
}
