//! The metrics of a lab run: the series serve and push write, their bounded egress IPs, and the
//! two encodings (OpenMetrics for scrapes, text 0.0.4 for the Pushgateway).

mod common;

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use sipa_check::lab::Fault;
use sipa_check::metrics::{self, EgressHistory, MAX_EGRESS_IPS_PER_CHECK, ScenarioRecord};
use sipa_check::observation::{Observation, SampleOutcome};
use sipa_check::scenario::Overrides;

const CHECK: &str = "login.windows.net:443 egress anchored (ipv4)";

#[tokio::test]
async fn egress_ips_are_bounded_per_check_most_recent_first() {
    let mut run = common::run_lab(&[], false, Overrides::default()).await;
    let mut history = EgressHistory::default();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for i in 0..10u8 {
        let ip: IpAddr = format!("10.0.0.{i}").parse().unwrap();
        for check in &mut run.checks {
            if let Observation::Egress(e) = &mut check.observation {
                for s in &mut e.samples {
                    s.outcome = SampleOutcome::Ip { ip };
                }
            }
        }
        history.record(&run, t0 + Duration::from_secs(u64::from(i)));
    }
    let kept: Vec<String> = history
        .of("lab", CHECK)
        .map(|(ip, _)| ip.to_string())
        .collect();
    assert_eq!(kept.len(), MAX_EGRESS_IPS_PER_CHECK);
    assert_eq!(kept, ["10.0.0.9", "10.0.0.8", "10.0.0.7", "10.0.0.6"]);
    // An IP seen again moves to the front instead of taking a second place.
    let ip: IpAddr = "10.0.0.7".parse().unwrap();
    for check in &mut run.checks {
        if let Observation::Egress(e) = &mut check.observation {
            for s in &mut e.samples {
                s.outcome = SampleOutcome::Ip { ip };
            }
        }
    }
    history.record(&run, t0 + Duration::from_secs(20));
    let kept: Vec<String> = history
        .of("lab", CHECK)
        .map(|(ip, _)| ip.to_string())
        .collect();
    assert_eq!(kept, ["10.0.0.7", "10.0.0.9", "10.0.0.8", "10.0.0.6"]);
}

#[tokio::test]
async fn a_failed_run_shows_in_every_series_family() {
    let run = common::run_lab(&[Fault::OneDomainUnanchored], false, Overrides::default()).await;
    let record = ScenarioRecord::of_runs(vec![run], SystemTime::now());
    let text = metrics::openmetrics(&metrics::registry(vec![record.clone()]));
    assert!(text.ends_with("# EOF\n"));
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle) && l.contains(&format!("check=\"{CHECK}\"")))
            .unwrap_or_else(|| panic!("no {needle} line for {CHECK}:\n{text}"))
            .to_owned()
    };
    assert!(line("sipa_check_check_success{").ends_with(" 0.0"));
    assert!(line("sipa_check_check_status{").contains("scenario=\"lab\",vantage=\"lab\""));
    assert!(
        text.contains(&format!(
            "sipa_check_check_status{{scenario=\"lab\",vantage=\"lab\",check=\"{CHECK}\",host=\"login.windows.net\",port=\"443\",route=\"ipv4\",stage=\"egress\",status=\"fail\"}} 1.0"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "sipa_check_egress_ip_info{{ip=\"127.0.0.3\",scenario=\"lab\",vantage=\"lab\",check=\"{CHECK}\"}} 1"
    )));
    assert!(
        text.contains(
            "sipa_check_run_status{scenario=\"lab\",vantage=\"lab\",status=\"fail\"} 1.0"
        )
    );
    assert!(text.contains(
        "sipa_check_evidence{scenario=\"lab\",vantage=\"lab\",host=\"login.windows.net\",port=\"443\",route=\"ipv4\",proof=\"echo\"} 1.0"
    ));
    assert!(text.contains("# TYPE sipa_check_egress_ip info"));
    // A push has no scheduler: no runs counter, no interval.
    assert!(!text.contains("sipa_check_runs_total"));
    assert!(!text.contains("sipa_check_scenario_interval_seconds"));

    // The Pushgateway's text format: no EOF, info as a gauge named `_info`.
    let pushed = metrics::text_004(&metrics::registry(vec![record]));
    assert!(!pushed.contains("# EOF"));
    assert!(pushed.contains("# TYPE sipa_check_egress_ip_info gauge"));
    assert!(!pushed.contains(" info\n"));
}

/// The series of one exposition: each sample line's name and labels (its value set aside).
fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(series, _)| series)
                .to_owned()
        })
        .collect()
}

/// The README says the series are bounded, not fixed: a check's `status` label and a run's
/// egress IPs change from run to run, so series come and go, while each family keeps one
/// series per check. Both halves are shown here on the lab, healthy and then broken.
#[tokio::test]
async fn series_come_and_go_between_runs_but_stay_bounded() {
    let healthy = common::run_lab(&[], false, Overrides::default()).await;
    let broken = common::run_lab(&[Fault::OneDomainUnanchored], false, Overrides::default()).await;
    let checks = healthy.checks.len();
    assert_eq!(broken.checks.len(), checks, "the same plan both times");
    let render = |run| {
        metrics::openmetrics(&metrics::registry(vec![ScenarioRecord::of_runs(
            vec![run],
            SystemTime::now(),
        )]))
    };
    let (before, after) = (series(&render(healthy)), series(&render(broken)));
    let status_of_check = |status: &str| {
        format!(
            "sipa_check_check_status{{scenario=\"lab\",vantage=\"lab\",check=\"{CHECK}\",host=\"login.windows.net\",port=\"443\",route=\"ipv4\",stage=\"egress\",status=\"{status}\"}}"
        )
    };
    // Come and go: the check's pass series is gone after the fault, a fail series came.
    assert!(before.contains(&status_of_check("pass")), "{before:#?}");
    assert!(!after.contains(&status_of_check("pass")), "{after:#?}");
    assert!(after.contains(&status_of_check("fail")), "{after:#?}");
    assert!(!before.contains(&status_of_check("fail")));
    assert!(
        after.difference(&before).count() > 0 && before.difference(&after).count() > 0,
        "no series came or went"
    );
    // Bounded: one status series per check in either run.
    for exposed in [&before, &after] {
        let status_series = exposed
            .iter()
            .filter(|s| s.starts_with("sipa_check_check_status{"))
            .count();
        assert_eq!(status_series, checks);
    }
    // And the monitoring guide says so, in its metrics section.
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/guide-monitoring.md"
    ))
    .unwrap()
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ");
    assert!(
        !readme.contains("so the number of series is too"),
        "the monitoring guide still calls the number of series fixed"
    );
    assert!(
        readme.contains("number of series is bounded, not fixed"),
        "the monitoring guide does not say the series are bounded"
    );
}
