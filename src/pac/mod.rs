//! The browser's proxy decision: a PAC file (or the environment's proxy variables) evaluated for each URL the run probes, as typed directives.

pub mod directive;
pub mod engine;
mod error;
pub mod system;

use std::collections::BTreeMap;

use serde::Serialize;

pub use directive::{Directive, ProxyAt, parse_answer};
pub use engine::{Engine, EngineLimits, HostEnv};
pub use error::{PacError, PacLine, Resolve};

use crate::scenario::model::{Port, ProxySpec};

/// Where the decision came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecisionSource {
    /// A PAC file, at this URL or path.
    Pac { location: String },
    /// The environment's `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`.
    Environment,
}

impl std::fmt::Display for DecisionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecisionSource::Pac { location } => write!(f, "the PAC file {location}"),
            DecisionSource::Environment => f.write_str("the environment's proxy variables"),
        }
    }
}

/// The decision for one URL: the answer as the script gave it and its directives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The URL the browser would ask for (`https://host/`, `http://host/`).
    pub url: String,
    pub host: String,
    pub port: u16,
    /// The answer as given, e.g. `PROXY 127.0.0.1:3128; DIRECT`.
    pub answer: String,
    pub directives: Vec<Directive>,
    /// The one `return` of this answer in the PAC file, when exactly one can be found.
    pub line: Option<PacLine>,
}

impl Decision {
    /// The decision an answer gives for `url` (no line yet): an error when it holds a
    /// directive browsers do not know.
    pub fn of_answer(
        url: &str,
        host: &str,
        port: u16,
        answer: String,
    ) -> Result<Decision, PacError> {
        let directives = parse_answer(&answer).map_err(|directive| PacError::UnknownDirective {
            url: url.to_string(),
            answer: answer.clone(),
            directive,
        })?;
        Ok(Decision {
            url: url.to_string(),
            host: host.to_string(),
            port,
            answer,
            directives,
            line: None,
        })
    }
}

/// Which way a probe goes for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Way {
    /// Straight to the host.
    Direct,
    /// Through these proxies, tried in order (fail-over), as a browser would.
    Proxies(Vec<ProxyAt>),
    /// A route sipa-check cannot probe comes first (SOCKS, an HTTPS proxy).
    Unprobeable(Directive),
}

impl Decision {
    /// The way a browser goes first: DIRECT, or the run of HTTP proxies it tries in order
    /// (stopping at the first entry that is not one: a later DIRECT is the browser's last
    /// resort when every proxy failed, and is not probed).
    pub fn way(&self) -> Way {
        let mut proxies = Vec::new();
        for d in &self.directives {
            match d {
                Directive::Direct if proxies.is_empty() => return Way::Direct,
                Directive::Proxy(at) => proxies.push(at.clone()),
                other if proxies.is_empty() => return Way::Unprobeable(other.clone()),
                _ => break,
            }
        }
        if proxies.is_empty() {
            // No directive at all: browsers go direct.
            Way::Direct
        } else {
            Way::Proxies(proxies)
        }
    }

    /// The proxies to try, as proxy specs, for a proxy route.
    pub fn proxy_chain(&self) -> Vec<ProxySpec> {
        match self.way() {
            Way::Proxies(list) => list.iter().filter_map(ProxyAt::spec).collect(),
            _ => Vec::new(),
        }
    }
}

/// The URL a browser asks for on `host:port`: `http://host/` on 80, `https://host/` on 443,
/// with the port otherwise (https on a TLS port). Chrome hands PAC scripts https URLs without
/// their path, so none is given.
pub fn browser_url(host: &str, port: Port) -> String {
    let shown = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match port.get() {
        80 => format!("http://{shown}/"),
        443 => format!("https://{shown}/"),
        n if port.is_tls() => format!("https://{shown}:{n}/"),
        n => format!("http://{shown}:{n}/"),
    }
}

/// The proxy decisions of one run, made once before planning: per host and port, the
/// decision, or why none could be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyDecisions {
    pub source: DecisionSource,
    /// Per `host:port`, the decision (or the error that stands for it).
    pub targets: BTreeMap<String, Result<Decision, PacError>>,
}

impl ProxyDecisions {
    fn key(host: &str, port: u16) -> String {
        format!("{}:{port}", host.to_ascii_lowercase())
    }

    /// The decision for `host:port`, if the run made one.
    pub fn for_target(&self, host: &str, port: u16) -> Option<&Result<Decision, PacError>> {
        self.targets.get(&Self::key(host, port))
    }

    /// Records the decision for `host:port` (the first one made stands).
    pub fn insert(&mut self, host: &str, port: u16, decision: Result<Decision, PacError>) {
        self.targets
            .entry(Self::key(host, port))
            .or_insert(decision);
    }

    /// Every target failed for the same reason (the PAC could not be had or compiled).
    pub fn all_failed(source: DecisionSource, targets: &[(String, u16)], err: PacError) -> Self {
        let mut d = ProxyDecisions {
            source,
            targets: BTreeMap::new(),
        };
        for (host, port) in targets {
            d.insert(host, *port, Err(err.clone()));
        }
        d
    }
}

/// Evaluates a compiled PAC for every target (`host`, `port`, the URL to ask for), in order.
pub fn decide_all(
    engine: &Engine,
    script: &str,
    source: DecisionSource,
    targets: &[(String, u16, String)],
) -> ProxyDecisions {
    let mut decisions = ProxyDecisions {
        source,
        targets: BTreeMap::new(),
    };
    let mut tracers: BTreeMap<String, engine::Tracer> = BTreeMap::new();
    for (host, port, url) in targets {
        if decisions.for_target(host, *port).is_some() {
            continue;
        }
        // A script that ran out of time or memory once would for every URL: it is not run
        // again, so that a run with many targets stays within one bound.
        let exhausted = decisions.targets.values().find_map(|d| match d {
            Err(e @ (PacError::TooSlow { .. } | PacError::TooMuchMemory { .. })) => Some(e.clone()),
            _ => None,
        });
        if let Some(e) = exhausted {
            decisions.insert(host, *port, Err(e));
            continue;
        }
        let decision = engine.find_proxy(url, host).and_then(|answer| {
            let mut decision = Decision::of_answer(url, host, *port, answer)?;
            decision.line = deciding_line(script, &decision.answer);
            // A DIRECT is what fails a login host: when several lines return it, copies of
            // the script (compiled once per run) find the one that did. Not done for a PROXY
            // answer, which passes, so that a large scenario's decisions stay cheap.
            if decision.line.is_none() && decision.way() == Way::Direct {
                let tracer = tracers
                    .entry(decision.answer.clone())
                    .or_insert_with(|| engine.tracer(script, &decision.answer));
                decision.line = tracer.line(url, host);
            }
            Ok(decision)
        });
        decisions.insert(host, *port, decision);
    }
    decisions
}

/// The line of the one `return` that gives exactly this answer as a string literal, when
/// there is exactly one such line; `None` when the answer is built or returned in several
/// places (the line is then not known).
pub fn deciding_line(script: &str, answer: &str) -> Option<PacLine> {
    let quoted = [format!("\"{answer}\""), format!("'{answer}'")];
    let mut found = script.lines().enumerate().filter(|(_, line)| {
        line.contains("return") && quoted.iter().any(|q| line.contains(q.as_str()))
    });
    let (n, text) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(PacLine {
        line: n as u32 + 1,
        text: text.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_urls_are_the_ones_chrome_hands_to_pac_scripts() {
        assert_eq!(
            browser_url("login.windows.net", Port::HTTP),
            "http://login.windows.net/"
        );
        assert_eq!(
            browser_url("login.windows.net", Port::HTTPS),
            "https://login.windows.net/"
        );
        assert_eq!(browser_url("::1", Port::HTTPS), "https://[::1]/");
    }

    #[test]
    fn of_several_direct_lines_the_one_that_decided_is_found() {
        let script = "function FindProxyForURL(url, host) {\n  if (dnsDomainIs(host, 'a.test')) return \"DIRECT\";\n  if (dnsDomainIs(host, 'b.test'))\n    return \"DIRECT\";\n  return 'PROXY p:1';\n}\n";
        assert_eq!(deciding_line(script, "DIRECT"), None);
        let engine = Engine::compile(
            script,
            HostEnv::offline(Vec::new()),
            EngineLimits::default(),
        )
        .expect("compiles");
        let targets = [
            ("a.test".to_string(), 443, "https://a.test/".to_string()),
            ("b.test".to_string(), 443, "https://b.test/".to_string()),
            ("c.test".to_string(), 443, "https://c.test/".to_string()),
        ];
        let decisions = decide_all(&engine, script, DecisionSource::Environment, &targets);
        let line = |host: &str| {
            decisions
                .for_target(host, 443)
                .and_then(|d| d.as_ref().ok())
                .and_then(|d| d.line.as_ref())
                .map(|l| l.line)
        };
        assert_eq!(line("a.test"), Some(2));
        assert_eq!(line("b.test"), Some(4));
        assert_eq!(line("c.test"), Some(5));
    }

    #[test]
    fn the_deciding_line_is_named_only_when_unique() {
        let script = "function FindProxyForURL(url, host) {\n  if (host == 'a') return \"DIRECT\";\n  return 'PROXY p:1';\n}\n";
        assert_eq!(deciding_line(script, "DIRECT").unwrap().line, 2);
        assert_eq!(deciding_line(script, "PROXY p:1").unwrap().line, 3);
        let twice = format!("{script}function other() {{ return 'DIRECT'; }}\n");
        assert_eq!(deciding_line(&twice, "DIRECT"), None);
    }

    #[test]
    fn the_way_follows_the_first_directive_and_fails_over_in_order() {
        let d = |answer: &str| Decision {
            url: String::new(),
            host: String::new(),
            port: 443,
            answer: answer.into(),
            directives: parse_answer(answer).unwrap(),
            line: None,
        };
        assert_eq!(d("DIRECT").way(), Way::Direct);
        assert_eq!(d("DIRECT; PROXY a:1").way(), Way::Direct);
        match d("PROXY a:1; PROXY b:2; DIRECT").way() {
            Way::Proxies(list) => assert_eq!(list.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(d("PROXY a:1; PROXY b:2; DIRECT").proxy_chain().len(), 2);
        assert!(matches!(
            d("SOCKS5 s:1080; PROXY a:1").way(),
            Way::Unprobeable(_)
        ));
    }
}
