//! The targets of the latest run of an earlier day, carried from the results
//! file a run replaces.
//!
//! Wasm and native code slow down differently from one day to the next on
//! the same machine class (RSA measured 10.6× OpenSSL one day, 17.1× another),
//! so targets are judged on two runs on different days. Each run reads the
//! file it is about to overwrite: a run of an earlier day gives its targets
//! table; a run of the same day passes on the earlier day it carried.

/// The heading of the carried section.
pub const HEADING: &str = "## Targets on an earlier day";

/// The body of the carried section for a run on `today` (`YYYY-MM-DD…`),
/// from the `previous` results file; `None` when it holds no earlier day.
#[must_use]
pub fn carried(previous: &str, today: &str) -> Option<String> {
    let date = previous
        .lines()
        .find_map(|l| l.strip_prefix("| date | "))?
        .trim_end_matches(" |")
        .trim();
    if date.get(..10)? == today.get(..10)? {
        return section(previous, HEADING).map(str::to_owned);
    }
    let targets = section(previous, "## Targets")?;
    let load = previous
        .lines()
        .find_map(|l| l.strip_prefix("| load average (1 min) at start | "))
        .map_or("unknown", |l| l.trim_end_matches(" |").trim());
    let module = previous
        .lines()
        .find_map(|l| l.strip_prefix("| module | "))
        .and_then(|l| l.split(", ").nth(1)?.split_once(" bytes"))
        .map_or(String::new(), |(n, _)| {
            format!(", module of that day {n} bytes")
        });
    let breakdown = section(previous, "## Where the time goes (medians)")
        .map_or(String::new(), |b| {
            format!("\n\nWhere the time went that day:\n\n{b}")
        });
    Some(format!(
        "The run of {date} (load average at start {load}{module}), as the results file of that \
         run reported it:\n\n{targets}{breakdown}"
    ))
}

/// The text under `heading` (a whole line), up to the next `## ` heading.
fn section<'a>(text: &'a str, heading: &str) -> Option<&'a str> {
    let start = text
        .match_indices(heading)
        .find(|&(i, _)| {
            (i == 0 || text[..i].ends_with('\n')) && text[i + heading.len()..].starts_with('\n')
        })?
        .0
        + heading.len();
    let body = &text[start..];
    let end = body.find("\n## ").map_or(body.len(), |e| e + 1);
    let body = body[..end].trim();
    (!body.is_empty()).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY1: &str = "# Benchmark\n\n## Machine and build\n\n| | |\n|---|---|\n\
        | date | 2026-12-01 23:43 UTC |\n| load average (1 min) at start | 0.41 |\n\
        | module | `/w/policy.wasm`, 672013 bytes; wasm features: x |\n\n\
        ## Targets\n\n| target | measured | |\n|---|---|---|\n| RSA | 5× | met |\n\n\
        ## Where the time goes (medians)\n\n* x\n";

    #[test]
    fn a_run_of_an_earlier_day_is_carried() {
        let body = carried(DAY1, "2026-12-02 01:00 UTC").unwrap();
        assert_eq!(
            body,
            "The run of 2026-12-01 23:43 UTC (load average at start 0.41, module of that day \
             672013 bytes), as the results file of that run reported it:\n\n\
             | target | measured | |\n|---|---|---|\n| RSA | 5× | met |\n\n\
             Where the time went that day:\n\n* x"
        );
    }

    #[test]
    fn a_run_of_the_same_day_passes_on_what_it_carried() {
        let day2 = format!(
            "| date | 2026-12-02 01:00 UTC |\n\n## Targets\n\n| t | 9× |\n\n{HEADING}\n\nday one\n\n## Method\n"
        );
        assert_eq!(carried(&day2, "2026-12-02 03:00 UTC").unwrap(), "day one");
        // Same day, nothing carried: nothing to pass on.
        assert_eq!(carried(DAY1, "2026-12-01 23:59 UTC"), None);
        assert_eq!(carried("not a results file", "2026-12-02"), None);
    }
}
