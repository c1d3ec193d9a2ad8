//! Runs a plan's checks concurrently, each under its timeout, all under the run's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;

use std::net::IpAddr;

use crate::address::ConnectTo;
use crate::entra::{
    Cloud, EntraCredentials, GraphClient, GraphSettings, SignInLookup, check_anchors,
};
use crate::observation::{
    AnchorInLocations, NamedLocationsObservation, SignInLog, WhatIfObservation,
};
use crate::observation::{ConnectOutcome, Cut, DnsOutcome, NoFamilyPath, NotRun, Observation};
use crate::outcome::{EntraRecord, Outcome, PendingSignIn, ScenarioRun, Tally, VantageFacts};
use crate::plan::{Check, CheckKind, Plan};
use crate::probe::{self, AbortOnDrop, DnsClient, ProbeCtx, TrustStore};
use crate::scenario::model::{EntraSpec, Family, Limits, Scenario};
use crate::verdict::{self, Expectation};

/// Why a run could not start. Network trouble is never this: it is recorded as evidence.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Dns(#[from] probe::dns::DnsSetupError),
    #[error(transparent)]
    Trust(#[from] probe::tls::TrustError),
    #[error(transparent)]
    Bind(#[from] probe::bind::BindError),
    #[error(
        "no expected App Connector IPs: list them under [anchor] expect in {} or pass --expect-ip",
        .0.display()
    )]
    NoAnchors(std::path::PathBuf),
    #[error(
        "{}: [entra] needs the probe app's credentials: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH",
        .0.display()
    )]
    NoEntraCredentials(std::path::PathBuf),
    #[error("{}: [entra] authority_host: {source}", .scenario.display())]
    EntraCloud {
        scenario: std::path::PathBuf,
        source: crate::entra::CredentialsError,
    },
}

/// How a run reaches Entra: the probe app, and what Graph's own route needs beyond the
/// scenario's `[entra]` table (a lab's token endpoint and addresses, extra trust anchors).
#[derive(Debug, Clone)]
pub struct EntraAccess {
    pub credentials: Arc<EntraCredentials>,
    /// The token endpoint for Graph's token, when not the cloud authority's.
    pub graph_token_url: Option<url::Url>,
    /// Names pinned to addresses for Graph, instead of system DNS.
    pub graph_resolve: Vec<(String, std::net::SocketAddr)>,
    /// Trust anchors (PEM) for Graph beside the public roots and the vantage's `ca_files`.
    pub graph_roots_pem: Vec<String>,
    /// The first pause between two reads of the log; Graph's default when `None`.
    pub first_poll_interval: Option<Duration>,
}

impl EntraAccess {
    /// The probe app alone: Graph at the cloud's (or the scenario's) URL, system DNS.
    pub fn new(credentials: Arc<EntraCredentials>) -> EntraAccess {
        EntraAccess {
            credentials,
            graph_token_url: None,
            graph_resolve: Vec::new(),
            graph_roots_pem: Vec::new(),
            first_poll_interval: None,
        }
    }
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
    /// The Entra probe app and Graph's route, for `[entra]` scenarios.
    pub entra: Option<EntraAccess>,
}

/// A scenario's set-up, as [`prepare`] makes it and [`run_prepared`] uses it: the probes'
/// context and the expectation they are judged by.
pub type Prepared = (Arc<ProbeCtx>, Expectation);

/// Everything the checks need, set up once: resolver, trust anchors, expectations.
pub fn prepare(scenario: &Scenario, connect_to: Vec<ConnectTo>) -> Result<Prepared, SetupError> {
    if scenario.anchors.is_empty() {
        return Err(SetupError::NoAnchors(scenario.source.clone()));
    }
    let bind = scenario.vantage.bind.clone();
    if let Some(bind) = &bind {
        probe::bind::check(&scenario.vantage.name, bind)?;
    }
    let ctx = ProbeCtx {
        dns: DnsClient::bound(
            &scenario.vantage.dns,
            scenario.limits.timeout,
            bind.as_ref(),
        )?,
        trust: Arc::new(TrustStore::load(&scenario.vantage.ca_files)?),
        connect_to,
        proxy: scenario.vantage.proxy.clone(),
        timeout: scenario.limits.timeout,
        entra: None,
        bind,
    };
    let exp = Expectation {
        anchors: scenario.anchors.clone(),
        expect_anchored: scenario.vantage.expect_anchored,
        proxied: scenario.vantage.proxy.is_some(),
        login_ports: scenario.login.ports.clone(),
        require: scenario.limits.require,
        entra_mode: scenario.entra.as_ref().map(|e| e.mode).unwrap_or_default(),
        ca_policy: None,
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
    let prepared = prepare(scenario, settings.connect_to.clone())?;
    run_from(scenario, settings, prepared, (started_at, started)).await
}

/// As [`run_scenario`], with the set-up [`prepare`] made for this scenario and `connect_to`
/// (a long-running exporter keeps it across runs instead of building it each time). `ctx` is
/// only shared (held elsewhere too) for a scenario without `[entra]`: an Entra run adds the
/// probe app to its own context.
pub async fn run_prepared(
    scenario: &Scenario,
    settings: RunSettings<'_>,
    prepared: Prepared,
) -> Result<ScenarioRun, SetupError> {
    run_from(
        scenario,
        settings,
        prepared,
        (now_rfc3339(), Instant::now()),
    )
    .await
}

async fn run_from(
    scenario: &Scenario,
    settings: RunSettings<'_>,
    prepared: Prepared,
    started: (String, Instant),
) -> Result<ScenarioRun, SetupError> {
    let observed = observe(scenario, settings, prepared, started).await;
    judge_together(vec![scenario], vec![observed])
        .await
        .pop()
        .expect("one run for one vantage")
}

/// Runs every vantage of one scenario at once (each with its settings and set-up), and judges
/// them together ([`judge_together`]). One result per vantage, in the order given.
pub async fn run_vantages<'a>(
    runs: Vec<(&'a Scenario, RunSettings<'a>, Prepared)>,
) -> Vec<Result<ScenarioRun, SetupError>> {
    let scenarios: Vec<&Scenario> = runs.iter().map(|(s, _, _)| *s).collect();
    let observing = runs.into_iter().map(|(scenario, settings, prepared)| {
        observe(
            scenario,
            settings,
            prepared,
            (now_rfc3339(), Instant::now()),
        )
    });
    let observed = futures::future::join_all(observing).await;
    judge_together(scenarios, observed).await
}

/// Reads Graph for the vantages whose probes are done, then judges them. Graph is read with a
/// token Entra issued through a path under test (an anchored vantage's first), which
/// Conditional Access trusts where it may refuse Graph's own route; a vantage outside the
/// trusted locations that Entra refused a token proves the policy that the other vantages'
/// token answers rely on.
async fn judge_together<'a>(
    scenarios: Vec<&Scenario>,
    mut observed: Vec<Result<Observed<'a>, SetupError>>,
) -> Vec<Result<ScenarioRun, SetupError>> {
    let anchored_first = |want: bool| {
        scenarios
            .iter()
            .zip(&observed)
            .filter(move |(s, _)| s.vantage.expect_anchored == want)
            .find_map(|(_, o)| o.as_ref().ok()?.issued_token())
    };
    let token = anchored_first(true).or_else(|| anchored_first(false));
    let reading = scenarios
        .iter()
        .zip(observed.iter_mut())
        .filter_map(|(s, o)| Some(o.as_mut().ok()?.read_graph(s, token.clone())));
    futures::future::join_all(reading).await;
    let ca_policy = scenarios
        .iter()
        .zip(&observed)
        .find_map(|(s, o)| o.as_ref().ok()?.ca_control(s));
    scenarios
        .into_iter()
        .zip(observed)
        .map(|(s, o)| o.map(|o| conclude(s, o, ca_policy.clone())))
        .collect()
}

/// What one vantage's run observed, before it is judged: Graph's answers and the judging may
/// wait for the scenario's other vantages.
struct Observed<'a> {
    plan: Arc<Plan>,
    observations: Vec<Observation>,
    cut_short: Option<Cut>,
    ctx: Arc<ProbeCtx>,
    exp: Expectation,
    entra: Option<EntraRecord>,
    /// Graph, still to be read: the probe app's client id and Graph's route.
    graph: Option<(String, GraphSettings)>,
    interrupt: Shared<BoxFuture<'a, Cut>>,
    started_at: String,
    started: Instant,
}

impl Observed<'_> {
    /// The proof this vantage gives that a Conditional Access policy bites: from outside the
    /// trusted locations, Entra refused it a token.
    fn ca_control(&self, scenario: &Scenario) -> Option<crate::observation::CaPolicyProof> {
        verdict::ca_control(&scenario.vantage.name, &self.observations, &self.exp)
    }

    /// A token Entra issued through this vantage's path under test, still usable.
    fn issued_token(&self) -> Option<crate::probe::token::IssuedToken> {
        self.observations.iter().find_map(|o| match o {
            Observation::Entra(e) => e
                .token
                .issued
                .clone()
                .filter(|t| Instant::now() < t.usable_until),
            _ => None,
        })
    }

    /// Reads Graph, when the scenario asks for it (in `ca` mode only for What If), with
    /// `token` when one was issued through a path under test.
    async fn read_graph(
        &mut self,
        scenario: &Scenario,
        token: Option<crate::probe::token::IssuedToken>,
    ) {
        let (Some(spec), Some((client_id, graph))) = (&scenario.entra, self.graph.take()) else {
            return;
        };
        let cut = read_graph(
            &mut self.observations,
            self.cut_short,
            scenario,
            spec,
            (&client_id, graph, token),
            self.interrupt.clone(),
        )
        .await;
        self.cut_short = self.cut_short.or(cut);
    }
}

/// Runs the probes of one vantage: everything the verdict needs but Graph's answers.
async fn observe<'a>(
    scenario: &Scenario,
    settings: RunSettings<'a>,
    (ctx, exp): Prepared,
    (started_at, started): (String, Instant),
) -> Result<Observed<'a>, SetupError> {
    let entra = match (&scenario.entra, settings.entra) {
        (None, _) => None,
        (Some(_), None) => return Err(SetupError::NoEntraCredentials(scenario.source.clone())),
        (Some(spec), Some(access)) => Some(entra_setup(scenario, spec, access)?),
    };
    let ctx = match &entra {
        Some((credentials, _)) => {
            let mut with = match Arc::try_unwrap(ctx) {
                Ok(ctx) => ctx,
                // A context kept by the caller: this run builds its own.
                Err(_) => Arc::try_unwrap(prepare(scenario, settings.connect_to.clone())?.0)
                    .unwrap_or_else(|_| unreachable!("not shared yet")),
            };
            with.entra = Some(credentials.clone());
            Arc::new(with)
        }
        None => ctx,
    };
    // The browser's proxy decisions, made once before planning: the plan follows them.
    let decisions = probe::pac::decide(scenario, &ctx).await.map(Arc::new);
    let plan = Arc::new(Plan::build_with(scenario, &settings.connect_to, decisions));
    let interrupt = settings.interrupt.shared();
    let (mut observations, cut_short) = execute(
        &plan,
        ctx.clone(),
        &scenario.limits,
        interrupt.clone().boxed(),
        settings.progress,
    )
    .await;
    probe::quic::link_offers(&plan, &mut observations);
    let entra_record = match (&scenario.entra, &entra) {
        (Some(spec), Some((credentials, graph))) => Some(EntraRecord {
            graph_url: graph
                .graph_base
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_else(|| format!("https://{}/", credentials.cloud.graph_host)),
            authority_host: spec.authority_host.clone(),
            wait: spec.wait,
            mode: spec.mode,
            ca_policy: None,
        }),
        _ => None,
    };
    // In `ca` mode the token answers are the verdict: Graph is read only for What If, when
    // the scenario asks for it.
    let graph = match (&scenario.entra, entra) {
        (Some(spec), Some((credentials, graph))) if spec.contacts_graph() => {
            Some((credentials.client_id.clone(), graph))
        }
        _ => None,
    };
    Ok(Observed {
        plan,
        observations,
        cut_short,
        ctx,
        exp,
        entra: entra_record,
        graph,
        interrupt,
        started_at,
        started,
    })
}

/// Judges what one vantage observed; `ca_policy` is what showed, in this run or another
/// vantage's, that Conditional Access refuses the probe app outside the trusted locations.
fn conclude(
    scenario: &Scenario,
    observed: Observed<'_>,
    ca_policy: Option<crate::observation::CaPolicyProof>,
) -> ScenarioRun {
    let Observed {
        plan,
        observations,
        cut_short,
        ctx,
        mut exp,
        mut entra,
        started_at,
        started,
        ..
    } = observed;
    if let Some(record) = &mut entra
        && record.mode != crate::scenario::model::EntraMode::Log
    {
        record.ca_policy = ca_policy.clone();
        exp.ca_policy = ca_policy;
    }
    let checks = verdict::judge(&plan, &observations, &exp);
    let evidence = verdict::proven_evidence(&plan, &checks, &exp);
    let pending_sign_ins = pending_sign_ins(&plan, &checks);
    let vantage = VantageFacts {
        name: scenario.vantage.name.clone(),
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        sipa_check_version: env!("CARGO_PKG_VERSION").to_string(),
        resolvers: ctx.dns.servers().to_vec(),
        proxy: scenario.vantage.proxy.as_ref().map(|p| p.display_url()),
        proxy_decision: plan.decisions.as_ref().map(|d| d.source.to_string()),
        local_addresses: local_addresses(&observations),
        trust_store_problems: ctx.trust.os_store_problems(),
        warnings: scenario.vantage_warnings(),
        expect_anchored: scenario.vantage.expect_anchored,
        bind: scenario.vantage.bind.as_ref().map(ToString::to_string),
        quic: plan.quic_not_checked(scenario),
        started_at,
    };
    ScenarioRun {
        scenario: scenario.name.clone(),
        source: scenario.source.display().to_string(),
        anchors: scenario.anchors.entries(),
        vantage,
        elapsed: started.elapsed(),
        cut_short: cut_short.map(|c| crate::verdict::describe_cut(&c)),
        tally: Tally::of(&checks),
        checks,
        evidence,
        entra,
        pending_sign_ins,
        merged_from: None,
        anchor_connectors: Vec::new(),
    }
}

/// The sign-ins Entra answered whose record the run did not see, because the log had not
/// ingested them yet or the run ended before reading it: a later `sipa-check complete` can
/// still find them. A lookup Graph refused is no pending sign-in: its check says why.
fn pending_sign_ins(plan: &Plan, checks: &[Outcome]) -> Vec<PendingSignIn> {
    plan.checks
        .iter()
        .zip(checks)
        .filter_map(|(check, outcome)| {
            let Observation::Entra(e) = &outcome.observation else {
                return None;
            };
            // Only an undecided check waits for the log (in `both` mode Conditional Access's
            // answer may have decided it already).
            let pending = e.signed_in()
                && outcome.status == crate::outcome::Status::Error
                && matches!(
                    e.log,
                    SignInLog::Cut { .. }
                        | SignInLog::Looked {
                            lookup: SignInLookup::NotYetIngested { .. }
                        }
                );
            pending.then(|| PendingSignIn {
                check: outcome.name.clone(),
                host: check.host.clone(),
                port: check.port.map_or(443, |p| p.get()),
                route: check.route,
                correlation_id: e.token.correlation_id.clone(),
                request_id: e.token.request_id.clone(),
                sent_at: crate::probe::token::show_time(e.token.sent_at),
                via: e.token.via.clone(),
            })
        })
        .collect()
}

/// The probe app with the scenario's cloud, and the Graph settings to read its sign-ins with.
fn entra_setup(
    scenario: &Scenario,
    spec: &EntraSpec,
    access: EntraAccess,
) -> Result<(Arc<EntraCredentials>, GraphSettings), SetupError> {
    let mut credentials = (*access.credentials).clone();
    if let Some(authority) = &spec.authority_host {
        let graph_host = spec.graph_url.as_ref().and_then(|u| u.host_str());
        credentials.cloud = Cloud::from_authority(authority, graph_host).map_err(|source| {
            SetupError::EntraCloud {
                scenario: scenario.source.clone(),
                source: source.into(),
            }
        })?;
    }
    let credentials = Arc::new(credentials);
    let mut graph = GraphSettings::new(credentials.clone());
    graph.graph_base = spec.graph_url.clone();
    graph.token_url = access.graph_token_url;
    graph.resolve = access.graph_resolve;
    // The vantage's trust anchors (an inspecting proxy's root) hold for Graph too; they were
    // read and checked by the trust store already.
    graph.extra_roots_pem = scenario
        .vantage
        .ca_files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .chain(access.graph_roots_pem)
        .collect();
    graph.timeout = scenario.limits.timeout.max(Duration::from_secs(5));
    if let Some(first) = access.first_poll_interval {
        graph.first_poll_interval = first;
    }
    Ok((credentials, graph))
}

/// Reads Graph once the probes are done, on its own route (with `token`, one issued through a
/// path under test, when there is one): every sign-in the token probes
/// made, back from Entra's log in one lookup, the named locations, and What If for the
/// anchors and the control's egress IP (all through one client: at most two connections);
/// joins each result to its check's observation. A run already cut short, or cut while
/// waiting, leaves them unread: those checks are errors, never passes.
async fn read_graph(
    observations: &mut [Observation],
    cut_short: Option<Cut>,
    scenario: &Scenario,
    spec: &EntraSpec,
    (client_id, graph, token): (
        &str,
        GraphSettings,
        Option<crate::probe::token::IssuedToken>,
    ),
    interrupt: Shared<BoxFuture<'_, Cut>>,
) -> Option<Cut> {
    let reads_log = spec.mode.reads_graph();
    let pending: Vec<crate::entra::PendingSignIn> = observations
        .iter()
        .filter(|_| reads_log)
        .filter_map(|obs| match obs {
            Observation::Entra(e) if e.signed_in() => Some(crate::entra::PendingSignIn {
                correlation_id: e.token.correlation_id.clone(),
                request_id: e.token.request_id.clone(),
            }),
            _ => None,
        })
        .collect();
    let mark = |observations: &mut [Observation],
                log: &dyn Fn(&str) -> SignInLog,
                named: &NamedLocationsObservation,
                what_if: &WhatIfObservation| {
        for obs in observations.iter_mut() {
            match obs {
                Observation::Entra(e) if reads_log && e.signed_in() => {
                    e.log = log(&e.token.correlation_id)
                }
                Observation::NamedLocations(n) => **n = named.clone(),
                Observation::WhatIf(w) => **w = what_if.clone(),
                _ => {}
            }
        }
    };
    if let Some(by) = cut_short {
        mark(
            observations,
            &|_| SignInLog::Cut { by },
            &NamedLocationsObservation::Cut { by },
            &WhatIfObservation::Cut { by },
        );
        return None;
    }
    let client = match GraphClient::new(graph) {
        Ok(client) => {
            if let Some(token) = token {
                client.use_token(token).await;
            }
            client
        }
        Err(error) => {
            mark(
                observations,
                &|_| SignInLog::Looked {
                    lookup: SignInLookup::Failed {
                        error: error.clone(),
                    },
                },
                &NamedLocationsObservation::Failed {
                    error: error.clone(),
                },
                &WhatIfObservation::NoSubject {
                    client_id: client_id.to_owned(),
                    error: error.clone(),
                    refused: None,
                },
            );
            return None;
        }
    };
    let lookup = async {
        if pending.is_empty() {
            Vec::new()
        } else {
            client.find_sign_ins(&pending, spec.wait).await
        }
    }
    .boxed()
    .shared();
    // What If's subject, should Graph not name the app's service principal: the one the
    // run's own sign-ins were logged with.
    let logged = lookup.clone().map(|found| {
        found.into_iter().find_map(|(_, lookup)| match lookup {
            SignInLookup::Found(record) => record.service_principal_id,
            _ => None,
        })
    });
    let planned = |wanted: fn(&Observation) -> bool| observations.iter().any(wanted);
    let wants_named = planned(|o| matches!(o, Observation::NamedLocations(_)));
    let named = async {
        if wants_named {
            client.named_locations().await
        } else {
            Ok(Vec::new())
        }
    };
    let wants_what_if = planned(|o| matches!(o, Observation::WhatIf(_)));
    let seen: &[Observation] = observations;
    let what_if = async {
        if wants_what_if {
            crate::entra::what_if::ask(&client, spec, client_id, &scenario.anchors, seen, logged)
                .await
        } else {
            WhatIfObservation::NotAsked
        }
    };
    let read = futures::future::join3(lookup, named, what_if);
    tokio::select! {
        (found, named, what_if) = read => {
            let found: std::collections::HashMap<String, SignInLookup> = found.into_iter().collect();
            let named = match named {
                Ok(locations) => NamedLocationsObservation::Read {
                    anchors: check_anchors(&scenario.anchors.0, &locations)
                        .into_iter()
                        .map(|(anchor, coverage)| AnchorInLocations { anchor, coverage })
                        .collect(),
                    locations,
                },
                Err(error) => NamedLocationsObservation::Failed { error },
            };
            mark(
                observations,
                &|id| match found.get(id) {
                    Some(lookup) => SignInLog::Looked { lookup: lookup.clone() },
                    None => SignInLog::NotAsked,
                },
                &named,
                &what_if,
            );
            None
        }
        by = interrupt => {
            mark(
                observations,
                &|_| SignInLog::Cut { by },
                &NamedLocationsObservation::Cut { by },
                &WhatIfObservation::Cut { by },
            );
            Some(by)
        }
    }
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
