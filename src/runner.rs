//! Runs a plan's checks concurrently, each under its timeout, all under the run's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;

use std::net::IpAddr;

use crate::address::ConnectTo;
use crate::observation::{ConnectOutcome, Cut, DnsOutcome, NoFamilyPath, NotRun, Observation};
use crate::outcome::{ScenarioRun, Tally, VantageFacts};
use crate::plan::{Check, CheckKind, Plan};
use crate::probe::{self, AbortOnDrop, DnsClient, ProbeCtx, TrustStore};
use crate::scenario::model::{Family, Limits, Scenario};
use crate::verdict::{self, Expectation};

/// Why a run could not start. Network trouble is never this: it is recorded as evidence.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Dns(#[from] probe::dns::DnsSetupError),
    #[error(transparent)]
    Trust(#[from] probe::tls::TrustError),
    #[error(
        "no expected App Connector IPs: list them under [anchor] expect in {} or pass --expect-ip",
        .0.display()
    )]
    NoAnchors(std::path::PathBuf),
}

/// Progress of a run, for a live display.
pub trait Progress: Send + Sync {
    /// Called as each check's observation arrives (before any verdict).
    fn done(&self, _finished: usize, _total: usize, _check: &Check, _seen: &Observation) {}
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
        return Err(SetupError::NoAnchors(scenario.source.clone()));
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
        require: scenario.limits.require,
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
    let plan = Arc::new(Plan::build(scenario, &settings.connect_to));
    let (ctx, exp) = prepare(scenario, settings.connect_to)?;
    let (observations, cut_short) = execute(
        &plan,
        ctx.clone(),
        &scenario.limits,
        settings.interrupt,
        settings.progress,
    )
    .await;
    let checks = verdict::judge(&plan, &observations, &exp);
    let evidence = verdict::proven_evidence(&plan, &checks);
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
        evidence,
    })
}

/// The observations of one probe, in [`Probe::checks`] order.
type Seen = Arc<[Observation]>;
type Job = Shared<BoxFuture<'static, Seen>>;

/// Runs every probe of the plan, each as soon as the resolve it waits for has passed, under its
/// timeout and the run's deadline; returns one observation per check, in plan order, and what
/// cut the run short, if anything did.
pub async fn execute(
    plan: &Arc<Plan>,
    ctx: Arc<ProbeCtx>,
    limits: &Limits,
    interrupt: BoxFuture<'_, Cut>,
    progress: &dyn Progress,
) -> (Vec<Observation>, Option<Cut>) {
    let started = Instant::now();
    let concurrency = limits.concurrency.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(concurrency));
    // The probes bound their own steps; this outer bound only catches what slips through.
    let per_probe = limits.timeout + Duration::from_millis(250);
    let mut jobs: Vec<Job> = Vec::with_capacity(plan.probes.len());
    for (index, probe) in plan.probes.iter().enumerate() {
        let lead = &plan.checks[probe.lead()];
        // Resolves come first in the plan: the job a probe waits for already exists.
        let waits_for = lead
            .waits_for
            .map(|r| (r, jobs[plan.checks[r].probe].clone()));
        // A permit stands for one connection in flight: an echo check holds one per sample, as
        // its samples run at once on connections of their own. So at most
        // max(concurrency, samples) probe sockets are open at any time, however large the plan.
        let weight = match &lead.kind {
            CheckKind::Egress(observer) => observer.samples.max(1) as usize,
            _ => 1,
        };
        let weight = u32::try_from(weight.min(concurrency)).unwrap_or(u32::MAX);
        let (plan, ctx, permits) = (plan.clone(), ctx.clone(), permits.clone());
        let job = async move {
            let probe = &plan.probes[index];
            let each = |why: NotRun| -> Seen {
                vec![Observation::NotRun(why); probe.checks().len()].into()
            };
            let resolved = match waits_for {
                None => Vec::new(),
                Some((check, job)) => match usable_addresses(&plan.checks[check], &job.await[0]) {
                    Ok(addresses) => addresses,
                    Err(why) => return each(why),
                },
            };
            let Ok(_permit) = permits.acquire_many_owned(weight).await else {
                return each(NotRun::Panicked {
                    message: "the run's connection permits were closed".into(),
                });
            };
            // A task of its own, so that the runtime's worker threads share the TLS and HTTP
            // work of many probes instead of one thread polling them all.
            let task_plan = plan.clone();
            let mut task = AbortOnDrop(tokio::spawn(async move {
                let probe = &task_plan.probes[index];
                probe::run(&task_plan, probe, &ctx, &resolved).await
            }));
            match tokio::time::timeout(per_probe, &mut task.0).await {
                Ok(Ok(observations)) => observations.into(),
                Ok(Err(e)) if e.is_panic() => each(NotRun::Panicked {
                    message: panic_message(e.into_panic()),
                }),
                Ok(Err(_)) => each(NotRun::Panicked {
                    message: "the probe's task was cancelled".into(),
                }),
                Err(_) => each(NotRun::Timeout { after: per_probe }),
            }
        }
        .boxed()
        .shared();
        jobs.push(job);
    }

    let total = plan.checks.len();
    let mut pending: FuturesUnordered<_> = jobs
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, job)| job.map(move |seen| (i, seen)))
        .collect();
    let mut observations: Vec<Option<Observation>> = vec![None; total];
    let deadline = tokio::time::sleep(limits.deadline);
    tokio::pin!(deadline);
    let mut interrupt = interrupt;
    let mut finished = 0;
    let cut_short = loop {
        tokio::select! {
            next = pending.next() => match next {
                Some((i, seen)) => {
                    for (&check, obs) in plan.probes[i].checks().iter().zip(seen.iter()) {
                        finished += 1;
                        progress.done(finished, total, &plan.checks[check], obs);
                        observations[check] = Some(obs.clone());
                    }
                }
                None => break None,
            },
            _ = &mut deadline => break Some(Cut::Deadline { deadline: limits.deadline }),
            by = &mut interrupt => break Some(by),
        }
    };
    let ran = started.elapsed();
    let observations = observations
        .into_iter()
        .map(|obs| {
            obs.unwrap_or_else(|| {
                Observation::NotRun(NotRun::Cut {
                    by: cut_short.unwrap_or(Cut::Interrupted),
                    ran,
                })
            })
        })
        .collect();
    (observations, cut_short)
}

/// The cheap pass test of a resolve, for the probes that wait for it: its addresses, or why the
/// probe cannot run. A family without records has nothing to verify; anything else the
/// resolve check's own verdict explains.
fn usable_addresses(resolve: &Check, seen: &Observation) -> Result<Vec<IpAddr>, NotRun> {
    let blocked = || NotRun::Blocked {
        check: resolve.id,
        on: resolve.name.clone(),
    };
    match seen {
        Observation::Resolve(dns) => match &dns.outcome {
            DnsOutcome::Answers { answers } if !answers.is_empty() => Ok(dns.addresses()),
            DnsOutcome::NoRecords if resolve.family() == Some(Family::V6) => {
                Err(NotRun::NothingToVerify {
                    family: Family::V6,
                    why: NoFamilyPath::NoRecords,
                })
            }
            _ => Err(blocked()),
        },
        _ => Err(blocked()),
    }
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
