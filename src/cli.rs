//! The command line: clap definitions only. Values are parsed and checked here, before
//! anything runs, with the same messages as the scenario file's validation.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::address::ConnectTo;
use crate::scenario::model::FamilySelection;
use crate::scenario::{
    parse_anchor, parse_deadline, parse_dns_server, parse_duration, parse_family, parse_samples,
    parse_timeout,
};

/// Proves that Zscaler Source IP Anchoring for Office 365 Conditional Access works, from here.
#[derive(Debug, Parser)]
#[command(name = "sipa-check", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios (default: the bundled Office 365 scenario) and report a verdict.
    Run(Box<RunArgs>),
    /// Check scenario files and print each error as FILE:LINE:COL: message.
    Validate(ValidateArgs),
    /// Start the embedded lab and run the bundled lab scenario against it.
    Lab(LabArgs),
}

/// Flags that override the scenario.
#[derive(Debug, Clone, Default, Args)]
pub struct ScenarioFlags {
    /// An expected App Connector public IP or CIDR (repeatable; replaces the scenario's list).
    #[arg(long = "expect-ip", value_name = "IP|CIDR", value_parser = parse_anchor)]
    pub expect_ip: Vec<IpNet>,
    /// Name of this vantage point.
    #[arg(long, value_name = "NAME")]
    pub vantage: Option<String>,
    /// DNS server to ask instead of the system's (repeatable).
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_dns_server)]
    pub dns: Vec<std::net::SocketAddr>,
    /// Connect to another address or port instead, as curl's --connect-to (repeatable).
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT", value_parser = parse_connect_to)]
    pub connect_to: Vec<ConnectTo>,
    /// Explicit HTTP proxy; the password comes from SIPA_CHECK_PROXY_PASSWORD, never the URL.
    /// Checked by the command, not by clap, whose errors would echo a password.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Extra trust anchor in PEM, such as the Zscaler root for SSL inspection (repeatable).
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    /// IP families to probe.
    #[arg(long, value_name = "4|6|both", value_parser = parse_family)]
    pub family: Option<FamilySelection>,
    /// Samples per echo observer, each on a fresh connection.
    #[arg(long, value_name = "N", value_parser = parse_samples)]
    pub samples: Option<u32>,
    /// Timeout of each probe, such as 5s or 800ms.
    #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Deadline of the whole run.
    #[arg(long, value_name = "DUR", value_parser = parse_deadline)]
    pub deadline: Option<Duration>,
}

/// Where reports go besides the terminal.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportFlags {
    /// Write a JUnit XML report to PATH (a file: `-` is refused, stdout carries the human
    /// report).
    #[arg(long, value_name = "PATH", value_parser = parse_junit_path)]
    pub junit: Option<PathBuf>,
    /// Write the JSON report to PATH (`-` for stdout; the human report then goes to stderr).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario files (TOML or JSON).
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    #[command(flatten)]
    pub flags: ScenarioFlags,
    #[command(flatten)]
    pub reports: ReportFlags,
    /// Print the expanded plan and touch no network.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// Scenario files (TOML or JSON).
    #[arg(value_name = "SCENARIO", required = true)]
    pub scenarios: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// Inject a named fault (repeatable; see --list-faults).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// List the faults and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// Keep the lab up and print the `run` flags that reach it.
    #[arg(long)]
    pub serve: bool,
    /// Delay added to every connection set-up and answer of the lab, such as 25ms.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub latency: Option<Duration>,
    /// Timeout of each probe.
    #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Deadline of the whole run.
    #[arg(long, value_name = "DUR", value_parser = parse_deadline)]
    pub deadline: Option<Duration>,
    /// Go through the lab's explicit proxy instead of its transparent gateway.
    #[arg(long)]
    pub via_proxy: bool,
    #[command(flatten)]
    pub reports: ReportFlags,
}

/// A JUnit destination: any path but `-`, as standard output already carries the human report
/// (or the JSON one) and a CI reads JUnit from a file.
fn parse_junit_path(s: &str) -> Result<PathBuf, String> {
    if s == "-" {
        return Err(
            "JUnit XML is written to a file, not to standard output: give a path such as sipa-check.xml"
                .to_string(),
        );
    }
    Ok(PathBuf::from(s))
}

fn parse_connect_to(s: &str) -> Result<ConnectTo, crate::address::ConnectToError> {
    s.parse()
}
