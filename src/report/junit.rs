//! JUnit XML for CI: one `<testsuite>` per scenario run, one `<testcase>` per check, failures
//! as `<failure>` (anchoring is wrong) and harness trouble as `<error>` (undecided).
//!
//! Each case carries its evidence once: a failure or an error in the body of its `<failure>` /
//! `<error>` element (GitLab and others show the body, not the `message` attribute), a pass or
//! a skip in its `system-out`. A suite's `time` is the run's wall time, not the sum of its
//! concurrent checks, and its `<properties>` are the vantage facts (also in its `system-out`).
//!
//! The output validates against the Jenkins xUnit `junit-10.xsd`. junit-report already writes
//! every attribute that schema requires (`name`, `tests`, `failures`, `errors` on a suite,
//! `name` on a case), plain decimal times (Rust's `f64` `Display` never uses an exponent, so
//! `SUREFIRE_TIME` holds) and children in an order the schema's `xs:choice` accepts. What it
//! does not do is make arbitrary text safe for XML, so every string is cleaned before it is
//! handed over (see [`xml_chars`] and [`cdata`]). What it cannot be told is a suite's time (it
//! sums the cases') and its properties, so [`finish_suites`] reads its output back as XML events
//! and puts both into each suite's start.

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use junit_report::{OffsetDateTime, Report, TestCase, TestResult, TestSuite};
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::name::QName;
use time::format_description::well_known::Rfc3339;

use super::{ReportError, evidence};
use crate::outcome::{HostEvidence, Outcome, Proof, RunReport, ScenarioRun, Status};

/// Writes `report` as JUnit XML (with a trailing newline).
pub fn write(report: &RunReport, mut out: impl Write) -> Result<(), ReportError> {
    let mut junit = Report::new();
    let mut finishes = Vec::new();
    for run in &report.runs {
        junit.add_testsuite(suite(run)?);
        finishes.push(SuiteFinish {
            wall: run.elapsed,
            properties: vantage_facts(run),
        });
    }
    let mut xml = Vec::new();
    junit.write_xml(&mut xml).map_err(|e| match e {
        junit_report::Error::Io(e) => ReportError::Io(e),
        xml @ junit_report::Error::Xml(_) => ReportError::Xml(xml),
    })?;
    let xml = finish_suites(&String::from_utf8_lossy(&xml), &finishes)?;
    out.write_all(&xml)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// What junit-report cannot write into a suite: its run's wall time and its properties.
struct SuiteFinish {
    wall: Duration,
    properties: Vec<(&'static str, String)>,
}

/// junit-report's XML with each suite's summed `time` replaced by its run's wall time and its
/// `<properties>` first among its children. The XML is read as events, so no text inside a
/// case (an echo body, a header) can be taken for a suite's tag.
fn finish_suites(xml: &str, finishes: &[SuiteFinish]) -> Result<Vec<u8>, ReportError> {
    let xml_error = |e: quick_xml::Error| ReportError::Xml(junit_report::Error::Xml(e));
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(xml.len() + 1024));
    let mut depth = 0usize;
    let mut finishes = finishes.iter();
    loop {
        let event = reader.read_event().map_err(xml_error)?;
        // A suite is a child of the one `<testsuites>`.
        let suite_start = |e: &BytesStart| depth == 1 && e.name().as_ref() == b"testsuite";
        match event {
            Event::Eof => break,
            Event::Start(e) if suite_start(&e) => {
                depth += 1;
                let finish = finishes.next();
                writer.write_event(Event::Start(with_wall_time(&e, finish)?))?;
                write_properties(&mut writer, finish)?;
            }
            Event::Empty(e) if suite_start(&e) => {
                let finish = finishes.next();
                writer.write_event(Event::Start(with_wall_time(&e, finish)?))?;
                write_properties(&mut writer, finish)?;
                writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
            }
            Event::Start(e) => {
                depth += 1;
                writer.write_event(Event::Start(e))?;
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                writer.write_event(Event::End(e))?;
            }
            other => writer.write_event(other)?,
        }
    }
    Ok(writer.into_inner())
}

/// A suite's start tag with `time` set to the run's wall time; the other attributes as written.
fn with_wall_time(
    start: &BytesStart,
    finish: Option<&SuiteFinish>,
) -> Result<BytesStart<'static>, ReportError> {
    let Some(finish) = finish else {
        return Ok(start.clone().into_owned());
    };
    let wall = junit_time(finish.wall).as_seconds_f64().to_string();
    let mut out = BytesStart::new("testsuite");
    for attribute in start.attributes() {
        let attribute = attribute
            .map_err(|e| ReportError::Xml(junit_report::Error::Xml(quick_xml::Error::from(e))))?;
        if attribute.key.as_ref() == b"time" {
            out.push_attribute(Attribute {
                key: QName(b"time"),
                value: Cow::Borrowed(wall.as_bytes()),
            });
        } else {
            out.push_attribute(attribute);
        }
    }
    Ok(out)
}

/// `<properties>` with one `<property name value>` per vantage fact (quick-xml escapes them).
fn write_properties(
    writer: &mut quick_xml::Writer<Vec<u8>>,
    finish: Option<&SuiteFinish>,
) -> std::io::Result<()> {
    let Some(finish) = finish else {
        return Ok(());
    };
    writer
        .create_element("properties")
        .write_inner_content(|w| {
            for (name, value) in &finish.properties {
                w.create_element("property")
                    .with_attributes([("name", *name), ("value", attr(value).as_str())])
                    .write_empty()?;
            }
            Ok(())
        })
        .map(drop)
}

/// The vantage facts of a run, each a name and a value: a suite's properties and the first
/// lines of its `system-out`.
fn vantage_facts(run: &ScenarioRun) -> Vec<(&'static str, String)> {
    let v = &run.vantage;
    let none = || "none".to_string();
    let list = |items: &[String]| {
        if items.is_empty() {
            none()
        } else {
            items.join(", ")
        }
    };
    [
        ("scenario", run.scenario.clone()),
        ("source", run.source.clone()),
        ("vantage", v.name.clone()),
        ("hostname", v.hostname.clone()),
        ("os", v.os.clone()),
        ("sipa-check version", v.sipa_check_version.clone()),
        (
            "resolvers",
            if v.resolvers.is_empty() {
                "system".to_string()
            } else {
                v.resolvers.join(", ")
            },
        ),
        ("proxy", v.proxy.clone().unwrap_or_else(none)),
        ("local addresses", list(&v.local_addresses)),
        ("trust store problems", list(&v.trust_store_problems)),
        ("vantage warnings", list(&v.warnings)),
        ("expect_anchored", v.expect_anchored.to_string()),
        ("anchors", list(&run.anchors)),
        ("started_at", v.started_at.clone()),
        ("cut_short", run.cut_short.clone().unwrap_or_else(none)),
    ]
    .into_iter()
    .chain(v.bind.clone().map(|b| ("bind", b)))
    .collect()
}

fn suite(run: &ScenarioRun) -> Result<TestSuite, ReportError> {
    let v = &run.vantage;
    let mut suite = TestSuite::new(&attr(&format!("{} @ {}", run.scenario, v.name)));
    suite.hostname = attr(&v.hostname);
    // A start time that does not parse is a producer bug; the epoch is obviously wrong rather
    // than plausibly wrong, and the raw value is still in the suite's system-out.
    suite.timestamp =
        OffsetDateTime::parse(&v.started_at, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);

    let facts = vantage_facts(run);
    let system_out: String = facts
        .iter()
        .map(|(key, value)| format!("{key}: {value}\n"))
        .collect();
    suite.set_system_out(&cdata(&system_out));

    for o in &run.checks {
        suite.add_testcase(case(run, o)?);
    }
    // A failed run's problems speak first, as on the terminal; the JSON keeps the evidence.
    if run.tally.failed == 0 {
        for e in &run.evidence {
            if let Some(unproven) = path_only_case(run, e) {
                suite.add_testcase(unproven);
            }
        }
    }
    Ok(suite)
}

/// A login host proven only by the shared path, in a run without failures: a skipped case that
/// says so, which CI shows as a warning. None when the run already made it an error (`--require
/// per-host`) or it is proven.
fn path_only_case(run: &ScenarioRun, e: &HostEvidence) -> Option<TestCase> {
    let name = format!("{}:{} per-host evidence ({})", e.host, e.port, e.route);
    if e.proof != Proof::PathOnly || run.checks.iter().any(|o| o.name == name) {
        return None;
    }
    let why = format!(
        "path only: a canary proves the shared path, not that {} is in the segment on port {}; \
         an echo on the host or Entra's sign-in log would prove it",
        e.host, e.port
    );
    let mut case = TestCase::skipped_with_cause(&attr(&name), "evidence", &attr(&why));
    case.set_classname(&attr(&format!("sipa-check.{}.evidence", run.scenario)));
    Some(case)
}

fn case(run: &ScenarioRun, o: &Outcome) -> Result<TestCase, ReportError> {
    let name = attr(&o.name);
    let time = junit_time(o.elapsed);
    // The message is the one-line headline; the evidence is in the body, once.
    let message = || {
        let mut m = o.reason.clone();
        if let Some(d) = &o.diagnosis {
            m.push_str(" — ");
            m.push_str(&d.likely_cause);
            m.push_str(" [cause ");
            m.push_str(d.cause.id());
            m.push(']');
        }
        attr(&m)
    };
    let stage = o.stage.to_string();
    let body = || evidence_block(o).map(|text| Some(cdata(&text)));
    let mut case = match o.status {
        Status::Skip => TestCase::skipped_with_cause(&name, &stage, &attr(&o.reason)),
        Status::Pass | Status::Fail | Status::Error => TestCase::success(&name, time),
    };
    match o.status {
        Status::Fail => {
            case.result = TestResult::Failure {
                type_: stage,
                message: message(),
                cause: body()?,
            }
        }
        Status::Error => {
            case.result = TestResult::Error {
                type_: stage,
                message: message(),
                cause: body()?,
            }
        }
        Status::Pass | Status::Skip => case.set_system_out(&cdata(&evidence_block(o)?)),
    }
    // junit-report gives skipped cases no time; the time spent deciding to skip is still real.
    case.time = time;
    case.set_classname(&attr(&format!("sipa-check.{}.{}", run.scenario, o.stage)));
    Ok(case)
}

/// The check's evidence, one `key value` row per line, ending with the observation as JSON.
fn evidence_block(o: &Outcome) -> Result<String, ReportError> {
    let mut rows = vec![("status", o.status.label().to_string())];
    rows.extend(evidence(o));
    rows.push(("time", format!("{:.1}ms", o.elapsed.as_secs_f64() * 1000.0)));
    let observation = serde_json::to_string(&o.observation).map_err(std::io::Error::from)?;
    rows.push(("observation", observation));

    let mut text = String::new();
    for (key, value) in rows {
        let mut lines = value.lines();
        text.push_str(&format!("{key:<11} {}\n", lines.next().unwrap_or("")));
        for line in lines {
            text.push_str(&format!("{:12}{line}\n", ""));
        }
    }
    Ok(text)
}

/// Whole microseconds, so times read `0.012345` rather than carry float noise.
fn junit_time(d: Duration) -> junit_report::Duration {
    junit_report::Duration::microseconds(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// An attribute value: XML-safe characters on one line (quick-xml escapes `<&"` itself).
pub(crate) fn attr(s: &str) -> String {
    xml_chars(s).replace(['\n', '\r', '\t'], " ")
}

/// Text for a CDATA section: XML-safe characters, and `]]>` (which would end the section
/// early) split across two sections so the reader still sees it verbatim.
pub(crate) fn cdata(s: &str) -> String {
    xml_chars(s).replace("]]>", "]]]]><![CDATA[>")
}

/// Replaces characters XML 1.0 forbids (most C0 controls, such as an ESC from a block page,
/// and the non-characters U+FFFE/U+FFFF) with U+FFFD: one bad byte in the evidence must not
/// make the whole file unreadable for the CI.
fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' => c,
            '\u{10000}'..='\u{10FFFF}' => c,
            _ => '\u{FFFD}',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_text_for_xml() {
        assert_eq!(attr("a\x1bb\nc"), "a\u{FFFD}b c");
        assert_eq!(cdata("x]]>y"), "x]]]]><![CDATA[>y");
    }

    #[test]
    fn times_are_plain_decimals() {
        let t = junit_time(Duration::from_nanos(12_345_678));
        assert_eq!(t.as_seconds_f64().to_string(), "0.012345");
    }
}
