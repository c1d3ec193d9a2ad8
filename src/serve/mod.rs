//! `sipa-check serve CONFIG`: a long-running Prometheus exporter. Each configured scenario runs
//! on its own interval (with jitter, never overlapping itself: a run due while the last one is
//! still going is skipped and counted); `/metrics` shows the last run of each in the OpenMetrics
//! text format; `/probe?scenario=NAME` runs a configured scenario now (never a target from the
//! query string); `/-/healthy` says the exporter is up.

pub mod config;
mod exporter;
mod http;
mod listen;
mod memory;
mod reuse;

pub use config::{ConfigError, ConfigErrors, ScheduledScenario, ServeConfig};
pub use exporter::{Exporter, Interrupt, Prepared, ServeEnv, prepare};
pub use listen::{ServeError, bind, serve};
