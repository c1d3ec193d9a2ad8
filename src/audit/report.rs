//! The audit's report: a sibling of the run report (same `tool` / `format_version` family), and
//! its renderers: terminal text (problems grouped by guide step), JSON and JUnit (one testsuite
//! `audit`). Each renderer writes to any `impl Write`.

use crate::report::clean;
use std::io::Write;
use std::time::Duration;

use junit_report::{OffsetDateTime, Report, TestCase, TestResult, TestSuite};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use super::judge::AuditCheck;
use crate::guide::GuideStep;
use crate::outcome::{Status, Tally};
use crate::report::ReportError;
use crate::report::junit::{attr, cdata};

/// An App Connector behind the SIPA segment's server group: the anchors ZPA itself describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorAnchor {
    pub name: String,
    pub id: String,
    pub group_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
    pub status: String,
    pub enabled: bool,
}

/// Everything one audit found: what `audit --json` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditReport {
    /// Version of this document's shape (the run report's family).
    pub format_version: u32,
    pub tool: String,
    /// `audit`, to tell this document from a run report.
    pub kind: String,
    pub tool_version: String,
    /// Where the configuration came from: `api`, `snapshot DIR`, plus a plan.
    pub source: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    #[serde(with = "crate::observation::ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// The App Connectors behind the chain's server groups.
    pub connectors: Vec<ConnectorAnchor>,
    /// With `--terraform-plan`: the planned changes merged over what was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_changes: Vec<String>,
    pub checks: Vec<AuditCheck>,
    pub tally: Tally,
    pub overall: Status,
}

impl AuditReport {
    pub const FORMAT_VERSION: u32 = crate::outcome::RunReport::FORMAT_VERSION;

    pub fn new(
        source: String,
        started_at: String,
        elapsed: Duration,
        connectors: Vec<ConnectorAnchor>,
        checks: Vec<AuditCheck>,
    ) -> AuditReport {
        let tally = tally(&checks);
        AuditReport {
            format_version: Self::FORMAT_VERSION,
            tool: "sipa-check".into(),
            kind: "audit".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            source,
            started_at,
            elapsed,
            connectors,
            planned_changes: Vec::new(),
            checks,
            tally,
            overall: tally.overall(),
        }
    }
}

/// Counts per status, as the run report counts them.
pub fn tally(checks: &[AuditCheck]) -> Tally {
    let mut t = Tally {
        total: checks.len(),
        ..Tally::default()
    };
    for c in checks {
        match c.status {
            Status::Pass => t.passed += 1,
            Status::Fail => t.failed += 1,
            Status::Error => t.errors += 1,
            Status::Skip => t.skipped += 1,
        }
        t.warnings += c.warnings.len();
    }
    t
}

fn object_words(c: &AuditCheck) -> Option<String> {
    c.object
        .as_ref()
        .map(|o| format!("{} `{}` (id {})", o.kind, o.name, o.id))
}

/// The terminal report: the problems first, grouped by the guide step that causes them, then
/// the warnings; with `verbose`, every passed check too.
pub fn write_human(
    report: &AuditReport,
    verbose: bool,
    quiet: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if !quiet {
        writeln!(out, "sipa-check audit ({})", clean(&report.source))?;
        if !report.connectors.is_empty() {
            writeln!(
                out,
                "App Connectors behind the SIPA segment's server group:"
            )?;
            for c in &report.connectors {
                writeln!(
                    out,
                    "  {} (id {}): public IP {}, {}{}",
                    clean(&c.name),
                    clean(&c.id),
                    clean(c.public_ip.as_deref().unwrap_or("unknown")),
                    clean(&c.status.to_string()),
                    if c.enabled { "" } else { ", disabled" }
                )?;
            }
        }
        if !report.planned_changes.is_empty() {
            writeln!(out, "Judged as planned, after:")?;
            for c in &report.planned_changes {
                writeln!(out, "  {}", clean(&c.to_string()))?;
            }
        }
        let mut steps: Vec<GuideStep> = report
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| c.guide_step)
            .collect();
        steps.sort();
        steps.dedup();
        for step in steps {
            writeln!(out)?;
            writeln!(out, "{step}:")?;
            for c in report
                .checks
                .iter()
                .filter(|c| c.status != Status::Pass && c.guide_step == step)
            {
                write_check(c, out)?;
            }
        }
        let warned: Vec<&AuditCheck> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Pass && !c.warnings.is_empty())
            .collect();
        if !warned.is_empty() {
            writeln!(out)?;
            writeln!(out, "Warnings:")?;
            for c in warned {
                for w in &c.warnings {
                    writeln!(out, "  WARN {}: {}", clean(&c.name), clean(w))?;
                }
                if let Some(o) = object_words(c) {
                    writeln!(out, "       object: {}", clean(&o))?;
                }
                writeln!(out, "       guide:  {}", c.guide_step)?;
            }
        }
        if verbose {
            writeln!(out)?;
            writeln!(out, "Passed:")?;
            for c in report.checks.iter().filter(|c| c.status == Status::Pass) {
                writeln!(out, "  PASS {}: {}", clean(&c.name), clean(&c.found))?;
            }
        }
        writeln!(out)?;
    }
    let t = &report.tally;
    writeln!(
        out,
        "audit {}: {} checks, {} passed, {} failed, {} errors, {} warnings",
        report.overall.label(),
        t.total,
        t.passed,
        t.failed,
        t.errors,
        t.warnings
    )?;
    out.flush()
}

fn write_check(c: &AuditCheck, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "  {} {}", c.status.label(), clean(&c.name))?;
    if let Some(o) = object_words(c) {
        writeln!(out, "      object:   {}", clean(&o))?;
    }
    writeln!(out, "      required: {}", clean(&c.required))?;
    writeln!(out, "      found:    {}", clean(&c.found))?;
    writeln!(out, "      fix:      {}", clean(&c.fix))?;
    for cause in c.causes.iter().skip(1) {
        writeln!(out, "      cause:    {}", clean(cause))?;
    }
    for w in &c.warnings {
        writeln!(out, "      warning:  {}", clean(w))?;
    }
    Ok(())
}

/// The JSON document (pretty, with a trailing newline).
pub fn write_json(report: &AuditReport, out: &mut dyn Write) -> Result<(), ReportError> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// JUnit XML: one testsuite `audit`, one case per check; a failure as `<failure>`, an
/// inconclusive check as `<error>`.
pub fn write_junit(report: &AuditReport, out: &mut dyn Write) -> Result<(), ReportError> {
    let mut suite = TestSuite::new("audit");
    suite.timestamp =
        OffsetDateTime::parse(&report.started_at, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    suite.set_system_out(&cdata(&format!(
        "source: {}\nstarted_at: {}\n",
        report.source, report.started_at
    )));
    for c in &report.checks {
        let name = attr(&c.name);
        let step = attr(&c.guide_step.to_string());
        let mut body = String::new();
        if let Some(o) = object_words(c) {
            body.push_str(&format!("object:   {o}\n"));
        }
        body.push_str(&format!(
            "required: {}\nfound:    {}\nfix:      {}\nguide:    {}\n",
            c.required, c.found, c.fix, c.guide_step
        ));
        for cause in &c.causes {
            body.push_str(&format!("cause:    {cause}\n"));
        }
        for w in &c.warnings {
            body.push_str(&format!("warning:  {w}\n"));
        }
        let mut case = TestCase::success(&name, junit_report::Duration::ZERO);
        let message = attr(&format!("{} — found: {}", c.name, c.found));
        match c.status {
            Status::Fail => {
                case.result = TestResult::Failure {
                    type_: step,
                    message,
                    cause: Some(cdata(&body)),
                }
            }
            Status::Error => {
                case.result = TestResult::Error {
                    type_: step,
                    message,
                    cause: Some(cdata(&body)),
                }
            }
            Status::Pass | Status::Skip => case.set_system_out(&cdata(&body)),
        }
        case.set_classname("sipa-check.audit");
        suite.add_testcase(case);
    }
    let mut junit = Report::new();
    junit.add_testsuite(suite);
    let mut xml = Vec::new();
    junit.write_xml(&mut xml).map_err(|e| match e {
        junit_report::Error::Io(e) => ReportError::Io(e),
        xml @ junit_report::Error::Xml(_) => ReportError::Xml(xml),
    })?;
    out.write_all(&xml)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names and values from the ZPA and ZIA APIs reach the terminal through `clean()`: an
    /// escape sequence in an object's name is shown escaped, never sent.
    #[test]
    fn api_text_is_cleaned_before_the_terminal() {
        let hostile = "O365 \u{1b}[2J\u{1b}]0;pwned\u{7}";
        let check = AuditCheck {
            name: format!("segment {hostile}: TCP port 80"),
            status: Status::Fail,
            object: Some(crate::audit::judge::Subject {
                kind: "ZPA application segment".into(),
                name: hostile.into(),
                id: "72058304855015574".into(),
            }),
            required: "80 and 443".into(),
            found: format!("443 only ({hostile})"),
            fix: "add 80".into(),
            guide_step: GuideStep::SegmentPorts,
            causes: vec!["outer".into(), format!("inner {hostile}")],
            warnings: vec![format!("warned {hostile}")],
        };
        let passed = AuditCheck {
            status: Status::Pass,
            ..check.clone()
        };
        let report = AuditReport::new(
            "api".into(),
            "2026-12-06T00:00:00Z".into(),
            Duration::ZERO,
            vec![ConnectorAnchor {
                name: hostile.into(),
                id: "1".into(),
                group_id: "2".into(),
                public_ip: Some(hostile.into()),
                status: hostile.into(),
                enabled: true,
            }],
            vec![check, passed],
        );
        let mut out = Vec::new();
        write_human(&report, true, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(!text.contains('\u{7}'), "{text:?}");
        assert!(text.contains("\\u{1b}[2J"), "{text}");
    }
}
