//! Runs a plan's checks concurrently, each under its timeout, all under the run's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;

use crate::observation::{ConnectOutcome, Cut, NoFamilyPath, NotRun, Observation};
use crate::outcome::{Outcome, ScenarioRun, Status, Tally, VantageFacts};
use crate::plan::{Check, CheckKind, Plan};
use crate::probe::{self, AbortOnDrop, ConnectTo, DnsClient, ProbeCtx, TrustStore};
use crate::scenario::model::Scenario;
use crate::verdict::{self, Expectation};

/// Why a run could not start. Network trouble is never this: it is recorded as evidence.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Dns(#[from] probe::dns::DnsSetupError),
    #[error(transparent)]
    Trust(#[from] probe::tls::TrustError),
    #[error(
        "no expected App Connector IPs: list them under [anchor] expect in {0} or pass --expect-ip"
    )]
    NoAnchors(String),
}

/// Progress of a run, for a live display.
pub trait Progress: Send + Sync {
    /// Called once before the first check starts.
    fn start(&self, _total: usize) {}
    /// Called as each check ends.
    fn done(&self, _finished: usize, _total: usize, _outcome: &Outcome) {}
}

/// No progress display.
pub struct Quiet;
impl Progress for Quiet {}

/// What a run needs beyond the scenario.
pub struct RunSettings<'a> {
    pub connect_to: Vec<ConnectTo>,
    /// Resolves when the user interrupts (Ctrl-C) or the process is told to stop (SIGTERM):
    /// the run ends as at the deadline.
    pub interrupt: BoxFuture<'a, Cut>,
    pub progress: &'a dyn Progress,
}

/// Everything the checks need, set up once: resolver, trust anchors, expectations.
pub fn prepare(
    scenario: &Scenario,
    connect_to: Vec<ConnectTo>,
) -> Result<(Arc<ProbeCtx>, Expectation), SetupError> {
    if scenario.anchors.is_empty() {
        return Err(SetupError::NoAnchors(scenario.source.display().to_string()));
    }
    let ctx = ProbeCtx {
        dns: DnsClient::new(&scenario.vantage.dns, scenario.limits.timeout)?,
        trust: Arc::new(TrustStore::load(&scenario.vantage.ca_files)?),
        connect_to,
        proxy: scenario.vantage.proxy.clone(),
        timeout: scenario.limits.timeout,
    };
    let exp = Expectation {
        anchors: scenario.anchors.clone(),
        expect_anchored: scenario.vantage.expect_anchored,
        proxied: scenario.vantage.proxy.is_some(),
        login_ports: scenario.login.ports.clone(),
    };
    Ok((Arc::new(ctx), exp))
}

/// Runs one scenario from this vantage and judges it.
pub async fn run_scenario(
    scenario: &Scenario,
    settings: RunSettings<'_>,
) -> Result<ScenarioRun, SetupError> {
    let started_at = now_rfc3339();
    let started = Instant::now();
    let plan = Plan::build(scenario, &settings.connect_to);
    let (ctx, exp) = prepare(scenario, settings.connect_to)?;
    let (observations, cut_short) = execute(
        &plan,
        ctx.clone(),
        &exp,
        scenario,
        settings.interrupt,
        settings.progress,
    )
    .await;
    let checks = verdict::judge(&plan, &observations, &exp);
    let vantage = VantageFacts {
        name: scenario.vantage.name.clone(),
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        sipa_check_version: env!("CARGO_PKG_VERSION").to_string(),
        resolvers: ctx.dns.servers().to_vec(),
        proxy: scenario.vantage.proxy.as_ref().map(|p| p.display_url()),
        local_addresses: local_addresses(&observations),
        trust_store_problems: ctx.trust.os_store_problems(),
        expect_anchored: scenario.vantage.expect_anchored,
        started_at,
    };
    Ok(ScenarioRun {
        scenario: scenario.name.clone(),
        source: scenario.source.display().to_string(),
        anchors: scenario.anchors.entries(),
        vantage,
        elapsed: started.elapsed(),
        cut_short: cut_short.map(|c| crate::verdict::describe_cut(&c)),
        tally: Tally::of(&checks),
        checks,
    })
}

type Slot = Shared<BoxFuture<'static, Arc<Observation>>>;
/// The observations of one probe run: its lead check's first, then those of the checks sent on
/// its connection.
type Job = Shared<BoxFuture<'static, Arc<[Arc<Observation>]>>>;

/// Runs every check; returns one observation per check, in plan order, and why the run was
/// cut short, if it was.
pub async fn execute(
    plan: &Plan,
    ctx: Arc<ProbeCtx>,
    exp: &Expectation,
    scenario: &Scenario,
    interrupt: BoxFuture<'_, Cut>,
    progress: &dyn Progress,
) -> (Vec<Observation>, Option<Cut>) {
    let limits = &scenario.limits;
    let concurrency = limits.concurrency.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(concurrency));
    // The probes bound their own steps; this outer bound only catches what slips through.
    let per_check = limits.timeout + Duration::from_millis(250);
    // The checks that go on each check's connection, in plan order.
    let mut riders_of: Vec<Vec<usize>> = vec![Vec::new(); plan.checks.len()];
    for check in &plan.checks {
        if let Some(lead) = check.conn_of
            && let Some(riders) = riders_of.get_mut(lead)
        {
            riders.push(check.id);
        }
    }
    let mut jobs: Vec<Option<Job>> = Vec::with_capacity(plan.checks.len());
    let mut slots: Vec<Slot> = Vec::with_capacity(plan.checks.len());
    for check in &plan.checks {
        if let Some(lead) = check.conn_of {
            // Run by its lead's job: its observation is that job's, at its place among the riders.
            let job = jobs.get(lead).cloned().flatten();
            let place = 1 + riders_of[lead]
                .iter()
                .position(|&r| r == check.id)
                .unwrap_or_default();
            jobs.push(None);
            slots.push(match job {
                Some(job) => job.map(move |all| all[place].clone()).boxed().shared(),
                None => futures::future::ready(Arc::new(Observation::NotRun(NotRun::Blocked {
                    on: "a connection that is never opened".into(),
                })))
                .boxed()
                .shared(),
            });
            continue;
        }
        let riders: Vec<Check> = riders_of[check.id]
            .iter()
            .map(|&r| plan.checks[r].clone())
            .collect();
        let mut dep_ids = check.deps.clone();
        for d in riders.iter().flat_map(|r| &r.deps) {
            if !dep_ids.contains(d) {
                dep_ids.push(*d);
            }
        }
        let deps: Vec<(Check, Slot)> = dep_ids
            .iter()
            .map(|&d| (plan.checks[d].clone(), slots[d].clone()))
            .collect();
        let check = check.clone();
        let ctx = ctx.clone();
        let exp = exp.clone();
        let permits = permits.clone();
        let all = 1 + riders.len();
        // Every check of the job ends the same way when it cannot run.
        let each = move |obs: Observation| -> Arc<[Arc<Observation>]> {
            let obs = Arc::new(obs);
            vec![obs; all].into()
        };
        // A permit stands for one connection in flight: an echo check holds one per sample, as
        // its samples run at once on connections of their own. So at most
        // max(concurrency, samples) probe sockets are open at any time, however large the plan.
        let weight = match &check.kind {
            CheckKind::Egress(observer) => observer.samples.max(1) as usize,
            _ => 1,
        };
        let weight = u32::try_from(weight.min(concurrency)).unwrap_or(u32::MAX);
        let job: Job = async move {
            let mut upstream = Vec::with_capacity(deps.len());
            for (dep, slot) in deps {
                let seen = slot.await;
                let status = verdict::judge_check(&dep, &seen, &exp).status;
                match status {
                    Status::Pass => upstream.push(seen),
                    // Only a resolve is depended on: skipped, it found nothing of this family.
                    Status::Skip => {
                        return each(Observation::NotRun(match check.family() {
                            Some(family) => NotRun::NothingToVerify {
                                family,
                                why: NoFamilyPath::NoRecords,
                            },
                            None => NotRun::Blocked {
                                on: dep.name.clone(),
                            },
                        }));
                    }
                    Status::Fail | Status::Error => {
                        return each(Observation::NotRun(NotRun::Blocked {
                            on: dep.name.clone(),
                        }));
                    }
                }
            }
            let Ok(_permit) = permits.acquire_many_owned(weight).await else {
                return each(Observation::NotRun(NotRun::Blocked {
                    on: "the run, which stopped".into(),
                }));
            };
            // A task of its own, so that the runtime's worker threads share the TLS and HTTP
            // work of many probes instead of one thread polling them all.
            let mut task = AbortOnDrop(tokio::spawn(async move {
                probe::run_job(&check, &riders, &ctx, &upstream).await
            }));
            match tokio::time::timeout(per_check, &mut task.0).await {
                Ok(Ok(observations)) => observations.into_iter().map(Arc::new).collect(),
                Ok(Err(e)) if e.is_panic() => each(Observation::NotRun(NotRun::Panicked {
                    message: panic_message(e.into_panic()),
                })),
                Ok(Err(_)) => each(Observation::NotRun(NotRun::Blocked {
                    on: "the run, which stopped".into(),
                })),
                Err(_) => each(Observation::NotRun(NotRun::Timeout { after: per_check })),
            }
        }
        .boxed()
        .shared();
        slots.push(job.clone().map(|all| all[0].clone()).boxed().shared());
        jobs.push(Some(job));
    }

    let total = slots.len();
    progress.start(total);
    let mut pending: FuturesUnordered<_> = slots
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| s.map(move |o| (i, o)))
        .collect();
    let deadline = tokio::time::sleep(limits.deadline);
    tokio::pin!(deadline);
    let mut interrupt = interrupt;
    let mut finished = 0;
    let started = Instant::now();
    let cut_short = loop {
        tokio::select! {
            next = pending.next() => match next {
                Some((i, obs)) => {
                    finished += 1;
                    let outcome = verdict::judge_check(&plan.checks[i], &obs, exp);
                    progress.done(finished, total, &outcome);
                }
                None => break None,
            },
            _ = &mut deadline => break Some(Cut::Deadline { deadline: limits.deadline }),
            by = &mut interrupt => break Some(by),
        }
    };
    let observations = slots
        .iter()
        .map(|slot| match slot.peek() {
            Some(obs) => obs.as_ref().clone(),
            None => Observation::NotRun(NotRun::Cut {
                by: cut_short.unwrap_or(Cut::Interrupted),
                ran: started.elapsed(),
            }),
        })
        .collect();
    (observations, cut_short)
}

/// The local addresses connections left from: which interface this vantage really used.
fn local_addresses(observations: &[Observation]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for obs in observations {
        if let Observation::Connect(c) = obs {
            for a in &c.attempts {
                if let ConnectOutcome::Connected { local } = a.outcome {
                    let ip = local.ip().to_string();
                    if !seen.contains(&ip) {
                        seen.push(ip);
                    }
                }
            }
        }
    }
    seen
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What a panic said, for the check it broke.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Something that never resolves: for runs that cannot be interrupted.
pub fn never<'a>() -> BoxFuture<'a, Cut> {
    futures::future::pending().boxed()
}
