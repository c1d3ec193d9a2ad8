//! What a valid scenario still lacks before a run of it can pass. `validate` warns about each
//! shortfall, so that "ok" means a run can pass; the rules are the run's coverage rules
//! (`verdict::coverage`), said before any probe instead of after.

use std::fmt;

use super::model::{ObserverRole, Port, Scenario};

/// Something a valid scenario lacks, which leaves a run of it no better than inconclusive
/// (or, for the anchors, stopped before it starts unless `--expect-ip` gives them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// `[anchor] expect` is empty: `run` needs `--expect-ip`.
    NoAnchors,
    /// No anchored observer's URL is on this login port.
    NoAnchoredObserver { port: Port },
    /// No control observer.
    NoControl,
    /// `[entra] mode` ca or both, and no vantage outside the trusted locations: nothing will
    /// show the Conditional Access policy biting, so each issued token is undecided.
    NoCaControl,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shortfall::NoAnchors => f.write_str(
                "no expected App Connector IP: list them in [anchor] expect, or `run` stops until --expect-ip gives them",
            ),
            Shortfall::NoAnchoredObserver { port } => write!(
                f,
                "no anchored observer on login port {port}: anchoring on {port} cannot be verified, so a run can only be inconclusive; add an [[observer]] with role = \"anchored\" and a URL on port {port}"
            ),
            Shortfall::NoControl => f.write_str(
                "no control observer: that non-login traffic stays unanchored cannot be verified, so a run can only be inconclusive; add an [[observer]] with role = \"control\" (an echo host outside the SIPA segment)",
            ),
            Shortfall::NoCaControl => f.write_str(
                "[entra] mode ca or both, and no vantage with expect_anchored = false: nothing will show Conditional Access refusing the probe app outside the trusted locations, so each token issued is \"policy unverified\" and a run can only be inconclusive; add a [[vantage]] outside them (a guest network, or a route around ZIA)",
            ),
        }
    }
}

impl Scenario {
    /// What this scenario lacks before a run of it can pass, in the order the file is read:
    /// anchors, then each login port's anchored observer, then the control.
    pub fn shortfalls(&self) -> Vec<Shortfall> {
        let mut found = Vec::new();
        if self.anchors.is_empty() {
            found.push(Shortfall::NoAnchors);
        }
        for &port in &self.login.ports {
            let covered = self
                .observers
                .iter()
                .any(|o| o.role == ObserverRole::Anchored && o.port() == port);
            if !covered {
                found.push(Shortfall::NoAnchoredObserver { port });
            }
        }
        if !self
            .observers
            .iter()
            .any(|o| o.role == ObserverRole::Control)
        {
            found.push(Shortfall::NoControl);
        }
        let ca = self
            .entra
            .as_ref()
            .is_some_and(|e| e.mode != super::model::EntraMode::Log);
        if ca && self.vantages().all(|v| v.expect_anchored) {
            found.push(Shortfall::NoCaControl);
        }
        found
    }

    /// What may go wrong at this vantage before any probe runs, as warnings: a proxy user
    /// without a password (the proxy will likely answer 407).
    pub fn vantage_warnings(&self) -> Vec<String> {
        match &self.vantage.proxy {
            Some(proxy) if proxy.password.is_none() => proxy
                .username
                .iter()
                .map(|user| {
                    format!(
                        "the proxy user `{user}` has no password: set {} (the proxy will likely answer 407)",
                        super::values::PROXY_PASSWORD_ENV
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// What the scenario holds, counted in words: `3 login hosts, 2 ports, 1 observer`.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// A scenario's counts, pluralised right; see [`Scenario::summary`].
pub struct Summary<'a>(&'a Scenario);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(
            f,
            "{}, {}, {}",
            count(s.login.hosts.len(), "login host"),
            count(s.login.ports.len(), "port"),
            count(s.observers.len(), "observer")
        )
    }
}

/// `1 port`, `2 ports`, `0 ports`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::{Format, load_str};

    fn scenario(text: &str) -> Scenario {
        load_str(text, Path::new("t.toml"), Format::Toml).expect("valid")
    }

    const HEAD: &str = "name = \"t\"\n[login]\nhosts = [\"login.microsoftonline.com\"]\n";

    #[test]
    fn counts_are_pluralised() {
        let one = scenario(&format!(
            "{HEAD}ports = [443]\n[[observer]]\nname = \"c\"\nrole = \"control\"\nurl = \"https://c.example/ip\"\n"
        ));
        assert_eq!(
            one.summary().to_string(),
            "1 login host, 1 port, 1 observer"
        );
        let none = scenario(
            "name = \"t\"\n[login]\nhosts = [\"login.microsoftonline.com\", \"login.windows.net\"]\n",
        );
        assert_eq!(
            none.summary().to_string(),
            "2 login hosts, 2 ports, 0 observers"
        );
    }

    #[test]
    fn a_scenario_without_anchors_observers_or_control_falls_short_of_each() {
        let s = scenario(HEAD);
        assert_eq!(
            s.shortfalls(),
            [
                Shortfall::NoAnchors,
                Shortfall::NoAnchoredObserver { port: Port::HTTP },
                Shortfall::NoAnchoredObserver { port: Port::HTTPS },
                Shortfall::NoControl,
            ]
        );
    }

    #[test]
    fn an_anchored_observer_covers_only_its_own_port() {
        let s = scenario(&format!(
            "{HEAD}[anchor]\nexpect = [\"203.0.113.10\"]\n\
             [[observer]]\nname = \"a\"\nrole = \"anchored\"\nurl = \"https://canary.example/ip\"\n\
             [[observer]]\nname = \"b\"\nrole = \"anchored\"\nurl = \"http://canary.example:8080/ip\"\n\
             [[observer]]\nname = \"c\"\nrole = \"control\"\nurl = \"http://control.example/ip\"\n"
        ));
        assert_eq!(
            s.shortfalls(),
            [Shortfall::NoAnchoredObserver { port: Port::HTTP }]
        );
    }

    #[test]
    fn a_control_on_a_login_port_does_not_count_as_anchored() {
        let s = scenario(&format!(
            "{HEAD}ports = [443]\n[anchor]\nexpect = [\"203.0.113.10\"]\n\
             [[observer]]\nname = \"c\"\nrole = \"control\"\nurl = \"https://control.example/ip\"\n"
        ));
        assert_eq!(
            s.shortfalls(),
            [Shortfall::NoAnchoredObserver { port: Port::HTTPS }]
        );
    }

    #[test]
    fn conditional_access_mode_needs_a_vantage_outside_the_trusted_locations() {
        let base = "name = \"x\"\n[login]\nhosts = [\"login.windows.net\"]\nports = [443]\n[anchor]\nexpect = [\"127.0.0.2\"]\n[[observer]]\nname = \"a\"\nrole = \"anchored\"\nurl = \"https://canary.example/ip\"\n[[observer]]\nname = \"c\"\nrole = \"control\"\nurl = \"https://control.example/ip\"\n";
        let ca = format!("{base}[entra]\nmode = \"ca\"\n");
        assert_eq!(scenario(&ca).shortfalls(), vec![Shortfall::NoCaControl]);
        let log = format!("{base}[entra]\nmode = \"log\"\n");
        assert!(scenario(&log).shortfalls().is_empty());
        let outside = format!(
            "{}[[vantage]]\nname = \"office\"\n[[vantage]]\nname = \"guest\"\nexpect_anchored = false\n[entra]\nmode = \"both\"\n",
            base
        );
        assert!(scenario(&outside).shortfalls().is_empty());
    }

    #[test]
    fn a_complete_scenario_has_no_shortfall() {
        let s = scenario(&format!(
            "{HEAD}ports = [443]\n[anchor]\nexpect = [\"203.0.113.10\"]\n\
             [[observer]]\nname = \"a\"\nrole = \"anchored\"\nurl = \"https://canary.example/ip\"\n\
             [[observer]]\nname = \"c\"\nrole = \"control\"\nurl = \"https://control.example/ip\"\n"
        ));
        assert_eq!(s.shortfalls(), []);
    }
}
