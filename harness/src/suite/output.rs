//! What `policy-harness test` prints: one line per case and a summary, or
//! JUnit XML for CI systems.

use std::fmt::Write as _;
use std::time::Duration;

use crate::suite::runner::{cut, CaseStatus, Report, SuiteReport};

/// Longest reason printed on a case line.
const MAX_REASON: usize = 2000;

/// The text report:
///
/// ```text
/// suite examples/policy-repo/policy-tests.yaml
///   policy: …/cluster-admission-policy.yaml (ClusterAdmissionPolicy kritis-attestations)
///   module: policy.wasm
///   PASS deployment attested by build
///   FAIL tag is rejected: allowed: expected false, got true
/// summary: 1 suite(s), 2 case(s): 1 passed, 1 failed, 0 not run
/// ```
#[must_use]
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let mut golden_module: Option<Option<&String>> = None;
    for suite in &report.suites {
        if suite.golden {
            // Golden cases: one line each, under one header per module.
            if golden_module != Some(suite.module.as_ref()) {
                let _ = writeln!(
                    out,
                    "golden cases (module {})",
                    suite.module.as_deref().unwrap_or("none")
                );
                golden_module = Some(suite.module.as_ref());
            }
        } else {
            golden_module = None;
            let _ = writeln!(out, "suite {}", suite.source);
            if suite.name != suite.source {
                let _ = writeln!(out, "  name: {}", suite.name);
            }
            if let Some(policy) = &suite.policy {
                let _ = writeln!(out, "  policy: {policy}");
            }
            if let Some(module) = &suite.module {
                let _ = writeln!(out, "  module: {module}");
            }
        }
        if let Some(error) = &suite.error {
            let what = if suite.golden {
                suite.source.as_str()
            } else {
                "(suite)"
            };
            let _ = writeln!(out, "  FAIL {what}: {}", cut(error, MAX_REASON));
        }
        for case in &suite.cases {
            let note = case
                .not_sent
                .as_ref()
                .map_or_else(String::new, |r| format!(" (not sent to the policy: {r})"));
            let _ = match &case.status {
                CaseStatus::Passed => writeln!(out, "  PASS {}{note}", case.name),
                CaseStatus::Failed(problems) => writeln!(
                    out,
                    "  FAIL {}: {}",
                    case.name,
                    cut(&problems.join("; "), MAX_REASON)
                ),
                CaseStatus::NotRun(why) => writeln!(out, "  SKIP {}: not run, {why}", case.name),
            };
        }
    }
    let (cases, passed, failed, not_run, errors) = report.counts();
    let _ = write!(
        out,
        "summary: {} suite(s), {cases} case(s): {passed} passed, {failed} failed, {not_run} not run",
        report.suites.len()
    );
    if errors > 0 {
        let _ = write!(out, ", {errors} suite error(s)");
    }
    let _ = writeln!(out, "{}", if report.passed() { "" } else { " — FAILED" });
    out
}

/// JUnit XML (`<testsuites>`, one `<testsuite>` per suite, one `<testcase>`
/// per case; a failure of the suite itself is a `<testcase name="(suite)">`
/// with an `<error>`; cases not run are `<skipped>`).
#[must_use]
pub fn render_junit(report: &Report) -> String {
    let (cases, _, failed, not_run, errors) = report.counts();
    let total_time: Duration = report.suites.iter().map(|s| s.duration).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"policy-harness\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\" skipped=\"{not_run}\" time=\"{}\">",
        cases + errors,
        seconds(total_time)
    );
    for suite in &report.suites {
        render_suite(&mut out, suite);
    }
    out.push_str("</testsuites>\n");
    out
}

fn render_suite(out: &mut String, suite: &SuiteReport) {
    let errors = usize::from(suite.error.is_some());
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" skipped=\"{}\" time=\"{}\">",
        xml(&suite.name),
        suite.cases.len() + errors,
        suite.failed(),
        suite.not_run(),
        seconds(suite.duration)
    );
    out.push_str("    <properties>\n");
    let _ = writeln!(
        out,
        "      <property name=\"source\" value=\"{}\"/>",
        xml(&suite.source)
    );
    if let Some(policy) = &suite.policy {
        let _ = writeln!(
            out,
            "      <property name=\"policy\" value=\"{}\"/>",
            xml(policy)
        );
    }
    if let Some(module) = &suite.module {
        let _ = writeln!(
            out,
            "      <property name=\"module\" value=\"{}\"/>",
            xml(module)
        );
    }
    out.push_str("    </properties>\n");
    let classname = xml(&suite.name);
    if let Some(error) = &suite.error {
        let _ = writeln!(
            out,
            "    <testcase name=\"(suite)\" classname=\"{classname}\" time=\"0.000\">\n      <error message=\"{}\" type=\"suite\">{}</error>\n    </testcase>",
            xml(&cut(error, 500)),
            xml(error)
        );
    }
    for case in &suite.cases {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{classname}\" time=\"{}\"",
            xml(&case.name),
            seconds(case.duration)
        );
        match &case.status {
            CaseStatus::Passed => match &case.not_sent {
                Some(reason) => {
                    let _ = writeln!(
                        out,
                        ">\n      <system-out>not sent to the policy: {}</system-out>\n    </testcase>",
                        xml(reason)
                    );
                }
                None => out.push_str("/>\n"),
            },
            CaseStatus::Failed(problems) => {
                let mut body = problems.join("\n");
                if let Some(actual) = &case.actual {
                    body.push_str("\nactual: ");
                    body.push_str(actual);
                }
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>",
                    xml(&cut(&problems.join("; "), 500)),
                    xml(&body)
                );
            }
            CaseStatus::NotRun(why) => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"not run, {}\"/>\n    </testcase>",
                    xml(why)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n");
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot
/// hold (most C0 controls) become U+FFFD.
#[must_use]
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::runner::CaseReport;

    fn report() -> Report {
        let case = |name: &str, status: CaseStatus| CaseReport {
            name: name.to_owned(),
            status,
            not_sent: None,
            actual: Some("{\"allowed\": true}".to_owned()),
            duration: Duration::from_millis(5),
        };
        Report {
            suites: vec![
                SuiteReport {
                    name: "cluster <policy>".into(),
                    source: "policy-tests.yaml".into(),
                    golden: false,
                    policy: Some("p.yaml (ClusterAdmissionPolicy k)".into()),
                    module: Some("policy.wasm".into()),
                    error: None,
                    cases: vec![
                        case("admits", CaseStatus::Passed),
                        CaseReport {
                            not_sent: Some(
                                "no rule of spec.rules matches CREATE core/v1 configmaps".into(),
                            ),
                            ..case("configmap", CaseStatus::Passed)
                        },
                        case(
                            "rejects \"tags\"",
                            CaseStatus::Failed(vec![
                                "allowed: expected false, got true".into(),
                                "message: expected to contain \"a & b\"".into(),
                            ]),
                        ),
                    ],
                    duration: Duration::from_millis(20),
                },
                SuiteReport {
                    name: "broken".into(),
                    source: "broken-test.yaml".into(),
                    golden: false,
                    policy: None,
                    module: Some("policy.wasm".into()),
                    error: Some("settings are not valid: p.yaml: spec.settings.x: bad\u{1}".into()),
                    cases: vec![case(
                        "c",
                        CaseStatus::NotRun("the settings are not valid".into()),
                    )],
                    duration: Duration::ZERO,
                },
            ],
        }
    }

    #[test]
    fn text_has_one_line_per_case_and_a_summary() {
        let text = render_text(&report());
        for line in [
            "suite policy-tests.yaml",
            "  name: cluster <policy>",
            "  policy: p.yaml (ClusterAdmissionPolicy k)",
            "  PASS admits",
            "  PASS configmap (not sent to the policy: no rule of spec.rules matches CREATE core/v1 configmaps)",
            "  FAIL rejects \"tags\": allowed: expected false, got true; message: expected to contain \"a & b\"",
            "  FAIL (suite): settings are not valid: p.yaml: spec.settings.x: bad\u{1}",
            "  SKIP c: not run, the settings are not valid",
            "summary: 2 suite(s), 4 case(s): 2 passed, 1 failed, 1 not run, 1 suite error(s) — FAILED",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
        }
    }

    #[test]
    fn junit_is_escaped_and_counts_everything() {
        let xml_text = render_junit(&report());
        for needle in [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<testsuites name=\"policy-harness\" tests=\"5\" failures=\"1\" errors=\"1\" skipped=\"1\"",
            "<testsuite name=\"cluster &lt;policy&gt;\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\"",
            "<property name=\"module\" value=\"policy.wasm\"/>",
            "<testcase name=\"admits\" classname=\"cluster &lt;policy&gt;\" time=\"0.005\"/>",
            "<system-out>not sent to the policy: no rule of spec.rules matches CREATE core/v1 configmaps</system-out>",
            "<testcase name=\"rejects &quot;tags&quot;\"",
            "<failure message=\"allowed: expected false, got true; message: expected to contain &quot;a &amp; b&quot;\" type=\"expectation\">",
            "actual: {&quot;allowed&quot;: true}</failure>",
            "<testcase name=\"(suite)\" classname=\"broken\" time=\"0.000\">",
            "<error message=\"settings are not valid: p.yaml: spec.settings.x: bad\u{FFFD}\" type=\"suite\">",
            "<skipped message=\"not run, the settings are not valid\"/>",
            "</testsuites>",
        ] {
            assert!(xml_text.contains(needle), "{needle:?} missing:\n{xml_text}");
        }
        assert!(!xml_text.contains('\u{1}'));
        assert_eq!(xml_text.matches("<testcase ").count(), 5);
        assert_eq!(xml_text.matches("</testsuite>").count(), 2);
    }
}
