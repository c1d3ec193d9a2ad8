//! Scenario × vantage → the list of checks, each with the checks it depends on.

use serde::Serialize;

use crate::outcome::{Route, Stage};
use crate::probe::ConnectTo;
use crate::scenario::model::{EchoObserver, Family, ObserverRole, Port, Scenario};

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
}

/// One check of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub id: usize,
    pub name: String,
    pub stage: Stage,
    pub host: String,
    pub port: Option<Port>,
    pub route: Route,
    pub kind: CheckKind,
    /// Checks whose observations this one needs before it runs (indices into the plan, always
    /// smaller than `id`).
    pub deps: Vec<usize>,
    /// The earlier stage of the same path: this check is judged only if that one passed.
    pub after: Vec<usize>,
    /// The check whose connection this one goes on (TLS and HTTP on the connect check's: one
    /// connection and one handshake per target, not three and two).
    pub conn_of: Option<usize>,
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

/// The expanded plan of one scenario run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub checks: Vec<Check>,
}

/// Whether a port speaks TLS: 443, or any port an `https` observer names.
pub fn is_tls_port(port: Port) -> bool {
    port.0 == 443
}

impl Plan {
    /// Expands the scenario. With a proxy, every connection goes through it and the local
    /// resolution is informational; otherwise each family is probed on its own addresses.
    pub fn build(scenario: &Scenario, connect_to: &[ConnectTo]) -> Plan {
        let mut b = Builder {
            checks: Vec::new(),
            proxied: scenario.vantage.proxy.is_some(),
            families: scenario.limits.family.families().to_vec(),
            connect_to,
        };
        let login_hosts: Vec<&str> = scenario.login.hosts.iter().map(|h| h.0.as_str()).collect();
        for host in &login_hosts {
            for &port in &scenario.login.ports {
                for route in b.routes() {
                    // One connection per host, port and route, opened as soon as the name is
                    // resolved: the connect check's, which the TLS handshake and then the HTTP
                    // request go on, as a browser's would. The verdict judges each stage only
                    // after the one before it passed.
                    let dep = b.resolve_dep(host, port, route);
                    let connect = b.push(
                        host,
                        Some(port),
                        route,
                        CheckKind::Connect,
                        dep.clone(),
                        true,
                    );
                    let http_after = if is_tls_port(port) {
                        let tls =
                            b.push(host, Some(port), route, CheckKind::Tls, dep.clone(), true);
                        b.checks[tls].after = vec![connect];
                        b.checks[tls].conn_of = Some(connect);
                        tls
                    } else {
                        connect
                    };
                    let expect = if is_tls_port(port) {
                        HttpExpect::OpenIdConfiguration {
                            path: scenario.login.openid_path.clone(),
                        }
                    } else {
                        HttpExpect::RedirectToHttps
                    };
                    let http = b.push(host, Some(port), route, CheckKind::Http(expect), dep, true);
                    b.checks[http].after = vec![http_after];
                    b.checks[http].conn_of = Some(connect);
                }
            }
        }
        for observer in &scenario.observers {
            let host = observer.host().to_string();
            let login = login_hosts.contains(&host.as_str());
            // The observer's name joins the check's name only where the target alone is ambiguous.
            let shared_target = scenario
                .observers
                .iter()
                .filter(|o| {
                    o.host() == observer.host()
                        && o.port() == observer.port()
                        && o.role == observer.role
                })
                .count()
                > 1;
            for route in b.routes() {
                let dep = b.resolve_dep(&host, observer.port(), route);
                let kind = CheckKind::Egress(observer.clone());
                let id = b.push(&host, Some(observer.port()), route, kind, dep, login);
                if !shared_target {
                    let c = &mut b.checks[id];
                    c.name = c.name.replace(&format!(" [{}]", observer.name), "");
                }
            }
        }
        Plan { checks: b.checks }
    }
}

struct Builder<'a> {
    checks: Vec<Check>,
    proxied: bool,
    families: Vec<Family>,
    connect_to: &'a [ConnectTo],
}

impl Builder<'_> {
    fn routes(&self) -> Vec<Route> {
        if self.proxied {
            vec![Route::Proxy]
        } else {
            self.families.iter().map(|&f| Route::Direct(f)).collect()
        }
    }

    /// The resolve check a connection depends on, planned on first use. Through a proxy, or
    /// when `--connect-to` names the address, the connection does not need it.
    fn resolve_dep(&mut self, host: &str, port: Port, route: Route) -> Vec<usize> {
        // An address written literally (an observer such as `http://127.0.0.1:8080/ip`) has no
        // name to look up: asking DNS for it would only fail.
        if crate::probe::literal_ip(host).is_some() {
            return Vec::new();
        }
        let family = match route {
            Route::Direct(f) => f,
            Route::Proxy => {
                for f in self.families.clone() {
                    self.resolve_check(host, f);
                }
                return Vec::new();
            }
        };
        let id = self.resolve_check(host, family);
        let pinned = self
            .connect_to
            .iter()
            .find(|c| c.matches(host, port))
            .is_some_and(|c| c.to_host.is_some());
        if pinned { Vec::new() } else { vec![id] }
    }

    fn resolve_check(&mut self, host: &str, family: Family) -> usize {
        let existing = self.checks.iter().find(|c| {
            c.kind == CheckKind::Resolve && c.host == host && c.route == Route::Direct(family)
        });
        match existing {
            Some(c) => c.id,
            None => self.push(
                host,
                None,
                Route::Direct(family),
                CheckKind::Resolve,
                vec![],
                false,
            ),
        }
    }

    fn push(
        &mut self,
        host: &str,
        port: Option<Port>,
        route: Route,
        kind: CheckKind,
        deps: Vec<usize>,
        login_host: bool,
    ) -> usize {
        let id = self.checks.len();
        let (stage, what) = match &kind {
            CheckKind::Resolve => (Stage::Resolve, "resolve".to_string()),
            CheckKind::Connect => (Stage::Connect, "connect".to_string()),
            CheckKind::Tls => (Stage::Tls, "tls".to_string()),
            CheckKind::Http(HttpExpect::RedirectToHttps) => {
                (Stage::Http, "http redirect".to_string())
            }
            CheckKind::Http(HttpExpect::OpenIdConfiguration { .. }) => {
                (Stage::Http, "http openid-configuration".to_string())
            }
            CheckKind::Egress(o) => {
                let role = match o.role {
                    ObserverRole::Anchored => "anchored",
                    ObserverRole::Control => "not anchored",
                };
                (Stage::Egress, format!("egress {role} [{}]", o.name))
            }
        };
        let target = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        self.checks.push(Check {
            id,
            name: format!("{target} {what} ({route})"),
            stage,
            host: host.to_string(),
            port,
            route,
            kind,
            deps,
            after: Vec::new(),
            conn_of: None,
            login_host,
        });
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                assert!(c.deps.is_empty(), "{} waits for {:?}", c.name, c.deps);
            }
        }
    }
}
