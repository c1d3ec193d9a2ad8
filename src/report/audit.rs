//! The audit's renderers, beside the run's: terminal text (problems grouped by cause, one
//! block per cause as a run report's, every API text through [`clean`]), JSON (each check's
//! cause id) and JUnit (one testsuite `audit`, messages ending `[cause ID]`). Each renderer
//! writes to any `impl Write`.

use std::io::Write;

use junit_report::{OffsetDateTime, Report, TestCase, TestResult, TestSuite};
use time::format_description::well_known::Rfc3339;

use super::junit::{attr, cdata};
use super::{ReportError, clean, step_row};
use crate::audit::judge::AuditCheck;
use crate::audit::report::AuditReport;
use crate::cause::Cause;
use crate::outcome::Status;

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
        // One block per cause, as the run report's: its title, the step to look at, its id.
        let mut causes: Vec<Cause> = report
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| c.cause)
            .collect();
        causes.sort();
        causes.dedup();
        for cause in causes {
            writeln!(out)?;
            writeln!(out, "{}", cause.title())?;
            let (label, step) = step_row(cause.guide_step());
            writeln!(out, "  {label:<10} {}", clean(&step))?;
            writeln!(out, "  {:<10} {}", "cause id", cause.id())?;
            for c in report
                .checks
                .iter()
                .filter(|c| c.status != Status::Pass && c.cause == cause)
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
                writeln!(out, "       guide:  {}", c.cause.guide_step())?;
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
        let step = attr(&c.cause.guide_step().to_string());
        let mut body = String::new();
        if let Some(o) = object_words(c) {
            body.push_str(&format!("object:   {o}\n"));
        }
        body.push_str(&format!(
            "required: {}\nfound:    {}\nfix:      {}\nguide:    {}\ncause id: {}\n",
            c.required,
            c.found,
            c.fix,
            c.cause.guide_step(),
            c.cause.id()
        ));
        for cause in &c.causes {
            body.push_str(&format!("cause:    {cause}\n"));
        }
        for w in &c.warnings {
            body.push_str(&format!("warning:  {w}\n"));
        }
        let mut case = TestCase::success(&name, junit_report::Duration::ZERO);
        let message = attr(&format!(
            "{} — found: {} [cause {}]",
            c.name,
            c.found,
            c.cause.id()
        ));
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
    use crate::audit::judge::Subject;
    use crate::audit::report::ConnectorAnchor;
    use std::time::Duration;

    /// Names and values from the ZPA and ZIA APIs reach the terminal through `clean()`: an
    /// escape sequence in an object's name is shown escaped, never sent.
    #[test]
    fn api_text_is_cleaned_before_the_terminal() {
        let hostile = "O365 \u{1b}[2J\u{1b}]0;pwned\u{7}";
        let check = AuditCheck {
            name: format!("segment {hostile}: TCP port 80"),
            status: Status::Fail,
            object: Some(Subject {
                kind: "ZPA application segment".into(),
                name: hostile.into(),
                id: "72058304855015574".into(),
            }),
            required: "80 and 443".into(),
            found: format!("443 only ({hostile})"),
            fix: "add 80".into(),
            cause: Cause::SegmentLacksPort,
            guide_step: Cause::SegmentLacksPort.guide_step(),
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

    fn failing(name: &str, cause: Cause) -> AuditCheck {
        AuditCheck {
            name: name.into(),
            status: Status::Fail,
            object: None,
            required: "required".into(),
            found: "found".into(),
            fix: "fix".into(),
            cause,
            guide_step: cause.guide_step(),
            causes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Problems are grouped by cause, each block with the cause's title, its step and its id;
    /// JSON carries the id on each check, JUnit ends each message with it.
    #[test]
    fn audit_problems_are_grouped_by_cause_with_its_id_in_every_renderer() {
        let report = AuditReport::new(
            "snapshot x".into(),
            "2026-12-06T00:00:00Z".into(),
            Duration::ZERO,
            Vec::new(),
            vec![
                failing("segment: TCP port 80", Cause::SegmentLacksPort),
                failing("ZIA ZPA gateway: server group", Cause::ZpaGatewayMissing),
                failing("segment: TCP port 443", Cause::SegmentLacksPort),
            ],
        );
        let mut out = Vec::new();
        write_human(&report, false, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("cause id").count(), 2, "{text}");
        assert!(text.contains("cause id   segment-lacks-port"), "{text}");
        assert!(text.contains("cause id   zpa-gateway-missing"), "{text}");
        let block = text
            .split(Cause::SegmentLacksPort.title())
            .nth(1)
            .expect("the port block");
        assert!(
            block.find("TCP port 80").unwrap() < block.find("ZIA ZPA gateway").unwrap_or(0)
                || !block.contains("ZIA ZPA gateway"),
            "{text}"
        );
        assert!(block.contains("TCP port 443"), "{text}");

        let mut json = Vec::new();
        write_json(&report, &mut json).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc["checks"][1]["cause"], "zpa-gateway-missing");

        let mut xml = Vec::new();
        write_junit(&report, &mut xml).unwrap();
        let xml = String::from_utf8(xml).unwrap();
        assert!(xml.contains("[cause zpa-gateway-missing]"), "{xml}");
    }
}
