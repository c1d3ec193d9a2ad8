//! Runs as Prometheus metrics: the series `sipa-check serve` exposes (OpenMetrics text) and
//! `sipa-check run --push` sends to a Pushgateway (text 0.0.4), written from the same records by
//! the Prometheus project's own client library (`prometheus-client`).
//!
//! Every label value comes from the configuration (scenario, vantage, check, host, port, route,
//! stage) or from a closed set (status, proof), except the egress IP, which is bounded to
//! [`MAX_EGRESS_IPS_PER_CHECK`] per check: the number of series is bounded by the scenarios,
//! not fixed (a status or proof that changes, or an egress IP dropped, ends its series).

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::observation::Observation;
use crate::outcome::{Outcome, Proof, ScenarioRun, Status, Tally};

/// How many distinct egress IPs are kept per check; the least recently seen is dropped first.
pub const MAX_EGRESS_IPS_PER_CHECK: usize = 4;

/// The `Content-Type` of `/metrics` and `/probe`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of a push (the Pushgateway reads text 0.0.4, not every OpenMetrics form).
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How a whole run ended, as the `status` label of the run series says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunStatus {
    Pass,
    Fail,
    /// No failure, but something could not be decided.
    Inconclusive,
    /// The run could not start (its set-up failed, such as a CA file gone since start).
    SetupError,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Pass,
        RunStatus::Fail,
        RunStatus::Inconclusive,
        RunStatus::SetupError,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Pass => "pass",
            RunStatus::Fail => "fail",
            RunStatus::Inconclusive => "inconclusive",
            RunStatus::SetupError => "setup-error",
        }
    }

    /// The status of a finished run of one vantage (or several).
    pub fn of(overall: Status) -> RunStatus {
        match overall {
            Status::Pass => RunStatus::Pass,
            Status::Fail => RunStatus::Fail,
            Status::Error | Status::Skip => RunStatus::Inconclusive,
        }
    }
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Error => "error",
        Status::Skip => "skip",
    }
}

fn proof_label(p: Proof) -> &'static str {
    match p {
        Proof::Echo => "echo",
        Proof::EntraLog => "entra-log",
        Proof::EntraCa => "entra-ca",
        Proof::EntraCaUnverified => "entra-ca-unverified",
        Proof::PathOnly => "path-only",
    }
}

/// The last run of a scenario.
#[derive(Debug, Clone)]
pub struct LastRun {
    /// When it ended.
    pub finished_at: SystemTime,
    /// How long it took, set-up included.
    pub elapsed: Duration,
    /// One run per vantage, or why the run could not start.
    pub result: Result<Vec<ScenarioRun>, String>,
}

impl LastRun {
    /// The run's status over all its vantages.
    pub fn status(&self) -> RunStatus {
        match &self.result {
            Ok(runs) => RunStatus::of(Tally::sum(runs.iter().map(|r| &r.tally)).overall()),
            Err(_) => RunStatus::SetupError,
        }
    }
}

/// What the scheduler counted for a scenario (`serve` only; a push has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounters {
    /// Finished runs, by status.
    pub finished: [u64; 4],
    /// Runs due while the previous one was still going, so not started.
    pub skipped: u64,
    /// Consecutive finished runs, up to the last, that were inconclusive or could not start.
    pub inconclusive_streak: u64,
    /// Whether a run is going now.
    pub in_progress: bool,
}

impl RunCounters {
    /// Counts a finished run.
    pub fn finished(&mut self, status: RunStatus) {
        let i = RunStatus::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or_default();
        self.finished[i] += 1;
        match status {
            RunStatus::Inconclusive | RunStatus::SetupError => self.inconclusive_streak += 1,
            RunStatus::Pass | RunStatus::Fail => self.inconclusive_streak = 0,
        }
    }
}

/// The egress IPs each check saw lately: at most [`MAX_EGRESS_IPS_PER_CHECK`] per check, the
/// most recently seen first.
#[derive(Debug, Clone, Default)]
pub struct EgressHistory {
    /// (vantage, check) → (IP, last seen).
    seen: BTreeMap<(String, String), VecDeque<(IpAddr, SystemTime)>>,
}

impl EgressHistory {
    /// Adds the IPs of every egress check of `run`, seen at `at`.
    pub fn record(&mut self, run: &ScenarioRun, at: SystemTime) {
        for check in &run.checks {
            let Observation::Egress(e) = &check.observation else {
                continue;
            };
            let ips = e.ips();
            if ips.is_empty() {
                continue;
            }
            let kept = self
                .seen
                .entry((run.vantage.name.clone(), check.name.clone()))
                .or_default();
            for ip in ips {
                kept.retain(|(seen, _)| *seen != ip);
                kept.push_front((ip, at));
            }
            kept.truncate(MAX_EGRESS_IPS_PER_CHECK);
        }
    }

    /// The IPs kept for one check, most recently seen first.
    pub fn of(&self, vantage: &str, check: &str) -> impl Iterator<Item = &(IpAddr, SystemTime)> {
        self.seen
            .get(&(vantage.to_owned(), check.to_owned()))
            .into_iter()
            .flatten()
    }

    fn all(&self) -> impl Iterator<Item = (&str, &str, IpAddr, SystemTime)> {
        self.seen.iter().flat_map(|((v, c), ips)| {
            ips.iter()
                .map(move |(ip, at)| (v.as_str(), c.as_str(), *ip, *at))
        })
    }
}

/// Everything the metrics show about one scenario.
#[derive(Debug, Clone, Default)]
pub struct ScenarioRecord {
    /// The `scenario` label: the name in the serve configuration, or the scenario's own name
    /// for a push.
    pub scenario: String,
    /// The vantage its runs are labelled with when there is no run to name one (set-up errors).
    pub vantage: String,
    /// How often `serve` runs it.
    pub interval: Option<Duration>,
    pub last: Option<Arc<LastRun>>,
    pub counters: Option<RunCounters>,
    pub egress: EgressHistory,
}

impl ScenarioRecord {
    /// The record of a one-shot run (`run --push`): its runs, no scheduler.
    pub fn of_runs(runs: Vec<ScenarioRun>, finished_at: SystemTime) -> ScenarioRecord {
        let mut egress = EgressHistory::default();
        for run in &runs {
            egress.record(run, finished_at);
        }
        let elapsed = runs.iter().map(|r| r.elapsed).max().unwrap_or_default();
        ScenarioRecord {
            scenario: runs.first().map(|r| r.scenario.clone()).unwrap_or_default(),
            vantage: runs
                .first()
                .map(|r| r.vantage.name.clone())
                .unwrap_or_default(),
            interval: None,
            last: Some(Arc::new(LastRun {
                finished_at,
                elapsed,
                result: Ok(runs),
            })),
            counters: None,
            egress,
        }
    }

    /// Records a finished run: the last run, the counters and the egress history.
    pub fn finish(&mut self, last: LastRun) {
        if let Ok(runs) = &last.result {
            for run in runs {
                self.egress.record(run, last.finished_at);
            }
        }
        if let Some(c) = &mut self.counters {
            c.finished(last.status());
        }
        self.last = Some(Arc::new(last));
    }
}

/// A registry over `records`, for one encoding.
pub fn registry(records: Vec<ScenarioRecord>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(records)));
    registry
}

/// A registry whose collector reads `records` at each scrape (`serve`).
pub fn live_registry(records: Arc<Mutex<Vec<ScenarioRecord>>>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Live(records)));
    registry
}

/// `records` in the OpenMetrics text format.
pub fn openmetrics(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail, and no collector here returns an error of its own.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// `records` in the Prometheus text format 0.0.4, which the Pushgateway reads.
pub fn text_004(registry: &Registry) -> String {
    let mut text = String::new();
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, registry);
    text
}

#[derive(Debug)]
struct Snapshot(Vec<ScenarioRecord>);

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_records(&self.0, encoder)
    }
}

#[derive(Debug)]
struct Live(Arc<Mutex<Vec<ScenarioRecord>>>);

impl Collector for Live {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A cheap copy under the lock (the runs are shared), the text outside it: a scrape never
        // holds up a finishing run.
        let records = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        encode_records(&records, encoder)
    }
}

/// One check's labels.
fn check_labels(scenario: &str, vantage: &str, o: &Outcome) -> Vec<(&'static str, String)> {
    vec![
        ("scenario", scenario.to_owned()),
        ("vantage", vantage.to_owned()),
        ("check", o.name.clone()),
        ("host", o.host.clone()),
        ("port", o.port.map(|p| p.to_string()).unwrap_or_default()),
        ("route", o.route.map(|r| r.to_string()).unwrap_or_default()),
        ("stage", o.stage.to_string()),
    ]
}

/// Every (scenario, vantage, run) of the records that ran.
fn runs(records: &[ScenarioRecord]) -> impl Iterator<Item = (&ScenarioRecord, &ScenarioRun)> {
    records.iter().flat_map(|r| {
        r.last
            .iter()
            .filter_map(|l| l.result.as_ref().ok())
            .flatten()
            .map(move |run| (r, run))
    })
}

/// The vantages a record's last run is labelled with: each run's, or the configured one.
fn vantages(r: &ScenarioRecord) -> Vec<&str> {
    match r.last.as_deref().map(|l| &l.result) {
        Some(Ok(runs)) if !runs.is_empty() => {
            runs.iter().map(|x| x.vantage.name.as_str()).collect()
        }
        _ => vec![r.vantage.as_str()],
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Vec<(&'static str, String)>, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in series {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Vec<(&'static str, String)>, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, u64, f64>(&value, None)?;
    }
    Ok(())
}

fn encode_records(
    records: &[ScenarioRecord],
    mut encoder: DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let e = &mut encoder;
    let owned = |labels: &[(&'static str, String)]| labels.to_vec();
    let checks = || {
        runs(records).flat_map(|(r, run)| {
            run.checks
                .iter()
                .map(move |o| (check_labels(&r.scenario, &run.vantage.name, o), o))
        })
    };

    gauge(
        e,
        "sipa_check_check_success",
        "Whether the check passed in the scenario's last run (1) or not (0).",
        None,
        checks().map(|(l, o)| (owned(&l), f64::from(u8::from(o.status == Status::Pass)))),
    )?;
    gauge(
        e,
        "sipa_check_check_status",
        "The status the check ended in, in the last run (pass, fail, error, skip), as a series of value 1; fail: the network answered and anchoring is wrong; error: undecided.",
        None,
        checks().map(|(mut labels, o)| {
            labels.push(("status", status_label(o.status).to_owned()));
            (labels, 1.0)
        }),
    )?;
    gauge(
        e,
        "sipa_check_check_duration",
        "How long the check's phase (its stage label: resolve, connect, tls, http, egress, entra) took in the last run.",
        Some(&Unit::Seconds),
        checks().map(|(l, o)| (owned(&l), o.elapsed.as_secs_f64())),
    )?;
    gauge(
        e,
        "sipa_check_evidence",
        "How each login host's anchoring was proven in the last run, per port and route: its proof (echo, entra-log, entra-ca, entra-ca-unverified or path-only) as a series of value 1.",
        None,
        runs(records).flat_map(|(r, run)| {
            run.evidence.iter().map(move |ev| {
                (
                    vec![
                        ("scenario", r.scenario.clone()),
                        ("vantage", run.vantage.name.clone()),
                        ("host", ev.host.clone()),
                        ("port", ev.port.to_string()),
                        ("route", ev.route.to_string()),
                        ("proof", proof_label(ev.proof).to_owned()),
                    ],
                    1.0,
                )
            })
        }),
    )?;

    // The egress IPs, as an info metric (at most MAX_EGRESS_IPS_PER_CHECK per check).
    let mut ips = records
        .iter()
        .flat_map(|r| r.egress.all().map(move |(v, c, ip, at)| (r, v, c, ip, at)))
        .peekable();
    if ips.peek().is_some() {
        let mut metric = e.encode_descriptor(
            "sipa_check_egress_ip",
            "An IP address an echo observer saw this check's traffic come from, among the last few distinct ones per check.",
            None,
            MetricType::Info,
        )?;
        for (r, v, c, ip, _) in ips {
            let labels = vec![
                ("scenario", r.scenario.clone()),
                ("vantage", v.to_owned()),
                ("check", c.to_owned()),
            ];
            metric
                .encode_family(&labels)?
                .encode_info(&[("ip", ip.to_string())])?;
        }
    }
    gauge(
        e,
        "sipa_check_egress_ip_last_seen_timestamp",
        "When an echo observer last saw this check's traffic come from this IP (Unix time).",
        Some(&Unit::Seconds),
        records.iter().flat_map(|r| {
            r.egress.all().map(move |(v, c, ip, at)| {
                (
                    vec![
                        ("scenario", r.scenario.clone()),
                        ("vantage", v.to_owned()),
                        ("check", c.to_owned()),
                        ("ip", ip.to_string()),
                    ],
                    unix_seconds(at),
                )
            })
        }),
    )?;

    let last = || {
        records
            .iter()
            .filter_map(|r| r.last.as_deref().map(|l| (r, l)))
            .flat_map(|(r, l)| vantages(r).into_iter().map(move |v| (r, v, l)))
    };
    let run_labels = |r: &ScenarioRecord, v: &str| {
        vec![("scenario", r.scenario.clone()), ("vantage", v.to_owned())]
    };
    gauge(
        e,
        "sipa_check_run_timestamp",
        "When the scenario's last run ended (Unix time).",
        Some(&Unit::Seconds),
        last().map(|(r, v, l)| (run_labels(r, v), unix_seconds(l.finished_at))),
    )?;
    gauge(
        e,
        "sipa_check_run_duration",
        "How long the scenario's last run took.",
        Some(&Unit::Seconds),
        last().map(|(r, v, l)| (run_labels(r, v), l.elapsed.as_secs_f64())),
    )?;
    gauge(
        e,
        "sipa_check_run_success",
        "Whether the scenario's last run passed as a whole (1) or not (0).",
        None,
        last().map(|(r, v, l)| {
            (
                run_labels(r, v),
                f64::from(u8::from(vantage_status(l, v) == RunStatus::Pass)),
            )
        }),
    )?;
    gauge(
        e,
        "sipa_check_run_status",
        "The last run's overall status: 1 for the status it ended in (pass, fail, inconclusive, setup-error), 0 for the others.",
        None,
        last().flat_map(|(r, v, l)| {
            let status = vantage_status(l, v);
            let labels = run_labels(r, v);
            RunStatus::ALL.into_iter().map(move |s| {
                let mut labels = labels.clone();
                labels.push(("status", s.label().to_owned()));
                (labels, f64::from(u8::from(status == s)))
            })
        }),
    )?;
    gauge(
        e,
        "sipa_check_run_checks",
        "How many checks of the last run ended in each status.",
        None,
        runs(records).flat_map(|(r, run)| {
            let t = run.tally;
            [
                (Status::Pass, t.passed),
                (Status::Fail, t.failed),
                (Status::Error, t.errors),
                (Status::Skip, t.skipped),
            ]
            .into_iter()
            .map(move |(s, n)| {
                (
                    vec![
                        ("scenario", r.scenario.clone()),
                        ("vantage", run.vantage.name.clone()),
                        ("status", status_label(s).to_owned()),
                    ],
                    n as f64,
                )
            })
        }),
    )?;

    // The scheduler's own series (`serve` only).
    let scheduled = || records.iter().filter_map(|r| r.counters.map(|c| (r, c)));
    let scenario_label = |r: &ScenarioRecord| vec![("scenario", r.scenario.clone())];
    gauge(
        e,
        "sipa_check_scenario_interval",
        "How often serve runs the scenario.",
        Some(&Unit::Seconds),
        records
            .iter()
            .filter_map(|r| r.interval.map(|i| (scenario_label(r), i.as_secs_f64()))),
    )?;
    counter(
        e,
        "sipa_check_runs",
        "Runs of the scenario that ended, by overall status.",
        scheduled().flat_map(|(r, c)| {
            RunStatus::ALL
                .into_iter()
                .zip(c.finished)
                .map(move |(s, n)| {
                    let mut labels = scenario_label(r);
                    labels.push(("status", s.label().to_owned()));
                    (labels, n)
                })
        }),
    )?;
    counter(
        e,
        "sipa_check_runs_skipped",
        "Runs that were due while the scenario's previous run was still going, and so not started.",
        scheduled().map(|(r, c)| (scenario_label(r), c.skipped)),
    )?;
    gauge(
        e,
        "sipa_check_run_inconclusive_streak",
        "How many of the scenario's last runs in a row were inconclusive or could not start (0 after a pass or a fail).",
        None,
        scheduled().map(|(r, c)| (scenario_label(r), c.inconclusive_streak as f64)),
    )?;
    gauge(
        e,
        "sipa_check_run_in_progress",
        "Whether a run of the scenario is going now.",
        None,
        scheduled().map(|(r, c)| (scenario_label(r), f64::from(u8::from(c.in_progress)))),
    )?;
    let mut info = e.encode_descriptor(
        "sipa_check_build",
        "The sipa-check version that wrote these metrics.",
        None,
        MetricType::Info,
    )?;
    info.encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
    Ok(())
}

/// The status of one vantage of a run (a set-up error has no vantage of its own).
fn vantage_status(l: &LastRun, vantage: &str) -> RunStatus {
    match &l.result {
        Ok(runs) => RunStatus::of(
            Tally::sum(
                runs.iter()
                    .filter(|r| r.vantage.name == vantage)
                    .map(|r| &r.tally),
            )
            .overall(),
        ),
        Err(_) => RunStatus::SetupError,
    }
}
