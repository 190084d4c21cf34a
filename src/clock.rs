//! Time for expiring exceptions: RFC 3339 UTC dates in the settings, and
//! the host's wall clock.
//!
//! The dates are parsed by hand: the policy needs one format (UTC, as the
//! settings demand) turned into seconds, which is forty lines; a date crate
//! would add its formatting and time-zone code to a module instantiated
//! for every admission.

use core::fmt;

/// Why a date in the settings is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateError;

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("is not an RFC 3339 UTC time such as 2026-12-31T00:00:00Z")
    }
}

/// Seconds since the Unix epoch of an RFC 3339 time in UTC:
/// `YYYY-MM-DDTHH:MM:SS[.fraction]` followed by `Z` (or `+00:00`). The
/// fraction is ignored (the clock is read to the second).
///
/// # Errors
/// [`DateError`] for any other text, an impossible date, or another offset.
pub fn parse_rfc3339(text: &str) -> Result<i64, DateError> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(DateError);
    }
    let num = |range: core::ops::Range<usize>| -> Result<i64, DateError> {
        let digits = b.get(range).ok_or(DateError)?;
        digits.iter().try_fold(0i64, |n, &d| {
            if d.is_ascii_digit() {
                Ok(n * 10 + i64::from(d - b'0'))
            } else {
                Err(DateError)
            }
        })
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return Err(DateError);
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(DateError);
        }
        rest = &rest[1 + digits..];
    }
    if !matches!(rest, b"Z" | b"z" | b"+00:00") {
        return Err(DateError);
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(DateError),
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err(DateError);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "in 3 days", "in 5 hours", "in 20 minutes": how long until an expiry.
#[must_use]
pub fn remaining(seconds: i64) -> String {
    let (n, unit) = match seconds {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s => ((s / 60).max(1), "minute"),
    };
    format!("in {n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Earliest wall-clock reading believed: a clock that says it is before
/// this (2020-01-01) is not a clock, and expiring entries are then refused.
pub const EARLIEST_PLAUSIBLE: i64 = 1_577_836_800;

/// The host's wall clock, in seconds since the Unix epoch, if it has a
/// usable one.
///
/// In the module, WASI's `clock_time_get` is called directly: the standard
/// library's `SystemTime::now` panics when the host refuses the clock, and
/// the policy must say "no clock" and fail closed instead of trapping.
#[must_use]
pub fn system_now() -> Option<i64> {
    let seconds = read_clock()?;
    (seconds >= EARLIEST_PLAUSIBLE).then_some(seconds)
}

#[cfg(target_os = "wasi")]
fn read_clock() -> Option<i64> {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
    }
    const REALTIME: u32 = 0;
    let mut nanos: u64 = 0;
    // SAFETY: `clock_time_get` writes one u64 through the pointer, which
    // points at a live local of that type.
    #[allow(unsafe_code)]
    let errno = unsafe { clock_time_get(REALTIME, 1_000_000_000, &mut nanos) };
    if errno != 0 {
        return None;
    }
    i64::try_from(nanos / 1_000_000_000).ok()
}

#[cfg(not(target_os = "wasi"))]
fn read_clock() -> Option<i64> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    i64::try_from(d.as_secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_utc_only() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2026-12-01T00:00:00Z"), Ok(1_796_083_200));
        assert_eq!(parse_rfc3339("2024-02-29T23:59:59.999Z"), Ok(1_709_251_199));
        assert_eq!(
            parse_rfc3339("2026-12-01T00:00:00+00:00"),
            Ok(1_796_083_200)
        );
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01T00:00:00",
            "2026-12-01T00:00:00+01:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-12-01 00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T00:00:00.Z",
            "２026-12-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), Err(DateError), "{bad}");
        }
    }

    #[test]
    fn the_native_clock_is_plausible() {
        assert!(system_now().is_some_and(|t| t > EARLIEST_PLAUSIBLE));
    }
}
