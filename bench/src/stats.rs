//! Timing samples, their summary (median, p99) and how times and ratios are
//! written in the report.

use std::time::{Duration, Instant};

use anyhow::Result;

/// Fewest samples a measurement takes, whatever the time budget.
pub const MIN_SAMPLES: usize = 20;

/// Summary of one measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Samples taken.
    pub n: usize,
    /// Median, seconds.
    pub median: f64,
    /// 99th percentile (nearest rank), seconds.
    pub p99: f64,
}

impl Stats {
    /// Summarises samples (seconds).
    ///
    /// # Panics
    ///
    /// `samples` is empty (a measurement always takes at least one).
    #[must_use]
    pub fn of(mut samples: Vec<f64>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        let rank = (0.99 * n as f64).ceil() as usize;
        Stats {
            n,
            median,
            p99: samples[rank.clamp(1, n) - 1],
        }
    }
}

/// Runs `f` (after `warmup` untimed runs) until `max` samples are taken, or
/// `budget` is spent once [`MIN_SAMPLES`] are.
///
/// # Errors
///
/// The first error of `f`.
pub fn measure(
    max: usize,
    budget: Duration,
    warmup: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Stats> {
    for _ in 0..warmup {
        f()?;
    }
    let mut samples = Vec::with_capacity(max);
    let start = Instant::now();
    while samples.len() < max.max(1) {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed().as_secs_f64());
        if samples.len() >= MIN_SAMPLES && start.elapsed() >= budget {
            break;
        }
    }
    Ok(Stats::of(samples))
}

/// `1.50 µs`, `150.0 µs`, `4.56 ms`, `150.0 ms`, `1.20 s`: three
/// significant digits.
#[must_use]
pub fn fmt_time(seconds: f64) -> String {
    let us = seconds * 1e6;
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 10_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

/// `1.25×`, `12.5×`.
#[must_use]
pub fn fmt_ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.2}×")
    } else {
        format!("{r:.1}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_and_p99() {
        let s = Stats::of((1..=100).map(f64::from).collect());
        assert_eq!(s.n, 100);
        assert_eq!(s.median, 50.5);
        assert_eq!(s.p99, 99.0);
        let s = Stats::of(vec![3.0, 1.0, 2.0]);
        assert_eq!(s.median, 2.0);
        assert_eq!(s.p99, 3.0);
    }

    #[test]
    fn time_format() {
        assert_eq!(fmt_time(1.5e-6), "1.50 µs");
        assert_eq!(fmt_time(150e-6), "150.0 µs");
        assert_eq!(fmt_time(1.5e-3), "1.50 ms");
        assert_eq!(fmt_time(0.15), "150.0 ms");
        assert_eq!(fmt_time(1.2), "1.20 s");
    }

    #[test]
    fn ratio_format() {
        assert_eq!(fmt_ratio(1.254), "1.25×");
        assert_eq!(fmt_ratio(12.54), "12.5×");
    }

    #[test]
    fn measure_takes_at_least_min_samples_and_at_most_max() {
        let mut calls = 0;
        let s = measure(1000, Duration::ZERO, 2, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.n, MIN_SAMPLES);
        assert_eq!(calls, MIN_SAMPLES + 2);
        let s = measure(5, Duration::from_secs(60), 0, || Ok(())).unwrap();
        assert_eq!(s.n, 5);
    }

    #[test]
    fn measure_stops_at_the_first_error() {
        let err = measure(10, Duration::ZERO, 0, || anyhow::bail!("boom")).unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }
}
