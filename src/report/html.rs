//! The fleet view as one self-contained HTML page: a vantage × check matrix in colour and
//! symbols, the problems grouped by cause with the vantages they hit and their guide step, each
//! vantage's evidence per login host, and a waterfall of each check's phases.
//!
//! Self-contained means no network at all: CSS, script and graphics are inline, there is no
//! URL in any attribute, and a Content-Security-Policy meta tag forbids every remote load and
//! every script but the page's own (allowed by its SHA-256), so even text that slipped through
//! unescaped could not load or run anything. All text from the report is HTML-escaped.
//!
//! The page's script only filters rows; it marks `<body data-ready="ok">` when it ran, and
//! `data-js-error` on `<html>` when a script error happened, so a headless browser can tell.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use base64::Engine as _;

use super::fleet::{Cause, Cell, FleetView};
use super::{overall_word, show_duration};
use crate::outcome::{Outcome, Proof, Route, RunReport, ScenarioRun, Stage, Status};

/// The page's only script. Its hash is in the Content-Security-Policy.
const SCRIPT: &str = r##"(function () {
  var root = document.documentElement;
  window.addEventListener("error", function () { root.setAttribute("data-js-error", "1"); });
  var filter = document.getElementById("filter");
  var problems = document.getElementById("only-problems");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-run]"));
  var total = document.querySelectorAll("#matrix tr[data-run]").length;
  function apply() {
    var text = filter.value.toLowerCase();
    var only = problems.checked;
    var visible = 0;
    rows.forEach(function (row) {
      var hide = (text !== "" && row.getAttribute("data-run").toLowerCase().indexOf(text) < 0) ||
        (only && row.getAttribute("data-s") === "pass");
      row.hidden = hide;
      if (!hide && row.closest("#matrix")) { visible += 1; }
    });
    shown.textContent = visible + " of " + total + " runs shown";
  }
  filter.addEventListener("input", apply);
  problems.addEventListener("change", apply);
  apply();
  document.body.setAttribute("data-ready", "ok");
})();"##;

const CSS: &str = r#"
:root{--pass:#009E73;--fail:#D55E00;--error:#E69F00;--warn:#F0E442;--skip:#BBBBBB;--ink:#1b1b1b;--muted:#5c5c5c;
--resolve:#56B4E9;--connect:#0072B2;--tls:#CC79A7;--http:#009E73;--egress:#E69F00;--entra:#7f5fbf;--quic:#D55E00}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;padding:1rem 1.5rem;background:#fff}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #ddd}
h3{font-size:1rem;margin:.2rem 0}
.muted{color:var(--muted)}
.verdict{display:inline-block;font-weight:700;padding:.1rem .6rem;border-radius:4px}
nav a{margin-right:1rem}
.scroll{overflow:auto;max-height:80vh;border:1px solid #ddd}
table{border-collapse:collapse}
th,td{padding:0 .3rem;border:1px solid #e4e4e4}
thead th{position:sticky;top:0;background:#fafafa;z-index:1}
tbody th{text-align:left;white-space:nowrap;font-weight:500;position:sticky;left:0;background:#fff}
th.v{vertical-align:bottom;height:14rem}
th.v span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:400;font-size:12px}
td.c{text-align:center;min-width:1.5rem;font-weight:700}
.s-pass{background:var(--pass);color:#fff}
.s-fail{background:var(--fail);color:#fff}
.s-error{background:var(--error);color:#000}
.s-warn{background:var(--warn);color:#000}
.s-skip{background:var(--skip);color:#000}
.s-none{background:#fff;color:#aaa}
.legend span{display:inline-block;padding:0 .4rem;margin-right:.4rem;border-radius:3px}
.controls{margin:.5rem 0}
.cause{border-left:6px solid #ccc;padding:.3rem .8rem;margin:.6rem 0;background:#fafafa}
.cause.s-fail{border-color:var(--fail)}.cause.s-error{border-color:var(--error)}.cause.s-warn{border-color:var(--warn)}
.cause.s-fail,.cause.s-error,.cause.s-warn{background:#fafafa;color:var(--ink)}
.cause .sym{font-weight:700}
.cause ul{margin:.2rem 0;padding-left:1.2rem}
.p-echo,.p-entra-log,.p-entra-ca{background:var(--pass);color:#fff}
.p-path{background:var(--warn);color:#000}
td.e{white-space:nowrap;font-size:12px}
details.wf{margin:.2rem 0}
details.wf summary{cursor:pointer}
.wr{display:grid;grid-template-columns:22rem 1fr 5rem;gap:.5rem;align-items:center;font-size:12px}
.wb{position:relative;height:12px;background:#f2f2f2}
.wb i{position:absolute;top:0;height:12px;min-width:1px}
.wb i.bad{outline:2px solid #000;z-index:1}
.wt{text-align:right}
.ph-resolve{background:var(--resolve)}.ph-connect{background:var(--connect)}.ph-tls{background:var(--tls)}
.ph-http{background:var(--http)}.ph-egress{background:var(--egress)}.ph-entra{background:var(--entra)}.ph-quic{background:var(--quic)}
"#;

/// The page's Content-Security-Policy: nothing may load from anywhere; inline styles and the
/// page's own script (by hash) are all that applies.
pub fn content_security_policy() -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, SCRIPT.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; \
         img-src data:; base-uri 'none'; form-action 'none'"
    )
}

/// Writes the fleet view of `report` as one HTML page.
pub fn write(report: &RunReport, mut out: impl Write) -> io::Result<()> {
    let view = FleetView::of(report);
    let page = page(&view);
    out.write_all(page.as_bytes())?;
    out.flush()
}

fn page(view: &FleetView) -> String {
    let report = view.report;
    let mut h = String::with_capacity(64 * 1024 + report.runs.len() * 8 * 1024);
    let overall = Cell::of_status(report.overall);
    let word = overall_word(report.overall);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>sipa-check fleet: {word}</title>\n<style>{CSS}</style></head>\n\
         <body data-ready=\"no\">\n",
        esc(&content_security_policy())
    );
    let t = &report.tally;
    let _ = write!(
        h,
        "<header><h1>sipa-check fleet view</h1>\
         <p><span class=\"verdict {cls}\">{sym} {word}</span> \
         {runs} runs at {vantages} vantages, from {files} files · {total} checks: {passed} passed, \
         {failed} failed, {errors} errors, {skipped} skipped, {warnings} warnings</p>\
         <p class=\"muted\">Made by {tool} {version}. Every status has a symbol as well as a \
         colour: {legend}</p></header>\n\
         <nav><a href=\"#matrix\">Matrix</a><a href=\"#causes\">Causes</a>\
         <a href=\"#evidence\">Per-host evidence</a><a href=\"#phases\">Phases</a></nav>\n",
        cls = overall.class(),
        sym = overall.symbol(),
        runs = view.rows.len(),
        vantages = view.vantages(),
        files = view.files,
        total = t.total,
        passed = t.passed,
        failed = t.failed,
        errors = t.errors,
        skipped = t.skipped,
        warnings = t.warnings,
        tool = esc(&report.tool),
        version = esc(&report.tool_version),
        legend = legend(),
    );
    matrix(&mut h, view);
    causes(&mut h, view);
    evidence(&mut h, view);
    phases(&mut h, view);
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

fn legend() -> String {
    let mut s = String::from("<span class=\"legend\">");
    for cell in [
        Cell::Pass,
        Cell::Fail,
        Cell::Error,
        Cell::Skip,
        Cell::Warn,
        Cell::Absent,
    ] {
        let _ = write!(
            s,
            "<span class=\"{}\">{} {}</span>",
            cell.class(),
            cell.symbol(),
            cell.word()
        );
    }
    s.push_str("</span>");
    s
}

/// A row's attributes for the filter: its label and its verdict.
fn row_attrs(label: &str, overall: Status) -> String {
    let s = match overall {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Error | Status::Skip => "error",
    };
    format!("data-run=\"{}\" data-s=\"{s}\"", esc(label))
}

fn matrix(h: &mut String, view: &FleetView) {
    h.push_str(
        "<section id=\"matrix\"><h2>Vantage × check</h2>\n<p class=\"controls\">\
         <label>Vantage <input id=\"filter\" type=\"search\" placeholder=\"filter by name\"></label> \
         <label><input id=\"only-problems\" type=\"checkbox\"> only runs with problems</label> \
         <span id=\"shown\" class=\"muted\"></span></p>\n\
         <div class=\"scroll\"><table><thead><tr><th>vantage</th><th>verdict</th>",
    );
    for name in &view.checks {
        let _ = write!(h, "<th class=\"v\"><span>{}</span></th>", esc(name));
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in &view.rows {
        let run = row.run;
        let overall = Cell::of_status(row.overall);
        let _ = write!(
            h,
            "<tr {}><th title=\"{}\">{}</th><td class=\"c {}\" title=\"{}\">{}</td>",
            row_attrs(&row.label, row.overall),
            esc(&run_title(run)),
            esc(&row.label),
            overall.class(),
            overall_word(row.overall),
            overall.symbol()
        );
        // Each run's checks by name, looked up per column without a map per row: most runs
        // hold the same checks in the same order, so the next column is usually the next
        // check.
        let mut next = 0;
        for name in &view.checks {
            let found = if run.checks.get(next).is_some_and(|o| o.name == *name) {
                next += 1;
                run.checks.get(next - 1)
            } else {
                run.checks.iter().position(|o| o.name == *name).map(|i| {
                    next = i + 1;
                    &run.checks[i]
                })
            };
            match found {
                Some(o) => cell(h, o),
                None => {
                    let _ = write!(h, "<td class=\"c s-none\">{}</td>", Cell::Absent.symbol());
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div></section>\n");
}

fn cell(h: &mut String, o: &Outcome) {
    let c = Cell::of(o);
    if c == Cell::Pass {
        let _ = write!(h, "<td class=\"c {}\">{}</td>", c.class(), c.symbol());
        return;
    }
    let mut title = format!("{}: {}", o.status.label(), o.reason);
    for w in &o.warnings {
        title.push_str("\nwarning: ");
        title.push_str(w);
    }
    let _ = write!(
        h,
        "<td class=\"c {}\" title=\"{}\">{}</td>",
        c.class(),
        esc(&title),
        c.symbol()
    );
}

fn run_title(run: &ScenarioRun) -> String {
    let mut t = format!(
        "scenario {} · vantage {} · host {} · started {}",
        run.scenario, run.vantage.name, run.vantage.hostname, run.vantage.started_at
    );
    if let Some(from) = &run.merged_from {
        t.push_str(&format!(" · from {from}"));
    }
    if let Some(why) = &run.cut_short {
        t.push_str(&format!(" · cut short: {why}"));
    }
    t
}

fn causes(h: &mut String, view: &FleetView) {
    h.push_str("<section id=\"causes\"><h2>Causes</h2>\n");
    if view.causes.is_empty() {
        h.push_str("<p>No failure, error or warning in any run.</p>\n");
    }
    for group in &view.causes {
        let kind = match &group.cause {
            Cause::Diagnosed { .. } | Cause::Undiagnosed { .. } => group.worst.word(),
            Cause::Warning { .. } => "warning",
        };
        let _ = write!(
            h,
            "<article class=\"cause {}\"><h3><span class=\"sym\">{}</span> {}: {}</h3>",
            group.worst.class(),
            group.worst.symbol(),
            kind,
            esc(group.cause.headline())
        );
        match group.cause.guide_step() {
            Some(step) => {
                let (label, text) = super::step_row(step);
                let _ = write!(h, "<p>{}: {}</p>", esc(label), esc(&text));
                if let Cause::Diagnosed {
                    key: super::CauseKey::Cause(cause),
                    ..
                } = &group.cause
                {
                    let _ = write!(
                        h,
                        "<p class=\"muted\">cause id <code>{}</code></p>",
                        cause.id()
                    );
                }
            }
            None if matches!(group.cause, Cause::Undiagnosed { .. }) => {
                h.push_str("<p class=\"muted\">No diagnosis: the checks' evidence says more.</p>");
            }
            None => {}
        }
        let _ = write!(
            h,
            "<p>Hit {} of {} runs: {}</p>",
            group.rows.len(),
            view.rows.len(),
            esc(&view.labels(&group.rows, 50))
        );
        let checks: Vec<_> = group
            .checks
            .iter()
            .filter_map(|(r, c)| Some((*r, (*c)?)))
            .collect();
        if !checks.is_empty() {
            let n = checks.len();
            let word = if n == 1 { "check" } else { "checks" };
            let _ = write!(h, "<details><summary>{n} {word}</summary><ul>");
            for (row, o) in checks {
                let _ = write!(
                    h,
                    "<li><b>{}</b> {} {}: {}</li>",
                    esc(&view.rows[row].label),
                    Cell::of(o).symbol(),
                    esc(&o.name),
                    esc(&o.reason)
                );
            }
            h.push_str("</ul></details>");
        }
        h.push_str("</article>\n");
    }
    h.push_str("</section>\n");
}

fn evidence(h: &mut String, view: &FleetView) {
    h.push_str(
        "<section id=\"evidence\"><h2>Per-host evidence</h2>\n<p class=\"muted\">How each \
         login host was proven at each vantage: <span class=\"p-echo\">✓ echo</span> an observer \
         on the host, <span class=\"p-entra-log\">✓ entra-log</span> Entra's sign-in log, \
         <span class=\"p-entra-ca\">✓ entra-ca</span> Conditional Access's answer, \
         <span class=\"p-path\">~ path only</span> a canary on the shared path only.</p>\n",
    );
    if view.evidence_columns.is_empty() {
        h.push_str("<p>No run recorded per-host evidence.</p></section>\n");
        return;
    }
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>vantage</th>");
    for column in &view.evidence_columns {
        let _ = write!(h, "<th class=\"v\"><span>{}</span></th>", esc(column));
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in &view.rows {
        let _ = write!(
            h,
            "<tr {}><th>{}</th>",
            row_attrs(&row.label, row.overall),
            esc(&row.label)
        );
        for column in &view.evidence_columns {
            match row.run.evidence.iter().find(|e| e.target() == *column) {
                Some(e) => {
                    let (class, sym) = match e.proof {
                        Proof::Echo => ("p-echo", "✓"),
                        Proof::EntraLog => ("p-entra-log", "✓"),
                        Proof::EntraCa => ("p-entra-ca", "✓"),
                        Proof::EntraCaUnverified => ("p-path", "~"),
                        Proof::PathOnly => ("p-path", "~"),
                    };
                    let _ = write!(h, "<td class=\"e {class}\">{sym} {}</td>", e.proof);
                }
                None => h.push_str("<td class=\"e s-none\">·</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div></section>\n");
}

/// One line of a waterfall: a login host port (or observer) on a route, and its phases in the
/// order they happen.
struct Lane<'a> {
    host: &'a str,
    port: Option<u16>,
    route: Option<Route>,
    phases: Vec<&'a Outcome>,
}

impl Lane<'_> {
    fn total(&self) -> Duration {
        self.phases.iter().map(|o| o.elapsed).sum()
    }
}

/// The run's checks as lanes: each host, port and route gets its resolve (the host's, on that
/// route), connect, TLS, HTTP, egress and Entra checks, in that order. A check of the whole
/// run (no route) has no lane.
fn lanes(run: &ScenarioRun) -> Vec<Lane<'_>> {
    let mut lanes: Vec<Lane> = Vec::new();
    for o in run
        .checks
        .iter()
        .filter(|o| o.route.is_some() && o.port.is_some())
    {
        if !lanes
            .iter()
            .any(|l| l.host == o.host && l.port == o.port && l.route == o.route)
        {
            lanes.push(Lane {
                host: &o.host,
                port: o.port,
                route: o.route,
                phases: Vec::new(),
            });
        }
    }
    // A host resolved but never reached still shows its resolve.
    for o in run
        .checks
        .iter()
        .filter(|o| o.route.is_some() && o.port.is_none())
    {
        if !lanes.iter().any(|l| l.host == o.host && l.route == o.route) {
            lanes.push(Lane {
                host: &o.host,
                port: None,
                route: o.route,
                phases: Vec::new(),
            });
        }
    }
    for lane in &mut lanes {
        lane.phases = run
            .checks
            .iter()
            .filter(|o| {
                o.host == lane.host
                    && o.route == lane.route
                    && (o.port == lane.port || (o.port.is_none() && o.stage == Stage::Resolve))
            })
            .collect();
        lane.phases.sort_by_key(|o| o.stage);
    }
    lanes
}

fn phases(h: &mut String, view: &FleetView) {
    h.push_str(
        "<section id=\"phases\"><h2>Phases</h2>\n<p class=\"muted\">Each login host port and \
         observer per vantage: its phases one after the other, as long as each took (scaled to \
         the run's longest lane). Phases: ",
    );
    for stage in [
        Stage::Resolve,
        Stage::Connect,
        Stage::Tls,
        Stage::Http,
        Stage::Egress,
        Stage::Entra,
        Stage::Quic,
    ] {
        let _ = write!(
            h,
            "<span class=\"ph-{stage}\" style=\"color:#fff;padding:0 .3rem\">{stage}</span> "
        );
    }
    h.push_str(
        "; an outlined phase did not pass (its tooltip says why). Open a vantage to see its \
         lanes.</p>\n",
    );
    // A small fleet is shown open; a large one would be a wall of bars.
    let open = if view.rows.len() <= 4 { " open" } else { "" };
    for row in &view.rows {
        let lanes = lanes(row.run);
        let longest = lanes.iter().map(Lane::total).max().unwrap_or_default();
        let cell = Cell::of_status(row.overall);
        let _ = writeln!(
            h,
            "<details class=\"wf\"{open}><summary><span class=\"{}\">&nbsp;{}&nbsp;</span> {} · {} \
             lanes · run took {}</summary>",
            cell.class(),
            cell.symbol(),
            esc(&row.label),
            lanes.len(),
            show_duration(row.run.elapsed)
        );
        for lane in &lanes {
            let name = match (lane.port, lane.route) {
                (Some(p), Some(r)) => format!("{}:{p} ({r})", lane.host),
                (None, Some(r)) => format!("{} ({r})", lane.host),
                (Some(p), None) => format!("{}:{p}", lane.host),
                (None, None) => lane.host.to_string(),
            };
            let _ = write!(
                h,
                "<div class=\"wr\"><span>{}</span><span class=\"wb\">",
                esc(&name)
            );
            let mut at = Duration::ZERO;
            for o in &lane.phases {
                let left = share(at, longest);
                let width = share(o.elapsed, longest);
                at += o.elapsed;
                // The tooltip names the phase, not the whole check: the lane names the rest,
                // and a fleet of 500 runs has some 15,000 of these.
                let (bad, status) = match o.status {
                    Status::Pass => ("", ""),
                    other => (" bad", other.label()),
                };
                let _ = write!(
                    h,
                    "<i class=\"ph-{}{bad}\" style=\"left:{left:.1}%;width:{width:.1}%\" \
                     title=\"{} {} {status}\"></i>",
                    o.stage,
                    o.stage,
                    show_duration(o.elapsed),
                );
            }
            let _ = writeln!(
                h,
                "</span><span class=\"wt\">{}</span></div>",
                show_duration(lane.total())
            );
        }
        h.push_str("</details>\n");
    }
    h.push_str("</section>\n");
}

/// `part` as a percentage of `whole` (0 when the whole is nothing).
fn share(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        0.0
    } else {
        100.0 * part.as_secs_f64() / whole.as_secs_f64()
    }
}

/// Text for HTML, in an element or a double-quoted attribute: the five special characters
/// as entities, and control characters (which HTML forbids) as U+FFFD.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<script>alert('x')</script>&\"\x1b"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\u{FFFD}"
        );
    }

    #[test]
    fn the_policy_allows_only_the_pages_own_script() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        assert!(csp.contains("script-src 'sha256-"), "{csp}");
        assert!(!csp.contains("script-src 'unsafe-inline'"), "{csp}");
    }

    #[test]
    fn shares_of_nothing_are_zero() {
        assert_eq!(share(Duration::from_millis(5), Duration::ZERO), 0.0);
        assert_eq!(
            share(Duration::from_millis(5), Duration::from_millis(20)),
            25.0
        );
    }
}
