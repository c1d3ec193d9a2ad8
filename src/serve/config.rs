//! The `serve` configuration: where to listen, and which scenarios to run how often with the
//! overrides each site needs. Parsed (unknown keys refused), then validated into typed values
//! before anything listens: every problem is a `CONFIG:LINE:COL: message`, and exit 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::address::ConnectTo;
use crate::scenario::{self, Overrides};

/// Where `serve` listens unless told otherwise: loopback only, port 9853.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    DEFAULT_PORT,
);

/// The port `serve` listens on by default.
pub const DEFAULT_PORT: u16 = 9853;

/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    #[serde(default)]
    scenario: Vec<Spanned<RawScenario>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    file: Spanned<PathBuf>,
    interval: Spanned<String>,
    jitter: Option<Spanned<String>>,
    vantage: Option<Spanned<String>>,
    #[serde(default)]
    dns: Vec<Spanned<String>>,
    proxy: Option<Spanned<String>>,
    #[serde(default)]
    ca_files: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    connect_to: Vec<Spanned<String>>,
    #[serde(default)]
    expect_ip: Vec<Spanned<String>>,
    family: Option<Spanned<String>>,
    require: Option<Spanned<String>>,
    samples: Option<Spanned<u32>>,
    timeout: Option<Spanned<String>>,
    deadline: Option<Spanned<String>>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub scenarios: Vec<ScheduledScenario>,
}

/// One configured scenario: its name, file, schedule and overrides.
#[derive(Debug, Clone)]
pub struct ScheduledScenario {
    /// The `scenario` label, unique in the configuration.
    pub name: String,
    /// The scenario file, relative paths resolved against the configuration's directory.
    pub file: PathBuf,
    pub interval: Duration,
    /// Each run starts up to this much before or after its due time.
    pub jitter: Duration,
    pub overrides: Overrides,
    pub connect_to: Vec<ConnectTo>,
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem of a configuration, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<ServeConfig, ConfigErrors> {
    let whole = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            at: None,
            message,
        }])
    };
    let text = std::fs::read_to_string(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, path, base)
}

/// Validates a configuration's text; `base` is the directory relative paths start from.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<ServeConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let at = |span: std::ops::Range<usize>| Some(line_col(text, span.start));
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                at: e.span().map(|s| line_col(text, s.start)),
                message: e.message().trim().to_owned(),
            }]));
        }
    };
    let mut error = |span: std::ops::Range<usize>, message: String| {
        errors.push(ConfigError {
            file: path.to_path_buf(),
            at: at(span),
            message,
        });
    };
    let listen = match &raw.listen {
        None => DEFAULT_LISTEN,
        Some(l) => match l.get_ref().parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                error(
                    l.span(),
                    format!(
                        "listen: `{}` is not an address and port, such as 127.0.0.1:{DEFAULT_PORT}",
                        scenario::shorten(l.get_ref())
                    ),
                );
                DEFAULT_LISTEN
            }
        },
    };
    if raw.scenario.is_empty() {
        error(
            0..0,
            "no [[scenario]]: list at least one, with name, file and interval".to_owned(),
        );
    }
    let mut scenarios: Vec<ScheduledScenario> = Vec::new();
    let mut names: Vec<(String, usize)> = Vec::new();
    for entry in &raw.scenario {
        let s = entry.get_ref();
        let name = s.name.get_ref().trim().to_owned();
        if name.is_empty() {
            error(s.name.span(), "scenario name: must not be empty".to_owned());
        } else if let Some((_, line)) = names.iter().find(|(n, _)| *n == name) {
            error(
                s.name.span(),
                format!(
                    "scenario name `{name}` is used twice (first on line {line}): each scenario needs a name of its own"
                ),
            );
        } else {
            names.push((name.clone(), line_col(text, s.name.span().start).0));
        }
        let what = |key: &str| format!("scenario `{name}`: {key}");
        let interval = match scenario::parse_duration(s.interval.get_ref()) {
            Ok(d) if d >= MIN_INTERVAL => d,
            Ok(_) => {
                error(
                    s.interval.span(),
                    format!(
                        "{}: `{}` is shorter than the least interval, 1s",
                        what("interval"),
                        s.interval.get_ref()
                    ),
                );
                MIN_INTERVAL
            }
            Err(e) => {
                error(s.interval.span(), format!("{}: {e}", what("interval")));
                MIN_INTERVAL
            }
        };
        let jitter = match &s.jitter {
            None => interval / 10,
            // No jitter at all is a choice too (tests, or one scenario alone).
            Some(j) if humantime::parse_duration(j.get_ref().trim()) == Ok(Duration::ZERO) => {
                Duration::ZERO
            }
            Some(j) => match scenario::parse_duration(j.get_ref()) {
                Ok(d) if d < interval => d,
                Ok(_) => {
                    error(
                        j.span(),
                        format!(
                            "{}: `{}` must be shorter than the interval `{}`",
                            what("jitter"),
                            j.get_ref(),
                            s.interval.get_ref()
                        ),
                    );
                    Duration::ZERO
                }
                Err(e) => {
                    error(j.span(), format!("{}: {e}", what("jitter")));
                    Duration::ZERO
                }
            },
        };
        let mut overrides = Overrides {
            vantage: s.vantage.iter().map(|v| v.get_ref().clone()).collect(),
            ca_files: s.ca_files.iter().map(|p| base.join(p.get_ref())).collect(),
            samples: s.samples.as_ref().map(|n| *n.get_ref()),
            ..Overrides::default()
        };
        // One parser per value, the same as the `run` flags: the same messages.
        macro_rules! parsed {
            ($value:expr, $key:literal, $parse:expr) => {
                match $parse($value.get_ref().as_str()) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        error($value.span(), format!("{}: {e}", what($key)));
                        None
                    }
                }
            };
        }
        for d in &s.dns {
            if let Some(a) = parsed!(d, "dns", scenario::parse_dns_server) {
                overrides.dns.push(a);
            }
        }
        for ip in &s.expect_ip {
            if let Some(a) = parsed!(ip, "expect_ip", scenario::parse_anchor) {
                overrides.expect_ips.push(a);
            }
        }
        if let Some(p) = &s.proxy {
            overrides.proxy = parsed!(p, "proxy", scenario::parse_proxy);
        }
        if let Some(f) = &s.family {
            overrides.family = parsed!(f, "family", scenario::parse_family);
        }
        if let Some(r) = &s.require {
            overrides.require = parsed!(r, "require", scenario::parse_require);
        }
        if let Some(t) = &s.timeout {
            overrides.timeout = parsed!(t, "timeout", scenario::parse_timeout);
        }
        if let Some(d) = &s.deadline {
            overrides.deadline = parsed!(d, "deadline", scenario::parse_deadline);
        }
        let mut connect_to = Vec::new();
        for c in &s.connect_to {
            if let Some(rule) = parsed!(c, "connect_to", |v: &str| v.parse::<ConnectTo>()) {
                connect_to.push(rule);
            }
        }
        scenarios.push(ScheduledScenario {
            name,
            file: base.join(s.file.get_ref()),
            interval,
            jitter,
            overrides,
            connect_to,
        });
    }
    if errors.is_empty() {
        Ok(ServeConfig { listen, scenarios })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// 1-based line and character column of a byte offset, as scenario files count them (a
/// byte-order mark takes no column).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let at = scenario::line_col(text, offset);
    (at.line as usize, at.col as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text, Path::new("serve.toml"), Path::new("/etc/sipa"))
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_minimal_config_takes_the_defaults() {
        let c = parse(
            "[[scenario]]\nname = \"hq\"\nfile = \"hq.toml\"\ninterval = \"30s\"\n",
            Path::new("serve.toml"),
            Path::new("/etc/sipa"),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9853".parse().unwrap());
        let s = &c.scenarios[0];
        assert_eq!(s.file, PathBuf::from("/etc/sipa/hq.toml"));
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.jitter, Duration::from_secs(3));
    }

    #[test]
    fn every_rule_has_its_precise_message() {
        assert_eq!(
            errors(
                "[[scenario]]\nname = \"a\"\nfile = \"a.toml\"\ninterval = \"30s\"\n[[scenario]]\nname = \"a\"\nfile = \"b.toml\"\ninterval = \"1m\"\n"
            ),
            vec![
                "serve.toml:6:8: scenario name `a` is used twice (first on line 2): each scenario needs a name of its own"
            ]
        );
        assert_eq!(
            errors("[[scenario]]\nname = \"a\"\nfile = \"a.toml\"\ninterval = \"0s\"\n"),
            vec![
                "serve.toml:4:12: scenario `a`: interval: `0s` is zero: use a duration greater than 0"
            ]
        );
        assert_eq!(
            errors("[[scenario]]\nname = \"a\"\nfile = \"a.toml\"\ninterval = \"500ms\"\n"),
            vec![
                "serve.toml:4:12: scenario `a`: interval: `500ms` is shorter than the least interval, 1s"
            ]
        );
        let bad = errors("[[scenario]]\nname = \"a\"\nfile = \"a.toml\"\ninterval = \"soon\"\n");
        assert!(
            bad[0].starts_with("serve.toml:4:12: scenario `a`: interval: "),
            "{bad:?}"
        );
        assert_eq!(
            errors(
                "listen = \"everywhere\"\n[[scenario]]\nname = \"a\"\nfile = \"a.toml\"\ninterval = \"30s\"\n"
            ),
            vec![
                "serve.toml:1:10: listen: `everywhere` is not an address and port, such as 127.0.0.1:9853"
            ]
        );
        let unknown = errors(
            "[[scenario]]\nname = \"a\"\nfile = \"a.toml\"\ninterval = \"30s\"\ntarget = \"x\"\n",
        );
        assert!(
            unknown[0].starts_with("serve.toml:5:1: unknown field `target`"),
            "{unknown:?}"
        );
        assert_eq!(
            errors("listen = \"127.0.0.1:1\"\n"),
            vec![
                "serve.toml:1:1: no [[scenario]]: list at least one, with name, file and interval"
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_takes_no_column() {
        // Notepad writes one: the column is the one an editor shows, as for scenario files.
        assert_eq!(
            errors(
                "\u{feff}listen = \"everywhere\"\n[[scenario]]\nname = \"a\"\nfile = \"a.toml\"\ninterval = \"30s\"\n"
            ),
            vec![
                "serve.toml:1:10: listen: `everywhere` is not an address and port, such as 127.0.0.1:9853"
            ]
        );
    }
}
