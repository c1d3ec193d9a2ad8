//! Scenario × vantage → the plan: the checks to judge, and the probes that observe them.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::address::{ConnectTo, literal_ip};
use crate::pac::{ProxyDecisions, Way};
use crate::scenario::model::{EchoObserver, Family, ObserverRole, Port, Scenario};

/// How a check reaches its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// Straight to the resolved address of this family (a transparent gateway may sit on it).
    Direct(Family),
    /// Through the explicit proxy, which resolves the name itself.
    Proxy,
    /// Graph's own route, apart from the path under test: system DNS, a direct connection, no
    /// proxy. The run-wide Graph checks (named locations, What If) take it.
    Graph,
    /// No connection: the browser's proxy decision (a PAC file, the system proxy) for a URL.
    Decision,
}

/// Reports show a route as `ipv4`, `ipv6`, `proxy`, or `graph route`.
impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Direct(family) => family.fmt(f),
            Route::Proxy => f.write_str("proxy"),
            Route::Graph => f.write_str("graph route"),
            Route::Decision => f.write_str("proxy decision"),
        }
    }
}

impl Route {
    /// Every route, in the order reports sort them.
    pub const ALL: [Route; 5] = [
        Route::Direct(Family::V4),
        Route::Direct(Family::V6),
        Route::Proxy,
        Route::Graph,
        Route::Decision,
    ];

    /// The IP family a direct route probes; none through the proxy, which resolves names,
    /// nor on Graph's own route.
    pub fn family(self) -> Option<Family> {
        match self {
            Route::Direct(f) => Some(f),
            Route::Proxy | Route::Graph | Route::Decision => None,
        }
    }

    /// The one word JSON and the reports read back: `ipv4`, `ipv6`, `proxy` or `graph`.
    pub fn word(self) -> &'static str {
        match self {
            Route::Direct(Family::V4) => "ipv4",
            Route::Direct(Family::V6) => "ipv6",
            Route::Proxy => "proxy",
            Route::Graph => "graph",
            Route::Decision => "decision",
        }
    }
}

/// Reports write a route as one word: `ipv4`, `ipv6`, `proxy` or `graph`.
impl Serialize for Route {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

/// Reads back the one word a report writes.
impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Route, D::Error> {
        let word = String::deserialize(d)?;
        Route::ALL
            .into_iter()
            .find(|r| r.word() == word)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "route `{word}`: expected ipv4, ipv6, proxy, graph or decision"
                ))
            })
    }
}

/// Where in the path a check looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Resolve,
    Connect,
    Tls,
    Http,
    Egress,
    /// Entra's own record of the sign-in: the token request and the sign-in log.
    Entra,
    /// QUIC on UDP 443: whether a browser's HTTP/3 attempt gets around the TCP-only anchoring.
    Quic,
    /// The browser's proxy decision for the target's URL (a PAC file, the system proxy).
    Pac,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Resolve => "resolve",
            Stage::Connect => "connect",
            Stage::Tls => "tls",
            Stage::Http => "http",
            Stage::Egress => "egress",
            Stage::Entra => "entra",
            Stage::Quic => "quic",
            Stage::Pac => "pac",
        })
    }
}

/// What an HTTP check expects of the login host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "expect", rename_all = "snake_case")]
pub enum HttpExpect {
    /// Plain HTTP: a redirect to https.
    RedirectToHttps,
    /// HTTPS: the OpenID configuration document at this path.
    OpenIdConfiguration { path: String },
}

/// The probe a check runs.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Resolve,
    Connect,
    Tls,
    Http(HttpExpect),
    Egress(EchoObserver),
    /// A token request through the login host, judged on the IP Entra's sign-in log names.
    EntraSignIn,
    /// The anchor set against Conditional Access's trusted IP named locations (Graph).
    EntraNamedLocations,
    /// Conditional Access's What If for a sign-in from each anchor and from the control's
    /// egress IP: anchoring must change its decision (Graph).
    EntraWhatIf,
    /// The login host's DNS HTTPS record (type 65): its address hints and port must not lead a
    /// browser around the path the run verified.
    HttpsRecord,
    /// A QUIC handshake (ALPN `h3`) on UDP 443 of a login host, on a direct route only (browsers
    /// send no QUIC through an explicit proxy); when it completes, the scenario's `http3 = true`
    /// echo observers (here) are asked over HTTP/3 from the same family.
    Quic {
        echoes: Vec<EchoObserver>,
    },
    /// The browser's proxy decision for a login host's port (`role: None`) or an observer's
    /// URL (its role).
    ProxyDecision {
        role: Option<ObserverRole>,
    },
}

/// One check of the plan: one stage of one target, judged on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub id: usize,
    pub name: String,
    pub stage: Stage,
    pub host: String,
    pub port: Option<Port>,
    pub route: Route,
    pub kind: CheckKind,
    /// The resolve check whose addresses this check's probe connects to, if it needs one.
    pub waits_for: Option<usize>,
    /// The earlier stage of the same path: this check is judged only if that one passed.
    pub after: Option<usize>,
    /// The probe that observes this check (an index into [`Plan::probes`]).
    pub probe: usize,
    /// The host is one of the scenario's login hosts.
    pub login_host: bool,
}

impl Check {
    /// `host` or `host:port`.
    pub fn target(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{}", self.host, port),
            None => self.host.clone(),
        }
    }

    pub fn family(&self) -> Option<Family> {
        self.route.family()
    }
}

/// One probe the runner starts. A login path probe observes several checks, one per phase on
/// its one connection; the others observe one check each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Resolve {
        check: usize,
    },
    /// Connect, then on a TLS port the handshake, then the HTTP request, on one connection.
    LoginPath {
        connect: usize,
        tls: Option<usize>,
        http: usize,
    },
    Egress {
        check: usize,
    },
    /// A client-credentials token request through the path under test (port 443), whose
    /// sign-in the run then reads back from Entra's log.
    Token {
        check: usize,
    },
    /// Conditional Access's named locations, read from Graph by the runner after the probes.
    NamedLocations {
        check: usize,
    },
    /// Conditional Access's What If, asked by the runner after the probes (it needs the
    /// control's egress IP).
    WhatIf {
        check: usize,
    },
    /// A login host's DNS HTTPS record, read through the vantage's resolver.
    HttpsRecord {
        check: usize,
    },
    /// A QUIC handshake on UDP 443, run beside the TCP probes, and the HTTP/3 echoes after it.
    Quic {
        check: usize,
    },
    /// The proxy decision, made before planning: read back, not probed.
    Decision {
        check: usize,
    },
}

impl Probe {
    /// The checks this probe observes, in the order of its phases.
    pub fn checks(&self) -> Vec<usize> {
        match *self {
            Probe::Resolve { check }
            | Probe::Egress { check }
            | Probe::Token { check }
            | Probe::NamedLocations { check }
            | Probe::WhatIf { check }
            | Probe::HttpsRecord { check }
            | Probe::Decision { check } => vec![check],
            Probe::Quic { check } => vec![check],
            Probe::LoginPath { connect, tls, http } => {
                std::iter::once(connect).chain(tls).chain([http]).collect()
            }
        }
    }

    /// The check that names the probe's target and route: its first.
    pub fn lead(&self) -> usize {
        match *self {
            Probe::Resolve { check }
            | Probe::Egress { check }
            | Probe::Token { check }
            | Probe::NamedLocations { check }
            | Probe::WhatIf { check }
            | Probe::HttpsRecord { check }
            | Probe::Decision { check } => check,
            Probe::Quic { check } => check,
            Probe::LoginPath { connect, .. } => connect,
        }
    }
}

/// The expanded plan of one scenario run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub checks: Vec<Check>,
    pub probes: Vec<Probe>,
    /// `[entra] mode`, when the scenario has `[entra]`: what its sign-in checks will prove.
    pub entra_mode: Option<crate::scenario::model::EntraMode>,
    /// The browser's proxy decisions the plan follows, when the vantage has a PAC file or
    /// follows the system proxy.
    pub decisions: Option<Arc<ProxyDecisions>>,
}

impl Plan {
    /// Expands the scenario. With a proxy, every connection goes through it and the local
    /// resolution is informational; otherwise each family is probed on its own addresses.
    pub fn build(scenario: &Scenario, connect_to: &[ConnectTo]) -> Plan {
        Plan::build_with(scenario, connect_to, None)
    }

    /// As [`Plan::build`], following the browser's proxy decisions when given: each login
    /// host, port and observer goes the way its decision says (DIRECT: each family on its own
    /// addresses; proxies: the proxy route, with fail-over), and each has a check of its
    /// decision. A target without a usable decision gets no connection at all: its decision
    /// check says why.
    pub fn build_with(
        scenario: &Scenario,
        connect_to: &[ConnectTo],
        decisions: Option<Arc<ProxyDecisions>>,
    ) -> Plan {
        let mut b = Builder {
            checks: Vec::new(),
            probes: Vec::new(),
            proxied: scenario.vantage.proxy.is_some(),
            families: scenario.limits.family.families().to_vec(),
            connect_to,
            decisions: decisions.as_deref(),
        };
        let login_hosts: Vec<&str> = scenario.login.hosts.iter().map(|h| h.as_str()).collect();
        for host in &login_hosts {
            for &port in &scenario.login.ports {
                if b.decisions.is_some() {
                    b.push_decision(host, port, None, true);
                }
                for route in b.routes_for(host, port) {
                    // One connection per host, port and route, opened as soon as the name is
                    // resolved, which the TLS handshake and then the HTTP request go on, as a
                    // browser's would. The verdict judges each stage only after the one before
                    // it passed.
                    let waits_for = b.resolve_dep(host, port, route);
                    let probe = b.probes.len();
                    let at = Target {
                        host,
                        port,
                        route,
                        waits_for,
                        probe,
                    };
                    let connect = b.push(&at, CheckKind::Connect, None, true);
                    let tls = port
                        .is_tls()
                        .then(|| b.push(&at, CheckKind::Tls, Some(connect), true));
                    let expect = if port.is_tls() {
                        HttpExpect::OpenIdConfiguration {
                            path: scenario.login.openid_path.clone(),
                        }
                    } else {
                        HttpExpect::RedirectToHttps
                    };
                    let http = b.push(&at, CheckKind::Http(expect), tls.or(Some(connect)), true);
                    b.probes.push(Probe::LoginPath { connect, tls, http });
                }
            }
        }
        if scenario.entra.is_some() && scenario.login.ports.contains(&Port::HTTPS) {
            // A token request of its own per host and route, on a connection of its own: its
            // sign-in names the IP Entra saw for that very host. It is judged only once the
            // login path's TLS handshake to the same host and route passed.
            for host in &login_hosts {
                for route in b.routes_for(host, Port::HTTPS) {
                    let waits_for = b.resolve_dep(host, Port::HTTPS, route);
                    let tls = b.checks.iter().find(|c| {
                        c.kind == CheckKind::Tls
                            && c.host == *host
                            && c.port == Some(Port::HTTPS)
                            && c.route == route
                    });
                    let after = tls.map(|c| c.id);
                    let probe = b.probes.len();
                    let at = Target {
                        host,
                        port: Port::HTTPS,
                        route,
                        waits_for,
                        probe,
                    };
                    let check = b.push(&at, CheckKind::EntraSignIn, after, true);
                    b.probes.push(Probe::Token { check });
                }
            }
        }
        if let Some(entra) = scenario.entra.as_ref().filter(|e| e.mode.reads_graph()) {
            // One read of Graph for the whole run: Graph has no route under test.
            let check = b.push_graph(entra.graph_host(), CheckKind::EntraNamedLocations);
            b.probes.push(Probe::NamedLocations { check });
        }
        if let Some(entra) = scenario.entra.as_ref().filter(|e| e.asks_what_if()) {
            // One What If comparison for the whole run, asked once the control's IP is known.
            let check = b.push_graph(entra.graph_host(), CheckKind::EntraWhatIf);
            b.probes.push(Probe::WhatIf { check });
        }
        for observer in &scenario.observers {
            let host = observer.host().to_string();
            let login = login_hosts.contains(&host.as_str());
            if b.decisions.is_some() {
                let decided = b.checks.iter().any(|c| {
                    matches!(c.kind, CheckKind::ProxyDecision { .. })
                        && c.host == host
                        && c.port == Some(observer.port())
                });
                if !decided {
                    b.push_decision(&host, observer.port(), Some(observer.role), login);
                }
            }
            for route in b.routes_for(&host, observer.port()) {
                let waits_for = b.resolve_dep(&host, observer.port(), route);
                let probe = b.probes.len();
                let at = Target {
                    host: &host,
                    port: observer.port(),
                    route,
                    waits_for,
                    probe,
                };
                let check = b.push(&at, CheckKind::Egress(observer.clone()), None, login);
                b.probes.push(Probe::Egress { check });
            }
        }
        // Each login host's HTTPS record, read once through the vantage's resolver: the hints
        // and port a browser may take instead of the A/AAAA answers the path checks verified.
        for host in login_hosts.iter().filter(|h| literal_ip(h).is_none()) {
            let id = b.checks.len();
            b.checks.push(Check {
                id,
                name: String::new(),
                stage: Stage::Resolve,
                host: host.to_string(),
                port: None,
                // Through a proxy, which resolves names itself; otherwise the run's first family
                // (the record's hints of each family are judged against that family's answer).
                route: b
                    .routes()
                    .first()
                    .copied()
                    .unwrap_or(Route::Direct(Family::V4)),
                kind: CheckKind::HttpsRecord,
                waits_for: None,
                after: None,
                probe: b.probes.len(),
                login_host: true,
            });
            b.probes.push(Probe::HttpsRecord { check: id });
        }
        if scenario.login.ports.contains(&Port::HTTPS) {
            // QUIC on UDP 443 per login host and family, straight from the vantage whatever
            // its proxy: a browser sends no QUIC through an explicit proxy, but one the PAC
            // file sends DIRECT, a TCP-only tunnel (Z-Tunnel 1.0) or an app that ignores the
            // proxy does, and Zscaler's advice is a firewall rule that blocks it. It starts as
            // soon as the name is resolved, beside the TCP probes.
            let echoes: Vec<EchoObserver> = scenario
                .observers
                .iter()
                .filter(|o| o.http3)
                .cloned()
                .collect();
            for host in &login_hosts {
                for family in b.families.clone() {
                    let route = Route::Direct(family);
                    let waits_for = b.resolve_dep(host, Port::HTTPS, route);
                    let probe = b.probes.len();
                    let at = Target {
                        host,
                        port: Port::HTTPS,
                        route,
                        waits_for,
                        probe,
                    };
                    let kind = CheckKind::Quic {
                        echoes: echoes.clone(),
                    };
                    let check = b.push(&at, kind, None, true);
                    b.probes.push(Probe::Quic { check });
                }
            }
        }
        // The observer's name joins a check's name only where the target alone is ambiguous.
        let names: Vec<String> = b.checks.iter().map(|c| b.name(c)).collect();
        for (check, name) in b.checks.iter_mut().zip(names) {
            check.name = name;
        }
        Plan {
            checks: b.checks,
            probes: b.probes,
            entra_mode: scenario.entra.as_ref().map(|e| e.mode),
            decisions,
        }
    }

    /// The proxies a proxy-route probe to `host:port` tries, in order: the decision's, or
    /// the vantage's one explicit proxy.
    pub fn proxy_chain(
        &self,
        host: &str,
        port: Port,
        explicit: Option<&crate::scenario::model::ProxySpec>,
    ) -> Vec<crate::scenario::model::ProxySpec> {
        match self
            .decisions
            .as_ref()
            .and_then(|d| d.for_target(host, port.get()))
        {
            Some(Ok(decision)) => decision.proxy_chain(),
            Some(Err(_)) => Vec::new(),
            None => explicit.into_iter().cloned().collect(),
        }
    }

    /// Why this plan has no QUIC check, when it has none: without port 443 there is no HTTPS
    /// login path to go around.
    pub fn quic_not_checked(&self, scenario: &Scenario) -> Option<String> {
        let planned = self
            .checks
            .iter()
            .any(|c| matches!(c.kind, CheckKind::Quic { .. }));
        (!planned && !scenario.login.ports.contains(&Port::HTTPS))
            .then(|| "not checked: the login ports lack 443".into())
    }

    /// The probe that observes a check.
    pub fn probe_of(&self, check: usize) -> &Probe {
        &self.probes[self.checks[check].probe]
    }
}

/// Where the checks being planned go.
struct Target<'a> {
    host: &'a str,
    port: Port,
    route: Route,
    waits_for: Option<usize>,
    probe: usize,
}

struct Builder<'a> {
    checks: Vec<Check>,
    probes: Vec<Probe>,
    proxied: bool,
    families: Vec<Family>,
    connect_to: &'a [ConnectTo],
    decisions: Option<&'a ProxyDecisions>,
}

impl Builder<'_> {
    /// The routes to `host:port`: the vantage's, or the way its proxy decision says; none
    /// when the decision could not be made or names a route sipa-check cannot probe.
    fn routes_for(&self, host: &str, port: Port) -> Vec<Route> {
        let Some(decisions) = self.decisions else {
            return self.routes();
        };
        match decisions.for_target(host, port.get()) {
            None => self.routes(),
            Some(Err(_)) => Vec::new(),
            Some(Ok(decision)) => match decision.way() {
                Way::Direct => self.families.iter().map(|&f| Route::Direct(f)).collect(),
                Way::Proxies(_) => vec![Route::Proxy],
                Way::Unprobeable(_) => Vec::new(),
            },
        }
    }

    /// The check of the proxy decision for `host:port`, with its probe.
    fn push_decision(&mut self, host: &str, port: Port, role: Option<ObserverRole>, login: bool) {
        let probe = self.probes.len();
        let at = Target {
            host,
            port,
            route: Route::Decision,
            waits_for: None,
            probe,
        };
        let check = self.push(&at, CheckKind::ProxyDecision { role }, None, login);
        self.probes.push(Probe::Decision { check });
    }

    fn routes(&self) -> Vec<Route> {
        if self.proxied {
            vec![Route::Proxy]
        } else {
            self.families.iter().map(|&f| Route::Direct(f)).collect()
        }
    }

    /// The resolve check a connection waits for, planned on first use. Through a proxy, or
    /// when `--connect-to` names the address, the connection does not need it.
    fn resolve_dep(&mut self, host: &str, port: Port, route: Route) -> Option<usize> {
        // An address written literally (an observer such as `http://127.0.0.1:8080/ip`) has no
        // name to look up: asking DNS for it would only fail.
        if literal_ip(host).is_some() {
            return None;
        }
        let family = match route {
            Route::Direct(f) => f,
            Route::Proxy => {
                for f in self.families.clone() {
                    self.resolve_check(host, f);
                }
                return None;
            }
            // Graph resolves its host itself, with system DNS; a decision connects nowhere.
            Route::Graph | Route::Decision => return None,
        };
        let id = self.resolve_check(host, family);
        let pinned = self
            .connect_to
            .iter()
            .find(|c| c.matches(host, port))
            .is_some_and(|c| c.to_host.is_some());
        if pinned { None } else { Some(id) }
    }

    fn resolve_check(&mut self, host: &str, family: Family) -> usize {
        let existing = self.checks.iter().find(|c| {
            c.kind == CheckKind::Resolve && c.host == host && c.route == Route::Direct(family)
        });
        if let Some(c) = existing {
            return c.id;
        }
        let id = self.checks.len();
        self.checks.push(Check {
            id,
            name: String::new(),
            stage: Stage::Resolve,
            host: host.to_string(),
            port: None,
            route: Route::Direct(family),
            kind: CheckKind::Resolve,
            waits_for: None,
            after: None,
            probe: self.probes.len(),
            login_host: false,
        });
        self.probes.push(Probe::Resolve { check: id });
        id
    }

    /// A check of the run as a whole on Graph (`host`), with no port and no route under test,
    /// for the probe pushed next.
    /// A run-wide Graph check: on Graph's own route, never the vantage's proxy or family.
    fn push_graph(&mut self, host: String, kind: CheckKind) -> usize {
        let id = self.checks.len();
        self.checks.push(Check {
            id,
            name: String::new(),
            stage: Stage::Entra,
            host,
            port: None,
            route: Route::Graph,
            kind,
            waits_for: None,
            after: None,
            probe: self.probes.len(),
            login_host: false,
        });
        id
    }

    fn push(
        &mut self,
        at: &Target<'_>,
        kind: CheckKind,
        after: Option<usize>,
        login: bool,
    ) -> usize {
        let id = self.checks.len();
        let stage = match &kind {
            CheckKind::Resolve => Stage::Resolve,
            CheckKind::Connect => Stage::Connect,
            CheckKind::Tls => Stage::Tls,
            CheckKind::Http(_) => Stage::Http,
            CheckKind::Egress(_) => Stage::Egress,
            CheckKind::EntraSignIn | CheckKind::EntraNamedLocations | CheckKind::EntraWhatIf => {
                Stage::Entra
            }
            CheckKind::HttpsRecord => Stage::Resolve,
            CheckKind::Quic { .. } => Stage::Quic,
            CheckKind::ProxyDecision { .. } => Stage::Pac,
        };
        self.checks.push(Check {
            id,
            name: String::new(),
            stage,
            host: at.host.to_string(),
            port: Some(at.port),
            route: at.route,
            kind,
            waits_for: at.waits_for,
            after,
            probe: at.probe,
            login_host: login,
        });
        id
    }

    /// A check's stable name: `login.windows.net:80 egress anchored (ipv4)`, with the
    /// observer's name (`[canary]`) only where two observers share a target and role.
    fn name(&self, check: &Check) -> String {
        let what = match &check.kind {
            CheckKind::Resolve => "resolve".to_string(),
            CheckKind::Connect => "connect".to_string(),
            CheckKind::Tls => "tls".to_string(),
            CheckKind::Http(HttpExpect::RedirectToHttps) => "http redirect".to_string(),
            CheckKind::Http(HttpExpect::OpenIdConfiguration { .. }) => {
                "http openid-configuration".to_string()
            }
            CheckKind::EntraSignIn => "entra sign-in".to_string(),
            CheckKind::Quic { .. } => "quic udp".to_string(),
            CheckKind::EntraNamedLocations => {
                return format!("{} entra named locations", check.host);
            }
            CheckKind::EntraWhatIf => {
                return format!("{} entra conditional access what-if", check.host);
            }
            // One record for every family: the name carries no route.
            CheckKind::HttpsRecord => return format!("{} https record", check.host),
            CheckKind::ProxyDecision { .. } => {
                return format!("{} proxy decision", check.target());
            }
            CheckKind::Egress(o) => {
                let role = match o.role {
                    ObserverRole::Anchored => "anchored",
                    ObserverRole::Control => "not anchored",
                };
                let shared_target = self
                    .checks
                    .iter()
                    .filter(|c| c.route == check.route)
                    .filter(|c| match &c.kind {
                        CheckKind::Egress(other) => {
                            other.host() == o.host()
                                && other.port() == o.port()
                                && other.role == o.role
                        }
                        _ => false,
                    })
                    .count()
                    > 1;
                if shared_target {
                    format!("egress {role} [{}]", o.name)
                } else {
                    format!("egress {role}")
                }
            }
        };
        format!("{} {what} ({})", check.target(), check.route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_checks_take_graphs_own_route_whatever_the_vantage() {
        for proxy in ["", "[vantage]\nproxy = \"http://127.0.0.1:3128\"\n"] {
            let text = format!(
                "name = \"e\"\n[login]\nhosts = [\"login.windows.net\"]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[[observer]]\nname = \"control\"\nurl = \"https://control.example/ip\"\nrole = \"control\"\n{proxy}[entra]\n"
            );
            let s = crate::scenario::load_str(
                &text,
                std::path::Path::new("e.toml"),
                crate::scenario::Format::Toml,
            )
            .unwrap();
            let plan = Plan::build(&s, &[]);
            let graph: Vec<&Check> = plan
                .checks
                .iter()
                .filter(|c| {
                    matches!(
                        c.kind,
                        CheckKind::EntraNamedLocations | CheckKind::EntraWhatIf
                    )
                })
                .collect();
            assert_eq!(graph.len(), 2, "{proxy}");
            for c in graph {
                assert_eq!(c.route, Route::Graph, "{}", c.name);
                assert_eq!(c.route.family(), None);
                assert!(!c.name.contains("proxy"), "{}", c.name);
            }
            // The path under test keeps its own route.
            let sign_in = plan
                .checks
                .iter()
                .find(|c| c.kind == CheckKind::EntraSignIn)
                .unwrap();
            assert_eq!(sign_in.route == Route::Proxy, !proxy.is_empty());
        }
    }

    #[test]
    fn routes_read_back_as_written() {
        for route in Route::ALL {
            let json = serde_json::to_string(&route).unwrap();
            assert_eq!(json, format!("\"{}\"", route.word()));
            assert_eq!(serde_json::from_str::<Route>(&json).unwrap(), route);
        }
        assert_eq!(Route::Graph.word(), "graph");
        assert_eq!(Route::Graph.to_string(), "graph route");
        assert!(serde_json::from_str::<Route>("\"graph route\"").is_err());
    }

    #[test]
    fn observers_at_literal_addresses_have_nothing_to_resolve() {
        let text = r#"
name = "literal"
[login]
hosts = ["login.windows.net"]
ports = [80]
[[observer]]
name = "v4"
role = "anchored"
url = "http://127.0.0.1:8080/ip"
[[observer]]
name = "v6"
role = "control"
url = "http://[::1]:8080/ip"
"#;
        let s = crate::scenario::load_str(
            text,
            std::path::Path::new("literal.toml"),
            crate::scenario::Format::Toml,
        )
        .unwrap();
        let plan = Plan::build(&s, &[]);
        let resolved: Vec<&str> = plan
            .checks
            .iter()
            .filter(|c| c.kind == CheckKind::Resolve)
            .map(|c| c.host.as_str())
            .collect();
        assert_eq!(resolved, ["login.windows.net", "login.windows.net"]);
        for c in &plan.checks {
            if matches!(c.kind, CheckKind::Egress(_)) {
                assert_eq!(c.waits_for, None, "{} waits for a resolve", c.name);
            }
        }
    }
}
