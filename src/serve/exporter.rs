//! The exporter's state: the prepared scenarios, their records and the live registry, and
//! each scenario's schedule.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::config::{ScheduledScenario, ServeConfig};
use crate::metrics::{LastRun, RunCounters, ScenarioRecord};
use crate::observation::{Cut, cause_chain};
use crate::runner::{self, EntraAccess, Quiet, RunSettings};
use crate::scenario::model::{Scenario, Secret};

/// What `serve` takes from the environment, as `run` does.

#[derive(Debug, Clone, Default)]
pub struct ServeEnv {
    /// SIPA_CHECK_PROXY_PASSWORD, for scenarios whose proxy names a user.
    pub proxy_password: Option<Secret>,
    /// The Entra probe app, for `[entra]` scenarios.
    pub entra: Option<EntraAccess>,
}

/// A configured scenario, loaded, overridden and proven runnable.
#[derive(Debug)]
pub struct Prepared {
    pub config: ScheduledScenario,
    pub scenario: Scenario,
    entra: Option<EntraAccess>,
    /// Held by the run going on: a scheduled run that cannot take it is skipped.
    running: Arc<tokio::sync::Mutex<()>>,
    /// Each vantage's set-up (resolver, trust anchors), kept from one run to the next.
    contexts: super::reuse::Contexts,
}

/// Loads every configured scenario, applies its overrides and sets it up as a run would (trust
/// anchors, resolvers), so that every problem shows before anything listens.
pub fn prepare(config: &ServeConfig, env: &ServeEnv) -> Result<Vec<Prepared>, Vec<String>> {
    let mut problems = Vec::new();
    let mut prepared = Vec::new();
    for c in &config.scenarios {
        let mut s = match crate::scenario::load(&c.file) {
            Ok(s) => s,
            Err(errors) => {
                problems.extend(errors.iter().map(|e| format!("scenario `{}`: {e}", c.name)));
                continue;
            }
        };
        if let Err(e) = s.apply(&c.overrides) {
            problems.push(format!("scenario `{}`: {}: {e}", c.name, c.file.display()));
            continue;
        }
        if let Some(proxy) = &mut s.vantage.proxy
            && proxy.password.is_none()
        {
            proxy.password = env.proxy_password.clone();
        }
        if s.entra.is_some() && env.entra.is_none() {
            problems.push(format!(
                "scenario `{}`: {}: [entra] needs the probe app's credentials from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH)",
                c.name,
                c.file.display()
            ));
            continue;
        }
        if let Err(e) = runner::prepare(&s, c.connect_to.clone()) {
            problems.push(format!(
                "scenario `{}`: {}",
                c.name,
                cause_chain(&e).join(": ")
            ));
            continue;
        }
        prepared.push(Prepared {
            config: c.clone(),
            entra: s.entra.as_ref().and(env.entra.clone()),
            contexts: super::reuse::Contexts::new(s.per_vantage().len()),
            scenario: s,
            running: Arc::default(),
        });
    }
    if problems.is_empty() {
        Ok(prepared)
    } else {
        Err(problems)
    }
}

/// An interrupt that every run and the server wait on (Ctrl-C, SIGTERM).
pub type Interrupt = Shared<BoxFuture<'static, Cut>>;

/// The exporter's shared state: one record per configured scenario, in configuration order.
#[derive(Debug, Clone)]
pub struct Exporter {
    pub(super) scenarios: Arc<Vec<Prepared>>,
    records: Arc<Mutex<Vec<ScenarioRecord>>>,
    registry: Arc<prometheus_client::registry::Registry>,
    pub(super) interrupt: Interrupt,
    events: mpsc::UnboundedSender<String>,
}

impl Exporter {
    /// An exporter of `scenarios`; `events` receives a line for each change worth telling.
    pub fn new(
        scenarios: Vec<Prepared>,
        interrupt: Interrupt,
        events: mpsc::UnboundedSender<String>,
    ) -> Exporter {
        let records: Vec<ScenarioRecord> = scenarios
            .iter()
            .map(|p| ScenarioRecord {
                scenario: p.config.name.clone(),
                vantage: p.scenario.vantage.name.clone(),
                interval: Some(p.config.interval),
                counters: Some(RunCounters::default()),
                ..ScenarioRecord::default()
            })
            .collect();
        let records = Arc::new(Mutex::new(records));
        Exporter {
            registry: Arc::new(crate::metrics::live_registry(records.clone())),
            records,
            scenarios: Arc::new(scenarios),
            interrupt,
            events,
        }
    }

    /// The configured scenario names, in configuration order.
    pub fn names(&self) -> Vec<&str> {
        self.scenarios
            .iter()
            .map(|p| p.config.name.as_str())
            .collect()
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.scenarios.iter().position(|p| p.config.name == name)
    }

    fn with_record<T>(&self, i: usize, f: impl FnOnce(&mut ScenarioRecord) -> T) -> T {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut records[i])
    }

    /// Every scenario's metrics, OpenMetrics text.
    pub fn metrics(&self) -> String {
        crate::metrics::openmetrics(&self.registry)
    }

    /// Runs scenario `i` now, unless `wait` is false and a run of it is going (then `None`:
    /// the caller counts the skip). Waits for a going run to end when `wait` is true.
    pub(super) async fn run(&self, i: usize, wait: bool) -> Option<Arc<LastRun>> {
        let lock = self.scenarios[i].running.clone();
        let _guard = if wait {
            lock.lock_owned().await
        } else {
            lock.try_lock_owned().ok()?
        };
        self.with_record(i, |r| {
            if let Some(c) = &mut r.counters {
                c.in_progress = true;
            }
        });
        let started = Instant::now();
        let exporter = self.clone();
        // A task of its own: a run that panics is this run's error, never the exporter's end.
        let task = tokio::spawn(async move {
            let p = &exporter.scenarios[i];
            // A scenario with several vantages runs them at once, as `run` does: one run each.
            let vantages = p.scenario.per_vantage();
            let running = vantages
                .iter()
                .enumerate()
                .map(|(v, s)| {
                    let settings = RunSettings {
                        connect_to: p.config.connect_to.clone(),
                        interrupt: exporter.interrupt.clone().boxed(),
                        progress: &Quiet,
                        entra: p.entra.clone(),
                    };
                    let prepared = p.contexts.get(v, s, &settings.connect_to)?;
                    Ok((s, settings, prepared))
                })
                .collect::<Result<Vec<_>, runner::SetupError>>()
                .map_err(|e| cause_chain(&e).join(": "))?;
            runner::run_vantages(running)
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| cause_chain(&e).join(": "))
        });
        let result = match task.await {
            Ok(result) => result,
            Err(e) => Err(format!("the run stopped abnormally: {e}")),
        };
        let last = LastRun {
            finished_at: SystemTime::now(),
            elapsed: started.elapsed(),
            result,
        };
        let status = last.status();
        let (before, last) = self.with_record(i, |r| {
            let before = r.last.as_ref().map(|l| l.status());
            r.finish(last);
            if let Some(c) = &mut r.counters {
                c.in_progress = false;
            }
            (before, r.last.clone())
        });
        if before != Some(status) {
            let name = &self.scenarios[i].config.name;
            let why = match last.as_deref().map(|l| &l.result) {
                Some(Err(e)) => format!(": {e}"),
                _ => String::new(),
            };
            let _ = self.events.send(match before {
                Some(b) => format!(
                    "scenario `{name}`: {} -> {}{why}",
                    b.label(),
                    status.label()
                ),
                None => format!("scenario `{name}`: {}{why}", status.label()),
            });
        }
        last
    }

    /// The metrics of scenario `i` alone.
    pub(super) fn metrics_of(&self, i: usize) -> String {
        let record = self.with_record(i, |r| r.clone());
        crate::metrics::openmetrics(&crate::metrics::registry(vec![record]))
    }

    /// Runs scenario `i` on its schedule until `stop`.
    pub(super) async fn schedule(self, i: usize, mut stop: watch::Receiver<bool>) {
        let interval = self.scenarios[i].config.interval;
        let jitter = self.scenarios[i].config.jitter;
        // Each scenario has its own phase in the interval (the first at once), so that many
        // scenarios take turns instead of all running at the same moment; jitter on top.
        let n = u32::try_from(self.scenarios.len())
            .unwrap_or(u32::MAX)
            .max(1);
        let phase = interval / n * u32::try_from(i).unwrap_or(0);
        let start = Instant::now() + phase + random_below(jitter);
        let mut due = start;
        // The due time's place on the grid `start + k × interval`.
        let mut k: u32 = 0;
        let mut runs = JoinSet::new();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {}
                _ = stop.changed() => break,
            }
            let exporter = self.clone();
            // The lock is tried here, not in the task: a skip is decided at the due time.
            if self.scenarios[i].running.try_lock().is_ok() {
                runs.spawn(async move { exporter.run(i, false).await.is_some() });
            } else {
                self.count_skip(i);
            }
            while let Some(Ok(ran)) = runs.try_join_next() {
                if !ran {
                    self.count_skip(i);
                }
            }
            // Due times stay on the grid, each up to `jitter` before or after its place; a
            // process that was suspended past whole intervals takes up the next place ahead.
            k = k.saturating_add(1);
            let now = Instant::now();
            while start + interval * k + jitter < now {
                k = k.saturating_add(1);
            }
            due = jittered(start + interval * k, jitter).max(now);
        }
        // In-flight runs end by the interrupt that stopped us; their results are recorded.
        while runs.join_next().await.is_some() {}
    }

    fn count_skip(&self, i: usize) {
        self.with_record(i, |r| {
            if let Some(c) = &mut r.counters {
                c.skipped += 1;
            }
        });
    }
}

/// A uniformly random duration in `[0, max)`.
fn random_below(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    let n = u64::from_le_bytes(bytes);
    Duration::from_nanos(n % u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1))
}

/// `base` moved by up to `jitter` either way.
fn jittered(base: Instant, jitter: Duration) -> Instant {
    let shift = random_below(jitter * 2);
    if shift >= jitter {
        base + (shift - jitter)
    } else {
        base.checked_sub(jitter - shift).unwrap_or(base)
    }
}
