//! Renderers of the run report, checked on a canned report built by hand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sipa_check::guide::GuideStep;
use sipa_check::observation::{
    AddressClass, AnswerSource, ConnectAttempt, ConnectObservation, ConnectOutcome, DnsAnswer,
    DnsObservation, DnsOutcome, EgressObservation, EgressSample, NotRun, Observation,
    SampleOutcome,
};
use sipa_check::outcome::{
    Diagnosis, HostEvidence, Outcome, Proof, Route, RunReport, ScenarioRun, Stage, Status, Tally,
    VantageFacts,
};
use sipa_check::report::{self, human, human::HumanStyle, json, junit};
use sipa_check::scenario::model::{Family, ObserverRole};

const HOST: &str = "login.windows.net";
const OTHER: &str = "login.microsoftonline.com";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[allow(clippy::too_many_arguments)]
fn outcome(
    host: &str,
    port: Option<u16>,
    stage: Stage,
    what: &str,
    status: Status,
    reason: &str,
    ms: u64,
    observation: Observation,
) -> Outcome {
    let target = match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    Outcome {
        name: format!("{target} {what} (ipv4)"),
        stage,
        target,
        host: host.to_string(),
        port,
        route: Some(Route::Direct(Family::V4)),
        status,
        reason: reason.to_string(),
        expected: String::new(),
        observed: String::new(),
        causes: Vec::new(),
        diagnosis: None,
        warnings: Vec::new(),
        blocked_by: None,
        elapsed: Duration::from_millis(ms),
        observation,
    }
}

fn resolve_obs(host: &str) -> Observation {
    Observation::Resolve(DnsObservation {
        host: host.to_string(),
        record_type: "A",
        resolvers: vec!["127.0.0.1:5353".to_string()],
        source: AnswerSource::NamedServers {
            servers: vec!["127.0.0.1:5353".to_string()],
        },
        outcome: DnsOutcome::Answers {
            answers: vec![DnsAnswer {
                addr: "127.0.0.1".parse().unwrap(),
                ttl: 300,
                class: AddressClass::Loopback,
            }],
        },
        elapsed: Duration::from_millis(3),
    })
}

fn egress_obs(ip: &str) -> Observation {
    let sample = EgressSample {
        outcome: SampleOutcome::Ip {
            ip: ip.parse().unwrap(),
        },
        elapsed: Duration::from_millis(4),
    };
    Observation::Egress(EgressObservation {
        observer: "canary".to_string(),
        role: ObserverRole::Anchored,
        url: "http://login.windows.net:80/ip".to_string(),
        via: "127.0.0.1:40080".to_string(),
        samples: vec![sample.clone(), sample.clone(), sample],
    })
}

/// A run with passes, one failure with a diagnosis and a two-cause chain, one error, one skip
/// and a warning.
fn canned_run() -> ScenarioRun {
    let mut checks = Vec::new();

    // Deliberately out of display order: the renderer sorts by port, stage, route.
    let mut egress443 = outcome(
        HOST,
        Some(443),
        Stage::Egress,
        "egress anchored",
        Status::Fail,
        "egress 127.0.0.3 is not in the anchor set",
        12,
        egress_obs("127.0.0.3"),
    );
    egress443.expected = "an egress IP in the anchor set {127.0.0.2}".to_string();
    egress443.observed = "127.0.0.3 ×3 (via 127.0.0.1:40443)".to_string();
    egress443.causes = vec![
        "echo answered from outside the anchor set".to_string(),
        "connector 127.0.0.3 is not in server group sg-login".to_string(),
    ];
    egress443.diagnosis = Some(Diagnosis {
        cause: sipa_check::cause::Cause::SegmentLacksHost,
        likely_cause: "the application segment probably lacks login.windows.net".to_string(),
        guide_step: GuideStep::SegmentDomains,
    });
    checks.push(egress443);

    checks.push(outcome(
        HOST,
        None,
        Stage::Resolve,
        "resolve",
        Status::Pass,
        "1 A answer(s)",
        3,
        resolve_obs(HOST),
    ));
    let mut egress80 = outcome(
        HOST,
        Some(80),
        Stage::Egress,
        "egress anchored",
        Status::Pass,
        "egress 127.0.0.2 ×3, in the anchor set",
        9,
        egress_obs("127.0.0.2"),
    );
    egress80.warnings = vec!["1 of 2 addresses did not connect".to_string()];
    checks.push(egress80);
    checks.push(outcome(
        HOST,
        Some(443),
        Stage::Connect,
        "connect",
        Status::Pass,
        "connected",
        2,
        Observation::Connect(ConnectObservation {
            attempts: vec![ConnectAttempt {
                addr: addr("127.0.0.1:40443"),
                tunnel: None,
                outcome: ConnectOutcome::Connected {
                    local: addr("127.0.0.1:51000"),
                },
                elapsed: Duration::from_millis(2),
            }],
        }),
    ));

    checks.push(outcome(
        OTHER,
        None,
        Stage::Resolve,
        "resolve",
        Status::Pass,
        "1 A answer(s)",
        4,
        resolve_obs(OTHER),
    ));
    let mut timeout = outcome(
        OTHER,
        Some(443),
        Stage::Egress,
        "egress anchored",
        Status::Error,
        "no answer within 5s",
        5000,
        Observation::NotRun(NotRun::Timeout {
            after: Duration::from_secs(5),
        }),
    );
    timeout.expected = "an egress IP in the anchor set {127.0.0.2}".to_string();
    timeout.observed = "no answer within 5s".to_string();
    timeout.diagnosis = Some(Diagnosis {
        cause: sipa_check::cause::Cause::AnchoredPathDown,
        likely_cause: "a blackhole on the anchored path (App Connectors unreachable)".to_string(),
        guide_step: GuideStep::AccessPolicy,
    });
    checks.push(timeout);
    let mut skipped = outcome(
        OTHER,
        Some(443),
        Stage::Tls,
        "tls",
        Status::Skip,
        "not run: login.microsoftonline.com:443 connect (ipv4) did not pass",
        0,
        Observation::NotRun(NotRun::Blocked {
            check: 3,
            on: "login.microsoftonline.com:443 connect (ipv4)".to_string(),
        }),
    );
    skipped.expected = "a TLS handshake with a trusted chain".to_string();
    skipped.observed = skipped.reason.clone();
    checks.push(skipped);

    ScenarioRun {
        scenario: "office365-login".to_string(),
        source: "scenarios/office365.toml".to_string(),
        anchors: vec!["127.0.0.2".to_string(), "10.9.0.0/24".to_string()],
        vantage: VantageFacts {
            name: "branch-office".to_string(),
            hostname: "ws-042".to_string(),
            os: "linux x86_64".to_string(),
            sipa_check_version: "0.1.0".to_string(),
            resolvers: vec!["127.0.0.1:5353".to_string()],
            proxy: Some("http://proxy.example:8080 (user REDACTED)".to_string()),
            proxy_decision: None,
            local_addresses: vec!["127.0.0.1".to_string()],
            trust_store_problems: Vec::new(),
            warnings: Vec::new(),
            expect_anchored: true,
            bind: None,
            quic: None,
            started_at: "2025-03-04T05:06:07Z".to_string(),
        },
        elapsed: Duration::from_millis(1234),
        cut_short: Some("deadline of 30s reached".to_string()),
        tally: Tally::of(&checks),
        checks,
        evidence: vec![
            HostEvidence {
                host: "login.microsoftonline.com".to_string(),
                port: 443,
                route: Route::Direct(Family::V4),
                proof: Proof::Echo,
            },
            HostEvidence {
                host: "login.windows.net".to_string(),
                port: 443,
                route: Route::Direct(Family::V4),
                proof: Proof::Echo,
            },
        ],
        // A run without [entra]: no Graph, nothing pending.
        entra: None,
        pending_sign_ins: Vec::new(),
        merged_from: None,
        anchor_connectors: Vec::new(),
    }
}

fn canned() -> RunReport {
    RunReport::new(vec![canned_run()])
}

fn human_text(report: &RunReport, color: bool, mask_timings: bool) -> String {
    human_styled(
        report,
        HumanStyle {
            color,
            mask_timings,
            width: Some(100),
            ..HumanStyle::default()
        },
    )
}

fn human_styled(report: &RunReport, style: HumanStyle) -> String {
    let mut buf = Vec::new();
    human::write(report, &mut buf, style).unwrap();
    String::from_utf8(buf).unwrap()
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/human-report.txt")
}

#[test]
fn json_round_trips_with_version_and_per_check_fields() {
    let mut buf = Vec::new();
    json::write(&canned(), &mut buf).unwrap();
    assert_eq!(buf.last(), Some(&b'\n'));
    let doc: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["overall"], "fail");
    assert_eq!(doc["tally"]["total"], 7);
    let checks = doc["runs"][0]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 7);
    let fail = &checks[0];
    assert_eq!(fail["name"], "login.windows.net:443 egress anchored (ipv4)");
    assert_eq!(fail["stage"], "egress");
    assert_eq!(fail["status"], "fail");
    assert_eq!(fail["target"], "login.windows.net:443");
    assert_eq!(fail["port"], 443);
    assert_eq!(fail["causes"].as_array().unwrap().len(), 2);
    assert_eq!(
        fail["diagnosis"]["likely_cause"],
        "the application segment probably lacks login.windows.net"
    );
    assert_eq!(fail["elapsed_ms"], 12.0);
    assert_eq!(fail["observation"]["kind"], "egress");
    assert_eq!(doc["runs"][0]["vantage"]["hostname"], "ws-042");
}

#[test]
fn human_report_matches_golden_file() {
    let text = human_text(&canned(), false, true);
    let path = golden_path();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        text, golden,
        "human report differs from the golden file (UPDATE_GOLDEN=1 regenerates it)"
    );
}

#[test]
fn human_report_shows_every_problem_with_its_evidence() {
    let text = human_text(&canned(), false, false);
    // One block per cause: the cause and its guide step, then the check with its evidence.
    assert!(text.contains("FAIL   the application segment probably lacks login.windows.net\n"));
    assert!(text.contains("       guide step ZPA application segment, Applications:"));
    assert!(text.contains("  FAIL  login.windows.net:443 egress anchored (ipv4)"));
    assert!(text.contains("        expected   an egress IP in the anchor set {127.0.0.2}\n"));
    assert!(text.contains("        observed   127.0.0.3 ×3 (via 127.0.0.1:40443)\n"));
    assert!(text.contains("  ERROR login.microsoftonline.com:443 egress anchored (ipv4)"));
    assert!(
        text.contains("FAIL: 7 checks, 4 passed, 1 failed, 1 error, 1 skipped, 1 warning (1.2s)\n")
    );
    assert!(text.contains("cut short: deadline of 30s reached"));
    assert!(!text.contains("--ms"));
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "line too long: {line:?}");
    }
    // -v shows the whole evidence, the cause chain included.
    let verbose = human_styled(
        &canned(),
        HumanStyle {
            verbose: true,
            width: Some(100),
            ..HumanStyle::default()
        },
    );
    assert!(verbose.contains("        cause      echo answered from outside the anchor set\n"));
    assert!(verbose.contains("connector 127.0.0.3 is not in server group sg-login\n"));
    assert!(verbose.contains("        time       5.0s\n"));
}

/// Two checks failing for one cause: the cause and the guide step are printed once, and a
/// check skipped because of one of them is counted under that block, not listed apart.
#[test]
fn one_cause_is_one_block() {
    let mut run = canned_run();
    let mut twin = run.checks[0].clone();
    twin.name = "login.windows.net:80 egress anchored (ipv4)".to_string();
    twin.target = "login.windows.net:80".to_string();
    twin.port = Some(80);
    twin.observed = "127.0.0.3 ×3 (via 127.0.0.1:40080)".to_string();
    run.checks.retain(|o| o.name != twin.name);
    run.checks.push(twin);
    let mut knock_on = run.checks[0].clone();
    knock_on.name = "login.windows.net:443 http openid-configuration (ipv4)".to_string();
    knock_on.stage = Stage::Http;
    knock_on.status = Status::Skip;
    knock_on.reason =
        "not judged: login.windows.net:443 egress anchored (ipv4) did not pass".into();
    knock_on.blocked_by = Some(run.checks[0].name.clone());
    knock_on.diagnosis = None;
    run.checks.push(knock_on);
    let text = human_text(&RunReport::new(vec![run]), false, true);
    assert_eq!(
        text.matches("the application segment probably lacks login.windows.net")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("guide step ZPA application segment").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("  FAIL  login.windows.net:80 egress anchored (ipv4)"),
        "{text}"
    );
    assert!(
        text.contains("  FAIL  login.windows.net:443 egress anchored (ipv4)"),
        "{text}"
    );
    assert!(
        text.contains("  1 more check not judged because of these"),
        "{text}"
    );
    assert!(!text.contains(":443 http openid-configuration"), "{text}");
}

/// Piped output (no width) is never hard-wrapped; on a terminal, lines fit its width.
#[test]
fn human_report_wraps_only_to_a_terminal_width() {
    let mut run = canned_run();
    let long = format!(
        "127.0.0.3 ×3 (via 127.0.0.1:40443) {}",
        "and more words ".repeat(12)
    );
    run.checks[0].observed = long.clone();
    let report = RunReport::new(vec![run]);
    let piped = human_styled(&report, HumanStyle::default());
    assert!(
        piped.contains(&format!("        observed   {}\n", long.trim_end())),
        "{piped}"
    );
    assert!(piped.lines().any(|l| l.chars().count() > 101), "{piped}");
    for cols in [60, 100, 140] {
        let text = human_styled(
            &report,
            HumanStyle {
                width: Some(cols),
                ..HumanStyle::default()
            },
        );
        for line in text.lines() {
            assert!(line.chars().count() <= cols, "wider than {cols}: {line:?}");
        }
    }
}

#[test]
fn human_report_has_escape_codes_only_with_color() {
    let report = canned();
    assert!(!human_text(&report, false, false).contains('\x1b'));
    assert!(!human_text(&report, false, true).contains('\x1b'));
    assert!(human_text(&report, true, false).contains('\x1b'));
}

#[test]
fn network_escape_sequences_never_reach_the_terminal() {
    let mut run = canned_run();
    run.checks[0].observed = "blocked \x1b[2J by proxy".to_string();
    let text = human_text(&RunReport::new(vec![run]), false, false);
    assert!(!text.contains('\x1b'));
    assert!(text.contains("blocked \\u{1b}[2J by proxy"));
}

#[test]
fn overall_word_is_inconclusive_without_failures_but_with_errors() {
    let mut run = canned_run();
    run.checks.retain(|o| o.status != Status::Fail);
    run.tally = Tally::of(&run.checks);
    let text = human_text(&RunReport::new(vec![run]), false, true);
    assert!(text.contains("INCONCLUSIVE: 6 checks, 4 passed, 0 failed, 1 error"));
}

#[test]
fn proxy_display_url_stays_redacted() {
    let report = canned();
    let human = human_text(&report, false, false);
    assert!(human.contains("proxy: http://proxy.example:8080 (user REDACTED)"));
    let mut buf = Vec::new();
    json::write(&report, &mut buf).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(
        doc["runs"][0]["vantage"]["proxy"],
        "http://proxy.example:8080 (user REDACTED)"
    );
    let mut buf = Vec::new();
    junit::write(&report, &mut buf).unwrap();
    let xml = String::from_utf8(buf).unwrap();
    assert!(xml.contains("proxy: http://proxy.example:8080 (user REDACTED)"));
}

fn junit_text(report: &RunReport) -> String {
    let mut buf = Vec::new();
    junit::write(report, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// Validates `xml` against the Jenkins xUnit schema with xmllint; a missing xmllint fails.
fn assert_valid_junit(xml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let result = Command::new("xmllint")
        .args([
            "--noout",
            "--schema",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/junit-10.xsd"),
        ])
        .arg(&file)
        .output();
    let output = match result {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run xmllint ({e}): install it with `apt-get install -y libxml2-utils`; \
             the JUnit schema check cannot be skipped"
        ),
    };
    assert!(
        output.status.success(),
        "xmllint rejects the JUnit XML:\n{}\n{xml}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn junit_validates_against_the_schema() {
    assert_valid_junit(&junit_text(&canned()));
}

#[test]
fn junit_survives_hostile_text() {
    let mut run = canned_run();
    run.checks[0].reason = "bad <tag> & \"quote\" \x1b[31m\x00".to_string();
    run.checks[0].observed = "body: ]]> then <![CDATA[ more".to_string();
    run.vantage.hostname = "host\x07name".to_string();
    let xml = junit_text(&RunReport::new(vec![run]));
    assert_valid_junit(&xml);
    assert!(!xml.contains('\x1b') && !xml.contains('\x00'));
}

#[test]
fn junit_counts_and_attributes_match_the_report() {
    let xml = junit_text(&canned());
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert_eq!(xml.matches("<error ").count(), 1);
    assert_eq!(xml.matches("<skipped").count(), 1);
    assert_eq!(xml.matches("<testcase ").count(), 7);
    assert!(xml.contains(r#"name="office365-login @ branch-office""#));
    assert!(xml.contains(r#"tests="7" errors="1" failures="1""#));
    assert!(xml.contains(r#"hostname="ws-042""#));
    assert!(xml.contains(r#"timestamp="2025-03-04T05:06:07Z""#));
    assert!(xml.contains(r#"classname="sipa-check.office365-login.egress""#));
    assert!(xml.contains(
        "<failure type=\"egress\" message=\"egress 127.0.0.3 is not in the anchor set \
         — the application segment probably lacks login.windows.net [cause segment-lacks-host]\">\
         <![CDATA[status      FAIL\n"
    ));
    assert!(xml.contains("cause       connector 127.0.0.3 is not in server group sg-login"));
    assert!(xml.contains("observation {\"kind\":\"egress\""));
    // The suite's time is the run's wall time (1.234s), not the sum of its checks.
    assert!(
        xml.contains(r#"timestamp="2025-03-04T05:06:07Z" time="1.234""#),
        "{xml}"
    );
    assert!(xml.contains("expect_anchored: true"));
    assert!(xml.ends_with("</testsuites>\n"));
}

/// README: "its properties are the vantage facts". Each suite (one per run) carries them as
/// `<properties>`, first among its children, with its own values, and still validates.
#[test]
fn junit_suites_carry_the_vantage_facts_as_properties() {
    let mut second = canned_run();
    second.vantage.name = "guest-wifi".to_string();
    second.vantage.expect_anchored = false;
    second.vantage.proxy = None;
    second.vantage.bind = Some("127.0.0.20".to_string());
    second.elapsed = Duration::from_millis(2500);
    // Text from outside that looks like a suite's start must stay text.
    second.checks[0].observed =
        r#"<testsuite id="9" name="x" time="99"><properties/></testsuite>"#.to_string();
    let xml = junit_text(&RunReport::new(vec![canned_run(), second]));
    assert_valid_junit(&xml);
    assert_eq!(xml.matches("<properties>").count(), 2, "{xml}");
    // junit-report numbers its suites; the look-alike in the second suite's evidence is id 9.
    let first = xml.find(r#"<testsuite id="0" "#).expect("the first suite");
    let second = xml.find(r#"<testsuite id="1" "#).expect("the second suite");
    let suites = [&xml[first..second], &xml[second..]];
    // Each suite's start is followed at once by its properties.
    for suite in &suites {
        let children = &suite[suite.find('>').unwrap() + 1..];
        assert!(children.starts_with("<properties><property "), "{suite}");
    }
    for (name, value) in [
        ("scenario", "office365-login"),
        ("source", "scenarios/office365.toml"),
        ("vantage", "branch-office"),
        ("hostname", "ws-042"),
        ("os", "linux x86_64"),
        ("sipa-check version", "0.1.0"),
        ("resolvers", "127.0.0.1:5353"),
        ("proxy", "http://proxy.example:8080 (user REDACTED)"),
        ("local addresses", "127.0.0.1"),
        ("expect_anchored", "true"),
        ("anchors", "127.0.0.2, 10.9.0.0/24"),
        ("started_at", "2025-03-04T05:06:07Z"),
        ("cut_short", "deadline of 30s reached"),
    ] {
        let property = format!(r#"<property name="{name}" value="{value}"/>"#);
        assert!(suites[0].contains(&property), "{property}\n{}", suites[0]);
    }
    for property in [
        r#"<property name="vantage" value="guest-wifi"/>"#,
        r#"<property name="expect_anchored" value="false"/>"#,
        r#"<property name="proxy" value="none"/>"#,
        r#"<property name="bind" value="127.0.0.20"/>"#,
    ] {
        assert!(suites[1].contains(property), "{property}\n{}", suites[1]);
    }
    // Wall times stay each run's own; the look-alike in the evidence is untouched.
    assert!(suites[0].contains(r#" time="1.234""#), "{}", suites[0]);
    assert!(suites[1].contains(r#" time="2.5""#), "{}", suites[1]);
    assert!(
        suites[1].contains(
            r#"observed    <testsuite id="9" name="x" time="99"><properties/></testsuite>"#
        ),
        "{}",
        suites[1]
    );
}

/// Each failure and error carries its evidence in its body, once (no copy in system-out);
/// observers are named.
#[test]
fn junit_failures_carry_their_evidence_once_in_the_body() {
    let xml = junit_text(&canned());
    assert_valid_junit(&xml);
    for evidence in [
        "observed    127.0.0.3 ×3 (via 127.0.0.1:40443)",
        "diagnosis   the application segment probably lacks login.windows.net",
        "reason      egress 127.0.0.3 is not in the anchor set",
    ] {
        assert_eq!(xml.matches(evidence).count(), 1, "{evidence}:\n{xml}");
    }
    let failure = &xml[xml.find("<failure ").unwrap()..xml.find("</failure>").unwrap()];
    assert!(failure.contains("observed    127.0.0.3 ×3"), "{failure}");
    assert!(failure.contains("expected    an egress IP in the anchor set {127.0.0.2}"));
    let error = &xml[xml.find("<error ").unwrap()..xml.find("</error>").unwrap()];
    assert!(error.contains("observed    no answer within 5s"), "{error}");
    let case = &xml[xml
        .find("<testcase name=\"login.windows.net:443 egress anchored (ipv4)\"")
        .unwrap()..];
    let case = &case[..case.find("</testcase>").unwrap()];
    assert!(!case.contains("<system-out>"), "{case}");
    assert!(
        xml.contains("observer    canary (http://login.windows.net:80/ip)"),
        "{xml}"
    );
}

#[test]
fn junit_of_an_empty_report_is_valid() {
    assert_valid_junit(&junit_text(&RunReport::new(Vec::new())));
}

#[test]
fn write_to_names_the_file_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("report.xml");
    let err = report::write_to(&missing, |out| junit::write(&canned(), out)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot write {}: ", missing.display())),
        "{err}"
    );

    let ok = dir.path().join("report.json");
    report::write_to(&ok, |out| Ok(json::write(&canned(), out)?)).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ok).unwrap()).unwrap();
    assert_eq!(doc["format_version"], 1);
}

#[test]
fn trust_store_problems_reach_every_report() {
    let mut run = canned_run();
    let problem = "/etc/ssl/certs/broken.pem: no certificate \x1b[2J found";
    run.vantage.trust_store_problems = vec![problem.to_string()];
    let report = RunReport::new(vec![run]);
    let text = human_text(&report, false, true);
    assert!(
        text.contains(
            "warning: OS trust store: /etc/ssl/certs/broken.pem: no certificate \\u{1b}[2J found\n"
        ),
        "{text}"
    );
    let mut buf = Vec::new();
    json::write(&report, &mut buf).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(
        doc["runs"][0]["vantage"]["trust_store_problems"][0],
        problem
    );
    let xml = junit_text(&report);
    assert_valid_junit(&xml);
    assert!(
        xml.contains("trust store problems: /etc/ssl/certs/broken.pem: no certificate"),
        "{xml}"
    );
    // The warning shown is counted: the check's one, and the trust store's.
    assert!(text.contains(", 2 warnings (--ms)\n"), "{text}");
    assert_eq!(doc["runs"][0]["tally"]["warnings"], 2);
    assert_eq!(doc["tally"]["warnings"], 2);
    // Without problems, the JSON says nothing of them.
    let mut buf = Vec::new();
    json::write(&canned(), &mut buf).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert!(
        doc["runs"][0]["vantage"]
            .get("trust_store_problems")
            .is_none()
    );
}

/// Every warning shown is counted, and each is shown once, with -v too.
#[test]
fn each_warning_is_shown_once_and_counted() {
    let mut run = canned_run();
    run.checks[0].warnings = vec!["a warning on a failure".to_string()];
    let report = RunReport::new(vec![run]);
    assert_eq!(report.tally.warnings, 2);
    for verbose in [false, true] {
        let text = human_styled(
            &report,
            HumanStyle {
                verbose,
                ..HumanStyle::default()
            },
        );
        assert_eq!(text.matches("a warning on a failure").count(), 1, "{text}");
        assert_eq!(
            text.matches("1 of 2 addresses did not connect").count(),
            1,
            "{text}"
        );
        assert!(text.contains(", 2 warnings ("), "{text}");
    }
}

#[test]
fn path_only_hosts_are_said_in_every_report() {
    let mut run = canned_run();
    run.evidence[1].proof = Proof::PathOnly;
    // A run without failures shows a section per host and counts them in its summary; one that
    // fails puts its problems first, and its JSON keeps the evidence.
    let summary_of = |text: &str, word: &str| -> String {
        // The summary line, its wrapped continuation joined back.
        text.replace("\n  ", " ")
            .lines()
            .find(|l| l.starts_with(word))
            .expect("a summary line")
            .to_string()
    };
    let mut passing = run.clone();
    passing.checks.retain(|o| o.status == Status::Pass);
    passing.tally = Tally::of(&passing.checks);
    let text = human_text(&RunReport::new(vec![passing]), false, true);
    assert!(text.contains("\nEvidence per login host\n"), "{text}");
    assert!(
        text.contains("login.windows.net (ipv4)          443 path only"),
        "{text}"
    );
    let summary = summary_of(&text, "PASS:");
    assert!(
        summary.contains(", 1 of 2 login host ports path only"),
        "{summary}"
    );
    let report = RunReport::new(vec![run]);
    let text = human_text(&report, false, true);
    assert!(!text.contains("\nEvidence per login host\n"), "{text}");
    assert!(!summary_of(&text, "FAIL:").contains("path only"), "{text}");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["runs"][0]["evidence"][1]["proof"], "path-only");
    assert_eq!(json["runs"][0]["evidence"][0]["proof"], "echo");
    assert_eq!(json["runs"][0]["evidence"][1]["route"], "ipv4");

    let mut xml = Vec::new();
    junit::write(&report, &mut xml).unwrap();
    assert!(
        !String::from_utf8_lossy(&xml).contains("per-host evidence"),
        "a failed run's JUnit leaves the evidence cases to its JSON"
    );
    let mut passing = report.runs[0].clone();
    passing.checks.retain(|o| o.status == Status::Pass);
    passing.tally = Tally::of(&passing.checks);
    let mut xml = Vec::new();
    junit::write(&RunReport::new(vec![passing]), &mut xml).unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert!(
        xml.contains("login.windows.net:443 per-host evidence (ipv4)"),
        "{xml}"
    );
    assert!(
        !xml.contains("login.microsoftonline.com:443 per-host evidence"),
        "an echoed host has no evidence case: {xml}"
    );
    assert_valid_junit(&xml);
}

#[test]
fn vantage_warnings_are_shown_and_counted() {
    let mut run = canned_run();
    let before = RunReport::new(vec![run.clone()]).tally.warnings;
    run.vantage.warnings = vec![
        "the proxy user `jdoe` has no password: set SIPA_CHECK_PROXY_PASSWORD (the proxy will likely answer 407)"
            .to_string(),
    ];
    let report = RunReport::new(vec![run]);
    assert_eq!(report.tally.warnings, before + 1);
    let text = human_text(&report, false, true).replace("\n  ", " ");
    assert!(
        text.contains("the proxy user `jdoe` has no password"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} warnings", before + 1)),
        "the summary counts it: {text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["runs"][0]["vantage"]["warnings"][0]
            .as_str()
            .map(|w| w.starts_with("the proxy user")),
        Some(true)
    );
}
