//! The command line: clap definitions only. Values are parsed and checked here, before
//! anything runs, with the same messages as the scenario file's validation.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::address::ConnectTo;
use crate::scenario::model::{FamilySelection, Require};
use crate::scenario::{
    parse_anchor, parse_deadline, parse_dns_server, parse_duration, parse_entra_wait, parse_family,
    parse_require, parse_samples, parse_timeout,
};

/// The exit codes, as `--help` and the man page list them (DESIGN.md: a promise).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  every check passed
  1  a check failed: the network answered and anchoring (or the path) is wrong
  2  invalid command line or scenario: nothing was run
  3  no failure, but some checks were inconclusive (timeouts, missing observers, deadline,
     Ctrl-C or SIGTERM)";

/// The version `--version` prints: the crate's version and the git commit it was built from
/// ("unknown" when neither a git checkout nor cargo's packaging record names it).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SIPA_CHECK_COMMIT"),
    ")"
);

/// The date of this release, as the man pages show it.
pub const RELEASE_DATE: &str = "2026-12-06";

/// Proves that Zscaler Source IP Anchoring for Office 365 Conditional Access works, from here.
#[derive(Debug, Parser)]
#[command(
    name = "sipa-check",
    version = VERSION,
    about,
    long_about = None,
    propagate_version = true,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub output: OutputFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour the terminal report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

/// How much the terminal report says; global, so it may follow the subcommand.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputFlags {
    /// Colour the report: auto (a terminal without NO_COLOR), always or never.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Print only the verdict line (report files are still written in full).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every check's evidence, passes included.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios (default: the bundled Office 365 scenario) and report a verdict.
    Run(Box<RunArgs>),
    /// Check scenario files and print each error as FILE:LINE:COL: message.
    Validate(ValidateArgs),
    /// Start the embedded lab and run the bundled lab scenario against it.
    Lab(LabArgs),
    /// Finish a JSON report whose Entra sign-ins were still pending: look them up in the
    /// sign-in log, judge those checks, and write the completed reports.
    Complete(CompleteArgs),
    /// Bring saved JSON reports together (`merge`: one fleet view as JSON, JUnit and HTML) or
    /// print a saved one again (`show`).
    #[command(subcommand)]
    Report(ReportCommand),
    /// Read the guide's configuration back from the ZPA and ZIA APIs (read-only) or a
    /// snapshot, and judge each link of the chain. Credentials come from the environment.
    Audit(Box<AuditArgs>),
    /// Write the documented Office 365 scenario template, to fill in and run.
    Init(InitArgs),
    /// Run the configured scenarios on their intervals and serve their results to Prometheus
    /// (/metrics, /probe?scenario=NAME, /-/healthy).
    Serve(ServeArgs),
    /// Print a shell completion script to standard output.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output, or write every page to a directory.
    Man(ManArgs),
}

/// Flags that override the scenario.
#[derive(Debug, Clone, Default, Args)]
pub struct ScenarioFlags {
    /// An expected App Connector public IP or CIDR (repeatable; replaces the scenario's list).
    #[arg(long = "expect-ip", value_name = "IP|CIDR", value_parser = parse_anchor)]
    pub expect_ip: Vec<IpNet>,
    /// The vantages to check, of those the scenario declares as [[vantage]] (repeatable);
    /// when it declares at most one, the name of that vantage point.
    #[arg(long, value_name = "NAME")]
    pub vantage: Vec<String>,
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
    /// Follow the browser's PAC file (http(s) URL, fetched through the vantage's path, or a
    /// file): each probe goes the way it decides, DIRECT or through its proxies in order.
    #[arg(long, value_name = "URL|FILE", conflicts_with_all = ["proxy", "system_proxy"])]
    pub pac: Option<String>,
    /// Follow the environment's proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, as curl
    /// reads them) as the browser's proxy decision.
    #[arg(long, conflicts_with_all = ["proxy"])]
    pub system_proxy: bool,
    /// Extra trust anchor in PEM, such as the Zscaler root for SSL inspection (repeatable;
    /// curl's --cacert is accepted too).
    #[arg(long = "ca-file", visible_alias = "cacert", value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    /// IP families to probe.
    #[arg(long, value_name = "4|6|both", value_parser = Choices::new(parse_family, family_values))]
    pub family: Option<FamilySelection>,
    /// IPv4 only, as curl's -4 (the same as --family 4).
    #[arg(short = '4', action = ArgAction::SetTrue, conflicts_with_all = ["family", "ipv6"])]
    pub ipv4: bool,
    /// IPv6 only, as curl's -6 (the same as --family 6).
    #[arg(short = '6', action = ArgAction::SetTrue, conflicts_with = "family")]
    pub ipv6: bool,
    /// What each login host's evidence must be: `path` (a canary's shared path is enough; hosts
    /// proven by nothing else are shown as path only) or `per-host` (a path-only host on its TLS
    /// port is inconclusive).
    #[arg(long, value_name = "path|per-host", value_parser = Choices::new(parse_require, require_values))]
    pub require: Option<Require>,
    /// Samples per echo observer, each on a fresh connection.
    #[arg(long, value_name = "N", value_parser = parse_samples)]
    pub samples: Option<u32>,
    /// Timeout of each probe, such as 5s or 800ms.
    #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Deadline of the whole run.
    #[arg(long, value_name = "DUR", value_parser = parse_deadline)]
    pub deadline: Option<Duration>,
    /// How long to wait for Entra's sign-in log ([entra] scenarios), such as 20m; 0s looks once.
    #[arg(long, value_name = "DUR", value_parser = parse_entra_wait)]
    pub entra_wait: Option<Duration>,
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
    /// Take the anchor set from ZPA: the public IPs of the App Connectors behind the SIPA
    /// segment's server group (credentials from the environment, as `audit`), or from a
    /// snapshot directory written by `audit --snapshot`.
    #[arg(long, value_name = "SNAPSHOT", num_args = 0..=1, require_equals = true, conflicts_with_all = ["expect_ip", "dry_run"])]
    pub anchors_from_zpa: Option<Option<PathBuf>>,
    /// With --anchors-from-zpa: the legacy ZPA API's base URL instead of ZPA_CLOUD's.
    #[arg(long, value_name = "URL", requires = "anchors_from_zpa")]
    pub zpa_url: Option<url::Url>,
    /// With --anchors-from-zpa: the OneAPI gateway URL instead of ZSCALER_CLOUD's.
    #[arg(long, value_name = "URL", requires = "anchors_from_zpa")]
    pub oneapi_url: Option<url::Url>,
    /// With --anchors-from-zpa: the OneAPI token endpoint instead of the vanity domain's.
    #[arg(long, value_name = "URL", requires = "anchors_from_zpa")]
    pub oneapi_token_url: Option<url::Url>,
    /// After the run, PUT its metrics to this Prometheus Pushgateway, one group per vantage
    /// (job sipa-check). A failed push is said on stderr and changes nothing else. Checked by
    /// the command, not by clap, whose errors would echo a password in the URL.
    #[arg(long, value_name = "URL")]
    pub push: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The serve configuration (TOML): listen address and [[scenario]] entries.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Listen here instead of the configuration's `listen` (default 127.0.0.1:9853).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Check the configuration and its scenarios, print what would run, and exit.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompleteArgs {
    /// The JSON report a run wrote with --json (`-` for standard input).
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
    /// How long to wait for the pending sign-ins in Entra's log, such as 20m; 0s (the default)
    /// looks once.
    #[arg(long, value_name = "DUR", value_parser = parse_entra_wait)]
    pub entra_wait: Option<Duration>,
    /// Extra trust anchor in PEM for Graph, such as the Zscaler root for SSL inspection
    /// (repeatable).
    #[arg(long = "ca-file", visible_alias = "cacert", value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    #[command(flatten)]
    pub reports: ReportFlags,
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
    // The names are offered to shell completion and listed in the man page; `--help` leaves
    // them to --list-faults, as there are dozens.
    #[arg(long = "fault", value_name = "NAME", value_parser = Choices::new(fault_name, fault_values), hide_possible_values = true)]
    pub faults: Vec<String>,
    /// List the faults and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// Keep the lab up and print the `run` flags that reach it. It runs no checks itself, so
    /// the flags that shape a run are refused with it.
    #[arg(long, conflicts_with_all = ["timeout", "deadline", "via_proxy", "junit", "json"])]
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
    /// Follow the lab's PAC file (served by the lab): the login hosts and the observers go the
    /// way it decides (its proxy, or DIRECT to the transparent gateway).
    #[arg(long, conflicts_with_all = ["via_proxy", "serve"])]
    pub pac: bool,
    /// Check from the lab's two places at once: the trusted office (127.0.0.10, anchored) and
    /// the guest network (127.0.0.20, not anchored), with scenarios/lab-places.toml. The place
    /// faults imply it.
    #[arg(long, conflicts_with_all = ["serve", "entra", "entra_mode"])]
    pub places: bool,
    /// Prove each login host by the lab's Entra sign-in log too (token requests, then Graph).
    #[arg(long, conflicts_with = "serve")]
    pub entra: bool,
    /// As --entra, judged on `log` (the sign-in log), `ca` (Conditional Access's token answer,
    /// no Graph) or `both`; the lab's `ca-blocks` fault is the Conditional Access policy.
    #[arg(long, value_name = "log|ca|both", value_parser = Choices::new(crate::scenario::parse_entra_mode, entra_mode_values), conflicts_with = "serve")]
    pub entra_mode: Option<crate::scenario::model::EntraMode>,
    /// Audit the lab tenant's configuration too, through the lab's fake ZPA and ZIA APIs (the
    /// audit faults, `audit-*` in `--list-faults --audit`, imply it).
    #[arg(long, conflicts_with = "serve")]
    pub audit: bool,
    /// Write the audit's JSON report to PATH (implies --audit).
    #[arg(long, value_name = "PATH", conflicts_with = "serve")]
    pub audit_json: Option<PathBuf>,
    /// Write the audit's JUnit XML report to PATH (implies --audit).
    #[arg(long, value_name = "PATH", conflicts_with = "serve", value_parser = parse_junit_path)]
    pub audit_junit: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportFlags,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// A scenario file: its login hosts, ports and expected anchors are what the audit requires
    /// (default: the guide's three hosts on 80 and 443).
    #[arg(value_name = "SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Audit a snapshot directory written by --snapshot, with no network.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["snapshot", "zpa_url", "zia_url", "oneapi_url", "oneapi_token_url", "proxy", "dns", "connect_to"])]
    pub from_snapshot: Option<PathBuf>,
    /// Write the raw API answers read (secrets stripped) to DIR, one file per endpoint and page.
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,
    /// An expected App Connector public IP or CIDR (repeatable; replaces the scenario's list).
    #[arg(long = "expect-ip", value_name = "IP|CIDR", value_parser = parse_anchor)]
    pub expect_ip: Vec<IpNet>,
    /// Legacy ZPA API base URL instead of ZPA_CLOUD's (such as a lab's).
    #[arg(long, value_name = "URL")]
    pub zpa_url: Option<url::Url>,
    /// Legacy ZIA API base URL (ending in /api/v1) instead of ZIA_CLOUD's.
    #[arg(long, value_name = "URL")]
    pub zia_url: Option<url::Url>,
    /// OneAPI gateway URL instead of ZSCALER_CLOUD's (such as https://api.zsapi.net).
    #[arg(long, value_name = "URL")]
    pub oneapi_url: Option<url::Url>,
    /// OneAPI token endpoint instead of the vanity domain's.
    #[arg(long, value_name = "URL")]
    pub oneapi_token_url: Option<url::Url>,
    /// Extra trust anchor in PEM for the APIs (repeatable), such as an inspecting proxy's root.
    #[arg(long = "ca-file", visible_alias = "cacert", value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    /// Explicit HTTP proxy to the APIs (instead of HTTPS_PROXY); the password comes from
    /// SIPA_CHECK_PROXY_PASSWORD, never the URL. Checked by the command, not by clap, whose
    /// errors would echo a password.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// DNS server to ask for the APIs' names instead of the system's (repeatable).
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_dns_server)]
    pub dns: Vec<std::net::SocketAddr>,
    /// Connect to another address or port instead, as curl's --connect-to (repeatable).
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT", value_parser = parse_connect_to)]
    pub connect_to: Vec<ConnectTo>,
    /// Timeout of each API request.
    #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Judge the planned state of a Terraform plan (`terraform show -json PLANFILE`), merged
    /// over the live or snapshot configuration: a pre-change gate.
    #[arg(long, value_name = "PLAN.json")]
    pub terraform_plan: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportFlags,
}

/// `sipa-check report ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum ReportCommand {
    /// Merge JSON reports of many runs and vantages into one fleet view: a summary on the
    /// terminal, and the merged JSON, JUnit and a self-contained HTML page on request.
    Merge(MergeArgs),
    /// Print a saved JSON report again as the terminal report; exits with its verdict.
    Show(ShowArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// JSON reports written by `run --json` (or by an earlier merge); `-` reads one from
    /// standard input.
    #[arg(value_name = "REPORT.json", required = true)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub reports: ReportFlags,
    /// Write the fleet view as one self-contained HTML page to PATH (`-` for stdout; the
    /// summary then goes to stderr).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The JSON report (`-` for standard input).
    #[arg(value_name = "REPORT.json")]
    pub report: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Where to write the template (`-` for standard output): FILE.toml gets the documented
    /// template, FILE.json its values as JSON (without the comments).
    #[arg(value_name = "FILE", default_value = "sipa-check.toml")]
    pub file: PathBuf,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write one page per command (sipa-check.1, sipa-check-run.1, ...) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A value parser that keeps the scenario file's own parse function (and so its messages) and
/// names the values it accepts, so that help, the man pages and shell completions offer them.
#[derive(Clone)]
struct Choices<T> {
    parse: fn(&str) -> Result<T, String>,
    values: fn() -> Vec<PossibleValue>,
}

impl<T> Choices<T> {
    fn new(parse: fn(&str) -> Result<T, String>, values: fn() -> Vec<PossibleValue>) -> Self {
        Choices { parse, values }
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Choices<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        self.parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new((self.values)().into_iter()))
    }
}

/// `--family`: what [`parse_family`] accepts (its aliases hidden).
fn family_values() -> Vec<PossibleValue> {
    vec![
        PossibleValue::new("4").help("IPv4 only"),
        PossibleValue::new("6").help("IPv6 only"),
        PossibleValue::new("both").help("IPv4 and IPv6"),
        PossibleValue::new("ipv4").hide(true),
        PossibleValue::new("ipv6").hide(true),
        PossibleValue::new("v4").hide(true),
        PossibleValue::new("v6").hide(true),
    ]
}

/// `--require`: what [`parse_require`] accepts.
fn require_values() -> Vec<PossibleValue> {
    vec![
        PossibleValue::new("path").help("a canary's shared path is enough"),
        PossibleValue::new("per-host").help("a path-only host on its TLS port is inconclusive"),
    ]
}

/// `--entra-mode`: what [`crate::scenario::parse_entra_mode`] accepts.
fn entra_mode_values() -> Vec<PossibleValue> {
    vec![
        PossibleValue::new("log").help("the sign-in log"),
        PossibleValue::new("ca").help("Conditional Access's token answer, no Graph"),
        PossibleValue::new("both").help("the sign-in log and Conditional Access"),
    ]
}

/// `--fault`: the lab's network faults, then its audit faults. The name is checked by `lab`
/// itself, whose message points at --list-faults.
fn fault_values() -> Vec<PossibleValue> {
    let network = crate::lab::Fault::ALL
        .into_iter()
        .map(|f| PossibleValue::new(f.name()).help(f.description()));
    let audit = crate::lab::admin_api::AuditFault::ALL
        .into_iter()
        .map(|f| PossibleValue::new(f.name()).help(f.description()));
    network.chain(audit).collect()
}

fn fault_name(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

impl ScenarioFlags {
    /// `--family`, or what `-4` / `-6` mean.
    pub fn family(&self) -> Option<FamilySelection> {
        if self.ipv4 {
            Some(FamilySelection::V4)
        } else if self.ipv6 {
            Some(FamilySelection::V6)
        } else {
            self.family
        }
    }
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
