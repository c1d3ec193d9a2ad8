//! The verdict on canned observations, without any network.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use std::time::Duration;

use super::*;
use crate::cause::Cause;
use crate::guide::GuideStep;
use crate::observation::*;
use crate::outcome::Tally;
use crate::outcome::{Diagnosis, Route, Stage};
use crate::plan::{Check, CheckKind, HttpExpect};
use crate::scenario::model::*;

const ANCHOR: &str = "127.0.0.2";
const EDGE: &str = "127.0.0.3";
const HOSTS: [&str; 3] = [
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
];

fn observer(name: &str, role: ObserverRole, url: &str) -> EchoObserver {
    EchoObserver {
        name: name.into(),
        role,
        url: url.parse().unwrap(),
        extract: Extract::Text,
        samples: 3,
        port: Port::new(
            url.parse::<url::Url>()
                .unwrap()
                .port_or_known_default()
                .unwrap(),
        )
        .unwrap(),
        http3: false,
    }
}

fn scenario(with_observers: bool) -> Scenario {
    let mut observers = Vec::new();
    if with_observers {
        for host in HOSTS {
            observers.push(observer(
                &format!("{host}-80"),
                ObserverRole::Anchored,
                &format!("http://{host}/echo/ip"),
            ));
            observers.push(observer(
                &format!("{host}-443"),
                ObserverRole::Anchored,
                &format!("https://{host}/echo/ip"),
            ));
        }
        observers.push(observer(
            "control-80",
            ObserverRole::Control,
            "http://control.sipa-lab.test/echo/ip",
        ));
        observers.push(observer(
            "control-443",
            ObserverRole::Control,
            "https://control.sipa-lab.test/echo/ip",
        ));
    }
    Scenario {
        name: "unit".into(),
        description: None,
        source: PathBuf::from("unit.toml"),
        login: LoginSpec {
            hosts: HOSTS
                .iter()
                .map(|h| LoginHost::checked(h.to_string()))
                .collect(),
            ports: vec![Port::HTTP, Port::HTTPS],
            openid_path: "/common/.well-known/openid-configuration".into(),
        },
        anchors: AnchorSet(vec![ipnet::IpNet::from(ANCHOR.parse::<IpAddr>().unwrap())]),
        observers,
        vantage: Vantage {
            name: "unit".into(),
            dns: vec![],
            proxy: None,
            decision: None,
            ca_files: vec![],
            expect_anchored: true,
            bind: None,
        },
        more_vantages: vec![],
        limits: Limits {
            family: FamilySelection::V4,
            ..Limits::default()
        },
        entra: None,
    }
}

fn expectation(s: &Scenario) -> Expectation {
    Expectation {
        anchors: s.anchors.clone(),
        expect_anchored: s.vantage.expect_anchored,
        proxied: s.vantage.proxy.is_some(),
        login_ports: s.login.ports.clone(),
        require: s.limits.require,
        entra_mode: s.entra.as_ref().map(|e| e.mode).unwrap_or_default(),
        ca_policy: None,
    }
}

/// A QUIC observation of `host` with `outcome` and these HTTP/3 echoes.
fn quic_seen(
    host: &str,
    outcome: crate::observation::QuicOutcome,
    echoes: Vec<crate::observation::Http3Echo>,
) -> Observation {
    Observation::Quic(Box::new(crate::observation::QuicObservation {
        host: host.into(),
        via: "127.0.0.1:443".into(),
        outcome,
        offered: Vec::new(),
        echoes,
        handshake: std::time::Duration::from_millis(3),
        elapsed: std::time::Duration::from_millis(5),
    }))
}

fn addr() -> SocketAddr {
    "127.0.0.1:443".parse().unwrap()
}

/// A healthy observation for every check, with egress IPs chosen by `egress`.
fn observe(plan: &Plan, egress: impl Fn(&Check, usize) -> SampleOutcome) -> Vec<Observation> {
    plan.checks
        .iter()
        .map(|c| match &c.kind {
            CheckKind::EntraSignIn
            | CheckKind::EntraNamedLocations
            | CheckKind::EntraWhatIf
            | CheckKind::ProxyDecision { .. } => Observation::NotRun(NotRun::NoObserver),
            CheckKind::HttpsRecord => Observation::HttpsRecord(HttpsRecordObservation {
                host: c.host.clone(),
                resolvers: vec!["127.0.0.1:53".into()],
                alias: None,
                outcome: HttpsRecordOutcome::NoRecord,
                elapsed: Duration::from_millis(1),
            }),
            // A healthy vantage blocks QUIC.
            CheckKind::Quic { .. } => quic_seen(
                &c.host,
                crate::observation::QuicOutcome::Blocked {
                    by: crate::observation::QuicBlock::NoAnswer,
                },
                Vec::new(),
            ),
            CheckKind::Resolve => Observation::Resolve(DnsObservation {
                host: c.host.clone(),
                record_type: "A",
                resolvers: vec!["127.0.0.1:53".into()],
                source: AnswerSource::NamedServers {
                    servers: vec!["127.0.0.1:53".into()],
                },
                outcome: DnsOutcome::Answers {
                    answers: vec![DnsAnswer {
                        addr: "127.0.0.1".parse().unwrap(),
                        ttl: 300,
                        class: AddressClass::Loopback,
                    }],
                },
                elapsed: Duration::from_millis(1),
            }),
            CheckKind::Connect => Observation::Connect(ConnectObservation {
                attempts: vec![ConnectAttempt {
                    addr: addr(),
                    tunnel: None,
                    outcome: ConnectOutcome::Connected {
                        local: "127.0.0.1:50000".parse().unwrap(),
                    },
                    elapsed: Duration::from_millis(1),
                }],
            }),
            CheckKind::Tls => Observation::Tls(TlsObservation {
                addr: addr(),
                server_name: c.host.clone(),
                outcome: TlsOutcome::Established {
                    version: "TLS 1.3".into(),
                    cipher: "x".into(),
                    chain: vec![CertSummary {
                        subject: format!("CN={}", c.host),
                        issuer: "CN=lab CA".into(),
                        not_after: String::new(),
                    }],
                    trust: ChainTrust::DeclaredAnchor,
                    matched_name: Some(c.host.clone()),
                },
                elapsed: Duration::from_millis(2),
            }),
            CheckKind::Http(HttpExpect::RedirectToHttps) => http(301, Some("https://x/"), None),
            CheckKind::Http(HttpExpect::OpenIdConfiguration { .. }) => {
                http(200, None, Some("https://sts.windows.net/t/"))
            }
            CheckKind::Egress(o) => Observation::Egress(EgressObservation {
                observer: o.name.clone(),
                role: o.role,
                url: o.url.to_string(),
                via: "127.0.0.1:80".into(),
                samples: (0..3)
                    .map(|i| EgressSample {
                        outcome: egress(c, i),
                        elapsed: Duration::from_millis(3),
                    })
                    .collect(),
            }),
        })
        .collect()
}

fn http(status: u16, location: Option<&str>, issuer: Option<&str>) -> Observation {
    Observation::Http(HttpObservation {
        url: "https://login.windows.net/".into(),
        via: "127.0.0.1:443".into(),
        outcome: HttpOutcome::Answered(HttpAnswer {
            status,
            location: location.map(Into::into),
            content_type: None,
            entra_headers: vec![("x-ms-request-id".into(), "1".into())],
            issuer: issuer.map(Into::into),
            body_problem: None,
            block_page: false,
            body_excerpt: String::new(),
            alt_svc: None,
        }),
        elapsed: Duration::from_millis(2),
    })
}

fn ip(s: &str) -> SampleOutcome {
    SampleOutcome::Ip {
        ip: s.parse::<IpAddr>().unwrap(),
    }
}

/// The SIPA world as configured: login and canary anchored, control not.
fn healthy(c: &Check, _: usize) -> SampleOutcome {
    match &c.kind {
        CheckKind::Egress(o) if o.role == ObserverRole::Anchored => ip(ANCHOR),
        _ => ip(EDGE),
    }
}

fn judge_with(s: &Scenario, egress: impl Fn(&Check, usize) -> SampleOutcome) -> Vec<Outcome> {
    let plan = Plan::build(s, &[]);
    let obs = observe(&plan, egress);
    judge(&plan, &obs, &expectation(s))
}

fn failing(outcomes: &[Outcome]) -> Vec<&Outcome> {
    outcomes
        .iter()
        .filter(|o| o.status == Status::Fail)
        .collect()
}

#[test]
fn a_healthy_world_passes_every_check() {
    let outcomes = judge_with(&scenario(true), healthy);
    let not_passed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status != Status::Pass)
        .map(|o| &o.name)
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:?}");
    assert_eq!(Tally::of(&outcomes).overall(), Status::Pass);
    assert!(
        outcomes
            .iter()
            .any(|o| o.name == "login.windows.net:80 egress anchored (ipv4)")
    );
}

#[test]
fn one_unanchored_domain_names_that_domain() {
    let outcomes = judge_with(&scenario(true), |c, i| {
        if c.host == "login.windows.net" {
            ip(EDGE)
        } else {
            healthy(c, i)
        }
    });
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for f in failed {
        assert_eq!(f.host, "login.windows.net");
        assert_eq!(f.stage, Stage::Egress);
        assert!(
            f.reason
                .contains("left from 127.0.0.3, outside the anchor set"),
            "{}",
            f.reason
        );
        let d = f.diagnosis.as_ref().unwrap();
        assert_eq!(
            d.likely_cause,
            "the application segment probably lacks login.windows.net"
        );
        assert_eq!(d.guide_step, GuideStep::SegmentDomains);
    }
}

/// An unanchored login host whose name came from the hosts file is blamed on that entry, not
/// on the segment: the entry decides where its traffic goes.
#[test]
fn an_unanchored_host_pinned_by_the_hosts_file_blames_the_entry() {
    let s = scenario(true);
    let plan = Plan::build(&s, &[]);
    let mut obs = observe(&plan, |c, i| {
        if c.host == "login.windows.net" {
            ip(EDGE)
        } else {
            healthy(c, i)
        }
    });
    for (c, o) in plan.checks.iter().zip(obs.iter_mut()) {
        if c.kind == CheckKind::Resolve && c.host == "login.windows.net" {
            *o = loopback_answer(
                &c.host,
                AnswerSource::HostsFile {
                    path: "/etc/hosts".into(),
                },
            );
        }
    }
    let outcomes = judge(&plan, &obs, &expectation(&s));
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for f in failed {
        assert_eq!(f.host, "login.windows.net");
        let d = f.diagnosis.as_ref().unwrap();
        assert_eq!(
            d.likely_cause,
            "login.windows.net was answered by the hosts file /etc/hosts (127.0.0.77), not by DNS: that entry, not the segment, decides where this traffic goes"
        );
        assert_eq!(d.guide_step, GuideStep::Dns);
    }
}

#[test]
fn an_unanchored_port_names_the_port_ranges() {
    let outcomes = judge_with(&scenario(true), |c, i| {
        if c.port == Some(Port::HTTP) {
            ip(EDGE)
        } else {
            healthy(c, i)
        }
    });
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 3);
    for f in failed {
        assert_eq!(f.port, Some(80));
        assert_eq!(
            f.diagnosis.as_ref().unwrap().guide_step,
            GuideStep::SegmentPorts
        );
    }
}

#[test]
fn nothing_anchored_points_at_the_forwarding_rule() {
    let outcomes = judge_with(&scenario(true), |_, _| ip(EDGE));
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 6);
    assert!(
        failed
            .iter()
            .all(|f| f.diagnosis.as_ref().unwrap().guide_step == GuideStep::ForwardingRule)
    );
}

#[test]
fn a_wrong_connector_points_at_the_server_group() {
    let outcomes = judge_with(&scenario(true), |c, i| match healthy(c, i) {
        SampleOutcome::Ip { ip: a } if a.to_string() == ANCHOR => ip("127.0.0.4"),
        other => other,
    });
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 6);
    assert!(
        failed
            .iter()
            .all(|f| f.diagnosis.as_ref().unwrap().guide_step == GuideStep::ServerGroup)
    );
}

#[test]
fn over_anchoring_fails_the_controls() {
    let outcomes = judge_with(&scenario(true), |_, _| ip(ANCHOR));
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 2);
    for f in failed {
        assert!(f.name.contains("control.sipa-lab.test"));
        assert!(f.reason.contains("inside the anchor set"), "{}", f.reason);
        assert_eq!(
            f.diagnosis.as_ref().unwrap().guide_step,
            GuideStep::TooBroad
        );
    }
}

#[test]
fn intermittent_anchoring_fails_and_says_so() {
    let outcomes = judge_with(&scenario(true), |c, i| {
        if i == 2 { ip(EDGE) } else { healthy(c, i) }
    });
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 6);
    assert!(failed.iter().all(|f| {
        f.diagnosis
            .as_ref()
            .unwrap()
            .likely_cause
            .contains("intermittent")
    }));
    assert!(
        failed[0].reason.contains("1 of 3 samples"),
        "{}",
        failed[0].reason
    );
}

#[test]
fn an_anchored_echo_with_some_samples_failed_names_the_failed_samples_cause() {
    use crate::cause::Cause;
    // The samples that got through left from the anchors; the others got nothing.
    let cases = [
        (SampleOutcome::Timeout, Cause::AnchoredPathDown),
        (
            SampleOutcome::Failed {
                causes: vec!["connection reset by peer".into()],
            },
            Cause::AnchoredPathDown,
        ),
        (
            SampleOutcome::Unreadable {
                why: "`x` is not an IP address".into(),
                excerpt: "x".into(),
            },
            Cause::ObserverUnusable,
        ),
    ];
    for (failed, cause) in cases {
        let outcomes = judge_with(&scenario(true), |c, i| match &c.kind {
            CheckKind::Egress(o) if o.role == ObserverRole::Anchored && i == 1 => failed.clone(),
            _ => healthy(c, i),
        });
        let errored: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.status == Status::Error && o.stage == Stage::Egress)
            .filter(|o| !o.name.ends_with("(coverage)"))
            .collect();
        assert_eq!(errored.len(), 6, "{failed:?}");
        for o in errored {
            let d = o
                .diagnosis
                .as_ref()
                .unwrap_or_else(|| panic!("{}: no diagnosis", o.name));
            assert_eq!(d.cause, cause, "{failed:?}: {}", d.likely_cause);
        }
    }
}

#[test]
fn an_unreadable_echo_is_an_error_never_a_pass() {
    let garbage = |c: &Check, i: usize| match &c.kind {
        CheckKind::Egress(o) if o.role == ObserverRole::Anchored && i == 1 => {
            SampleOutcome::Unreadable {
                why: "`not` is not an IP address".into(),
                excerpt: "not an ip".into(),
            }
        }
        _ => healthy(c, i),
    };
    let outcomes = judge_with(&scenario(true), garbage);
    assert!(failing(&outcomes).is_empty());
    let errors: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.status == Status::Error && o.stage == Stage::Egress)
        .filter(|o| !o.name.ends_with("(coverage)"))
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(errors.len(), 6, "{errors:?}");
    // Every anchored check errored: no port and no login host was decided.
    let mut uncovered: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.name.ends_with("(coverage)"))
        .map(|o| o.name.as_str())
        .collect();
    uncovered.sort();
    assert_eq!(
        uncovered,
        [
            "login.microsoft.com egress (coverage)",
            "login.microsoftonline.com egress (coverage)",
            "login.windows.net egress (coverage)",
            "port 443 egress anchored (coverage)",
            "port 80 egress anchored (coverage)",
        ]
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
}

#[test]
fn without_observers_the_run_is_inconclusive() {
    let outcomes = judge_with(&scenario(false), healthy);
    let errors: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status == Status::Error)
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "port 80 egress anchored (coverage)",
            "port 443 egress anchored (coverage)",
            "non-login egress not anchored (coverage)"
        ]
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
}

#[test]
fn outside_trusted_locations_anchoring_is_the_failure() {
    let mut s = scenario(true);
    s.vantage.expect_anchored = false;
    let outcomes = judge_with(&s, healthy);
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 6);
    assert!(
        failed
            .iter()
            .all(|f| f.diagnosis.as_ref().unwrap().guide_step == GuideStep::TrustCriteria)
    );
    let passing = judge_with(&s, |_, _| ip(EDGE));
    assert!(failing(&passing).is_empty());
}

#[test]
fn http_blocks_have_their_own_reasons() {
    let s = scenario(true);
    let plan = Plan::build(&s, &[]);
    let exp = expectation(&s);
    let check = plan
        .checks
        .iter()
        .find(|c| {
            matches!(
                c.kind,
                CheckKind::Http(HttpExpect::OpenIdConfiguration { .. })
            )
        })
        .unwrap();
    let denied = judge_check(check, &http(403, None, None), &exp);
    assert_eq!(denied.status, Status::Fail);
    assert_eq!(denied.reason, "forbidden (403)");
    let auth = judge_check(check, &http(407, None, None), &exp);
    assert_eq!(auth.reason, "the proxy demands authentication (407)");
    let redirect = plan
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::Http(HttpExpect::RedirectToHttps))
        .unwrap();
    let plain = judge_check(redirect, &http(200, None, None), &exp);
    assert_eq!(plain.reason, "expected a redirect to https://, got 200");
    let to_http = judge_check(redirect, &http(302, Some("http://x/"), None), &exp);
    assert_eq!(to_http.status, Status::Fail);
}

#[test]
fn an_untrusted_chain_fails_with_the_inspection_diagnosis() {
    let s = scenario(true);
    let plan = Plan::build(&s, &[]);
    let mut obs = observe(&plan, healthy);
    let i = plan
        .checks
        .iter()
        .position(|c| c.kind == CheckKind::Tls)
        .unwrap();
    if let Observation::Tls(t) = &mut obs[i] {
        t.outcome = TlsOutcome::Established {
            version: "TLS 1.3".into(),
            cipher: "x".into(),
            chain: vec![CertSummary {
                subject: "CN=login".into(),
                issuer: "CN=Unknown Interception CA".into(),
                not_after: String::new(),
            }],
            matched_name: Some("login".into()),
            trust: ChainTrust::Untrusted {
                error: "invalid peer certificate: UnknownIssuer".into(),
            },
        };
    }
    let outcomes = judge(&plan, &obs, &expectation(&s));
    assert_eq!(outcomes[i].status, Status::Fail);
    assert!(outcomes[i].reason.contains("Unknown Interception CA"));
    assert_eq!(
        outcomes[i].diagnosis.as_ref().unwrap().guide_step,
        GuideStep::SslInspection
    );
}

/// A resolve answered by the hosts file says so (reason, observed, a warning); one answered by
/// DNS, the named servers' or the system's, says nothing of its source.
/// `host`'s A answer 127.0.0.77 (loopback), as `source` gave it.
fn loopback_answer(host: &str, source: AnswerSource) -> Observation {
    Observation::Resolve(DnsObservation {
        host: host.to_string(),
        record_type: "A",
        resolvers: vec!["127.0.0.53:53".into()],
        source,
        outcome: DnsOutcome::Answers {
            answers: vec![DnsAnswer {
                addr: "127.0.0.77".parse().unwrap(),
                ttl: 86400,
                class: AddressClass::Loopback,
            }],
        },
        elapsed: Duration::ZERO,
    })
}

#[test]
fn an_answer_from_the_hosts_file_is_said_and_warned_of() {
    let s = scenario(true);
    let plan = Plan::build(&s, &[]);
    let exp = expectation(&s);
    let check = plan
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::Resolve)
        .unwrap();
    let answered = |source: AnswerSource| loopback_answer(&check.host, source);
    let from_file = judge_check(
        check,
        &answered(AnswerSource::HostsFile {
            path: "/etc/hosts".into(),
        }),
        &exp,
    );
    assert_eq!(from_file.status, Status::Pass);
    assert_eq!(
        from_file.reason,
        "A 127.0.0.77 (loopback) from the hosts file /etc/hosts"
    );
    assert_eq!(
        from_file.observed,
        "127.0.0.77 (loopback) from the hosts file /etc/hosts"
    );
    assert_eq!(
        from_file.warnings,
        [format!(
            "{} was answered by the hosts file /etc/hosts, not by DNS: traffic to it goes where that entry says, whatever DNS and the segment say",
            check.host
        )]
    );
    for source in [
        AnswerSource::NamedServers {
            servers: vec!["127.0.0.53:53".into()],
        },
        AnswerSource::SystemServers {
            servers: vec!["127.0.0.53:53".into()],
        },
    ] {
        let o = judge_check(check, &answered(source), &exp);
        assert_eq!(o.reason, "A 127.0.0.77 (loopback, ttl 86400)");
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }
}

#[test]
fn local_dns_failure_through_a_proxy_is_only_a_warning() {
    let s = scenario(true);
    let plan = Plan::build(&s, &[]);
    let mut exp = expectation(&s);
    exp.proxied = true;
    let check = plan
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::Resolve)
        .unwrap();
    let nx = Observation::Resolve(DnsObservation {
        host: check.host.clone(),
        record_type: "A",
        resolvers: vec![],
        source: AnswerSource::SystemServers { servers: vec![] },
        outcome: DnsOutcome::NxDomain,
        elapsed: Duration::ZERO,
    });
    let o = judge_check(check, &nx, &exp);
    assert_eq!(o.status, Status::Skip);
    assert_eq!(o.warnings.len(), 1);
    exp.proxied = false;
    assert_eq!(judge_check(check, &nx, &exp).status, Status::Fail);
}

#[test]
fn timeouts_are_errors_and_blocked_checks_skip() {
    let s = scenario(true);
    let plan = Plan::build(&s, &[]);
    let exp = expectation(&s);
    let check = &plan.checks[1];
    let t = judge_check(
        check,
        &Observation::NotRun(NotRun::Timeout {
            after: Duration::from_secs(5),
        }),
        &exp,
    );
    assert_eq!(
        (t.status, t.reason.as_str()),
        (Status::Error, "no answer within 5.0s")
    );
    let b = judge_check(
        check,
        &Observation::NotRun(NotRun::Blocked {
            check: 0,
            on: "x".into(),
        }),
        &exp,
    );
    assert_eq!(b.status, Status::Skip);
}

/// A healthy world, then `tweak` applied to each check's observation.
fn judge_tweaked(s: &Scenario, tweak: impl Fn(&Check, &mut Observation)) -> Vec<Outcome> {
    let plan = Plan::build(s, &[]);
    let mut obs = observe(&plan, healthy);
    for (c, o) in plan.checks.iter().zip(obs.iter_mut()) {
        tweak(c, o);
    }
    judge(&plan, &obs, &expectation(s))
}

fn named<'a>(outcomes: &'a [Outcome], name: &str) -> &'a Outcome {
    outcomes.iter().find(|o| o.name == name).unwrap_or_else(|| {
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        panic!("no outcome {name:?} among {names:#?}")
    })
}

fn coverage_names(outcomes: &[Outcome]) -> Vec<&str> {
    outcomes
        .iter()
        .filter(|o| o.name.ends_with("(coverage)"))
        .map(|o| o.name.as_str())
        .collect()
}

fn egress_of(c: &Check, role: ObserverRole) -> bool {
    matches!(&c.kind, CheckKind::Egress(o) if o.role == role)
}

#[test]
fn a_port_whose_anchored_checks_all_skipped_is_not_covered() {
    let outcomes = judge_tweaked(&scenario(true), |c, o| {
        if egress_of(c, ObserverRole::Anchored) && c.port == Some(Port::HTTP) {
            *o = Observation::NotRun(NotRun::Blocked {
                check: 0,
                on: "the run, which stopped".into(),
            });
        }
    });
    assert!(failing(&outcomes).is_empty());
    let port80 = named(&outcomes, "port 80 egress anchored (coverage)");
    assert_eq!(port80.status, Status::Error);
    assert_eq!(port80.stage, Stage::Egress);
    assert_eq!(port80.route, None);
    assert_eq!(
        port80.reason,
        "port 80: no anchored egress check was decided (3 skipped: not run: the run, which stopped did not pass)"
    );
    assert_eq!(
        port80.expected,
        "an anchored echo observer on port 80, decided"
    );
    assert!(
        port80
            .observed
            .starts_with("login.microsoftonline.com:80 egress anchored (ipv4): SKIP not run:"),
        "{}",
        port80.observed
    );
    // The observers are there: the diagnosis must not ask for more.
    let d = port80.diagnosis.as_ref().unwrap();
    assert_eq!(d.guide_step, GuideStep::PathToZia);
    assert!(
        d.likely_cause
            .starts_with("none of its 3 egress checks ran to an answer"),
        "{}",
        d.likely_cause
    );
    // Port 443 decided every login host: only port 80 is uncovered.
    assert_eq!(
        coverage_names(&outcomes),
        ["port 80 egress anchored (coverage)"]
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
}

#[test]
fn an_undecided_port_takes_the_diagnosis_of_its_errored_checks() {
    let outcomes = judge_tweaked(&scenario(true), |c, o| {
        if egress_of(c, ObserverRole::Anchored)
            && c.port == Some(Port::HTTP)
            && let Observation::Egress(e) = o
        {
            for s in &mut e.samples {
                s.outcome = SampleOutcome::Timeout;
            }
        }
    });
    let port80 = named(&outcomes, "port 80 egress anchored (coverage)");
    assert_eq!(port80.status, Status::Error);
    assert_eq!(
        port80.reason,
        "port 80: no anchored egress check was decided (3 errored: the echo gave no usable address)"
    );
    let errored = named(
        &outcomes,
        "login.microsoftonline.com:80 egress anchored (ipv4)",
    );
    assert_eq!(errored.status, Status::Error);
    let own = errored.diagnosis.as_ref().unwrap();
    assert_eq!(own.guide_step, GuideStep::AccessPolicy);
    assert_eq!(port80.diagnosis.as_ref(), Some(own));
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
}

#[test]
fn a_login_host_whose_observers_never_ran_is_not_covered() {
    // login.windows.net does not resolve, so its two echo checks wait in vain; the other hosts
    // decide both ports.
    let outcomes = judge_tweaked(&scenario(true), |c, o| {
        if c.host != "login.windows.net" {
            return;
        }
        match &c.kind {
            CheckKind::Resolve => {
                *o = Observation::Resolve(DnsObservation {
                    host: c.host.clone(),
                    record_type: "A",
                    resolvers: vec!["127.0.0.1:53".into()],
                    source: AnswerSource::NamedServers {
                        servers: vec!["127.0.0.1:53".into()],
                    },
                    outcome: DnsOutcome::NxDomain,
                    elapsed: Duration::from_millis(1),
                })
            }
            CheckKind::Egress(_) => {
                *o = Observation::NotRun(NotRun::Blocked {
                    check: c.waits_for.unwrap_or_default(),
                    on: "login.windows.net resolve (ipv4)".into(),
                })
            }
            _ => {}
        }
    });
    let host = named(&outcomes, "login.windows.net egress (coverage)");
    assert_eq!(host.status, Status::Error);
    assert_eq!(host.stage, Stage::Egress);
    assert_eq!(host.target, "login.windows.net");
    assert_eq!(
        host.reason,
        "login.windows.net: no egress check on it was decided \
         (2 skipped: not run: login.windows.net resolve (ipv4) did not pass)"
    );
    // It points at what blocked the observers: the name does not resolve.
    let d = host.diagnosis.as_ref().unwrap();
    assert_eq!(d.guide_step, GuideStep::Dns);
    assert_eq!(
        d.likely_cause,
        "login.windows.net does not resolve from this vantage"
    );
    assert_eq!(
        coverage_names(&outcomes),
        ["login.windows.net egress (coverage)"]
    );
}

#[test]
fn a_control_that_never_answered_is_not_covered() {
    let outcomes = judge_tweaked(&scenario(true), |c, o| {
        if egress_of(c, ObserverRole::Control) {
            *o = Observation::NotRun(NotRun::Timeout {
                after: Duration::from_secs(5),
            });
        }
    });
    let control = named(&outcomes, "non-login egress not anchored (coverage)");
    assert_eq!(control.status, Status::Error);
    assert_eq!(
        control.reason,
        "no control egress check was decided (2 errored: no answer within 5.0s)"
    );
    assert_eq!(control.expected, "a control echo observer, decided");
    let d = control.diagnosis.as_ref().unwrap();
    assert_ne!(d.guide_step, GuideStep::Observers, "{d:?}");
    assert_eq!(
        coverage_names(&outcomes),
        ["non-login egress not anchored (coverage)"]
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
}

#[test]
fn ipv6_with_nothing_to_verify_neither_proves_nor_uncovers_a_port() {
    let mut s = scenario(true);
    s.limits.family = FamilySelection::Both;
    let nothing_v6 = |c: &Check, o: &mut Observation| {
        if matches!(c.kind, CheckKind::Egress(_)) && c.family() == Some(Family::V6) {
            *o = Observation::NotRun(NotRun::NothingToVerify {
                family: Family::V6,
                why: NoFamilyPath::NoRoute,
            });
        }
    };
    // IPv4 decided every port, host and control: the run passes.
    let outcomes = judge_tweaked(&s, nothing_v6);
    assert!(coverage_names(&outcomes).is_empty());
    assert_eq!(Tally::of(&outcomes).overall(), Status::Pass);
    // IPv4 on port 80 never ran: IPv6's nothing-to-verify does not stand in for it.
    let outcomes = judge_tweaked(&s, |c, o| {
        nothing_v6(c, o);
        if egress_of(c, ObserverRole::Anchored)
            && c.port == Some(Port::HTTP)
            && c.family() == Some(Family::V4)
        {
            *o = Observation::NotRun(NotRun::Blocked {
                check: 0,
                on: "the run, which stopped".into(),
            });
        }
    });
    let port80 = named(&outcomes, "port 80 egress anchored (coverage)");
    assert_eq!(port80.status, Status::Error);
    assert_eq!(
        port80.reason,
        "port 80: no anchored egress check was decided (6 skipped: \
         not run: the run, which stopped did not pass; \
         nothing to verify: this vantage has no ipv6 route)"
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
}

#[test]
fn nothing_to_verify_anywhere_is_not_proof() {
    let mut s = scenario(true);
    s.limits.family = FamilySelection::V6;
    let outcomes = judge_tweaked(&s, |c, o| {
        if matches!(c.kind, CheckKind::Egress(_)) {
            *o = Observation::NotRun(NotRun::NothingToVerify {
                family: Family::V6,
                why: NoFamilyPath::NoRoute,
            });
        }
    });
    let port443 = named(&outcomes, "port 443 egress anchored (coverage)");
    assert_eq!(port443.status, Status::Error);
    assert_eq!(
        port443.reason,
        "port 443: no anchored egress check was decided \
         (3 skipped: nothing to verify: this vantage has no ipv6 route): nothing to verify is not proof"
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
}

fn answered(status: u16, block_page: bool) -> Observation {
    let mut o = http(status, None, None);
    if let Observation::Http(h) = &mut o
        && let HttpOutcome::Answered(a) = &mut h.outcome
    {
        a.block_page = block_page;
        a.entra_headers.clear();
    }
    o
}

fn connect_ended(outcome: ConnectOutcome) -> Observation {
    Observation::Connect(ConnectObservation {
        attempts: vec![ConnectAttempt {
            addr: addr(),
            tunnel: Some("login.windows.net:443".into()),
            outcome,
            elapsed: Duration::from_millis(1),
        }],
    })
}

const OPENID_443: &str = "login.windows.net:443 http openid-configuration (ipv4)";

/// The one check named `name` gets `obs`; everything else is healthy.
fn with_one(s: &Scenario, name: &'static str, obs: Observation) -> Vec<Outcome> {
    judge_tweaked(s, move |c, o| {
        if c.name == name {
            *o = obs.clone();
        }
    })
}

fn diagnosed<'a>(outcomes: &'a [Outcome], name: &str) -> (&'a Outcome, &'a Diagnosis) {
    let o = named(outcomes, name);
    let d = o
        .diagnosis
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: no diagnosis ({})", o.reason));
    (o, d)
}

#[test]
fn a_403_or_a_block_page_points_at_the_access_policy() {
    let s = scenario(true);
    for (obs, reason) in [
        (answered(403, false), "forbidden (403)"),
        (answered(403, true), "blocked: 403 block page"),
        (
            answered(200, true),
            "a proxy block page instead of the login front end",
        ),
        (answered(451, false), "blocked for legal reasons (451)"),
    ] {
        let outcomes = with_one(&s, OPENID_443, obs);
        let (o, d) = diagnosed(&outcomes, OPENID_443);
        assert_eq!((o.status, o.reason.as_str()), (Status::Fail, reason));
        assert_eq!(d.guide_step, GuideStep::AccessPolicy, "{reason}");
        assert_eq!(
            d.likely_cause,
            "access is denied on the anchored path: the access policy probably does not allow client type ZIA Service Edge"
        );
    }
}

#[test]
fn a_407_anywhere_points_at_the_proxy_credentials() {
    let s = scenario(true);
    let connect = "login.windows.net:443 connect (ipv4)";
    let tls = "login.windows.net:443 tls (ipv4)";
    let refused_407 = ConnectOutcome::ProxyRefused {
        status: 407,
        reason: "Proxy Authentication Required".into(),
    };
    let no_transport = Observation::Tls(TlsObservation {
        addr: addr(),
        server_name: "login.windows.net".into(),
        outcome: TlsOutcome::NoTransport {
            outcome: refused_407.clone(),
        },
        elapsed: Duration::from_millis(1),
    });
    for (name, obs) in [
        (OPENID_443, answered(407, false)),
        (connect, connect_ended(refused_407.clone())),
        (tls, no_transport),
    ] {
        let outcomes = with_one(&s, name, obs);
        let (o, d) = diagnosed(&outcomes, name);
        assert_eq!(o.status, Status::Fail, "{name}: {}", o.reason);
        assert_eq!(d.guide_step, GuideStep::ProxyAuth, "{name}");
        assert_eq!(d.likely_cause, "the proxy demands authentication");
    }
    // An echo that answers 407 to every sample.
    let echo = "login.windows.net:443 egress anchored (ipv4)";
    let outcomes = judge_tweaked(&s, |c, o| {
        if c.name == echo
            && let Observation::Egress(e) = o
        {
            for sample in &mut e.samples {
                sample.outcome = SampleOutcome::Status {
                    status: 407,
                    excerpt: String::new(),
                };
            }
        }
    });
    let (o, d) = diagnosed(&outcomes, echo);
    assert_eq!(o.status, Status::Error);
    assert_eq!(d.guide_step, GuideStep::ProxyAuth);
}

#[test]
fn a_tunnel_the_proxy_refused_points_at_what_is_behind_it() {
    let s = scenario(true);
    let connect = "login.windows.net:443 connect (ipv4)";
    let outcomes = with_one(
        &s,
        connect,
        connect_ended(ConnectOutcome::ProxyRefused {
            status: 502,
            reason: "Bad Gateway".into(),
        }),
    );
    let (o, d) = diagnosed(&outcomes, connect);
    assert_eq!(o.status, Status::Fail);
    assert_eq!(o.reason, "the proxy refused the tunnel: 502 Bad Gateway");
    assert_eq!(d.guide_step, GuideStep::AccessPolicy);
    assert!(
        d.likely_cause
            .starts_with("the proxy refused the tunnel (502 Bad Gateway)"),
        "{}",
        d.likely_cause
    );
}

#[test]
fn tls_without_transport_is_diagnosed_by_the_transport() {
    let s = scenario(true);
    let tls = "login.windows.net:443 tls (ipv4)";
    let outcomes = with_one(
        &s,
        tls,
        Observation::Tls(TlsObservation {
            addr: addr(),
            server_name: "login.windows.net".into(),
            outcome: TlsOutcome::NoTransport {
                outcome: ConnectOutcome::Reset,
            },
            elapsed: Duration::from_millis(1),
        }),
    );
    let (o, d) = diagnosed(&outcomes, tls);
    assert_eq!(o.status, Status::Fail);
    assert_eq!(o.reason, "no transport for TLS: connection reset");
    assert_eq!(d.guide_step, GuideStep::AccessPolicy);
    assert!(
        d.likely_cause
            .starts_with("connections are refused or reset while non-login traffic gets through"),
        "{}",
        d.likely_cause
    );
}

#[test]
fn timeouts_point_at_a_blackhole_or_a_slow_path() {
    let s = scenario(true);
    let connect = "login.windows.net:443 connect (ipv4)";
    let tls = "login.windows.net:443 tls (ipv4)";
    let tls_timeout = Observation::Tls(TlsObservation {
        addr: addr(),
        server_name: "login.windows.net".into(),
        outcome: TlsOutcome::Timeout {
            after: Duration::from_secs(3),
        },
        elapsed: Duration::from_secs(3),
    });
    for (name, obs) in [
        (connect, connect_ended(ConnectOutcome::Timeout)),
        (tls, tls_timeout),
    ] {
        let outcomes = with_one(&s, name, obs);
        let (o, d) = diagnosed(&outcomes, name);
        assert_eq!(o.status, Status::Error, "{name}");
        assert_eq!(d.guide_step, GuideStep::AccessPolicy, "{name}");
        assert_eq!(
            d.likely_cause,
            "connections get no answer in time: a blackhole on the anchored path (App Connectors unreachable) or a very slow path"
        );
    }
    // An echo whose every sample timed out, with the login path itself fine.
    let echo = "login.windows.net:80 egress anchored (ipv4)";
    let outcomes = judge_tweaked(&s, |c, o| {
        if c.name == echo
            && let Observation::Egress(e) = o
        {
            for sample in &mut e.samples {
                sample.outcome = SampleOutcome::Timeout;
            }
        }
    });
    let (_, d) = diagnosed(&outcomes, echo);
    assert_eq!(d.guide_step, GuideStep::AccessPolicy);
    assert!(d.likely_cause.contains("a blackhole on the anchored path"));
}

#[test]
fn ipv6_leaving_unanchored_while_ipv4_is_anchored_is_a_bypass() {
    let mut s = scenario(true);
    s.limits.family = FamilySelection::Both;
    let outcomes = judge_with(&s, |c, i| {
        if c.family() == Some(Family::V6) {
            ip(EDGE)
        } else {
            healthy(c, i)
        }
    });
    let failed = failing(&outcomes);
    assert_eq!(failed.len(), 6, "{failed:#?}");
    for f in failed {
        assert_eq!(f.route, Some(Route::Direct(Family::V6)));
        let d = f.diagnosis.as_ref().unwrap();
        assert_eq!(d.guide_step, GuideStep::Ipv6, "{}", f.name);
        // One cause for all six: the report shows it as one block listing each.
        assert_eq!(
            d.likely_cause,
            "IPv6 bypasses the tunnel while IPv4 is anchored"
        );
    }
}

#[test]
fn when_nothing_gets_through_not_even_the_control_the_path_to_zia_is_at_fault() {
    let outcomes = judge_with(&scenario(true), |_, _| SampleOutcome::Failed {
        causes: vec!["connection refused".into()],
    });
    let (o, d) = diagnosed(&outcomes, "login.windows.net:443 egress anchored (ipv4)");
    assert_eq!(o.status, Status::Error);
    assert_eq!(d.guide_step, GuideStep::PathToZia);
    // The whole-run rule: the anchored echoes fail as the control does.
    assert_eq!(d.cause, Cause::VantagePath);
    assert_eq!(
        d.likely_cause,
        "this vantage cannot reach ZIA: the control observers fail the same way as the login checks, so nothing about the tenant was observed (tunnel down, no route, or a firewall)"
    );
    // With the control through, the anchored path is what fails.
    let outcomes = judge_with(&scenario(true), |c, i| {
        if egress_of(c, ObserverRole::Control) {
            healthy(c, i)
        } else {
            SampleOutcome::Failed {
                causes: vec!["connection refused".into()],
            }
        }
    });
    let (_, d) = diagnosed(&outcomes, "login.windows.net:443 egress anchored (ipv4)");
    assert_eq!(d.guide_step, GuideStep::AccessPolicy);
    assert!(
        d.likely_cause
            .contains("while non-login traffic gets through")
    );
}

#[test]
fn a_connect_to_target_without_an_address_points_at_the_rule() {
    let s = scenario(true);
    let connect = "login.windows.net:443 connect (ipv4)";
    let outcomes = with_one(
        &s,
        connect,
        Observation::NotRun(NotRun::NoAddress {
            host: "nowhere.invalid".into(),
            family: Family::V4,
        }),
    );
    let (o, d) = diagnosed(&outcomes, connect);
    assert_eq!(o.status, Status::Error);
    assert_eq!(d.guide_step, GuideStep::ConnectTo);
    assert_eq!(
        d.likely_cause,
        "--connect-to sends login.windows.net:443 to nowhere.invalid, which has no ipv4 address from this vantage"
    );
}

/// Every sample of the checks `pick` selects gets `sample`.
fn samples_all(s: &Scenario, pick: impl Fn(&Check) -> bool, sample: SampleOutcome) -> Vec<Outcome> {
    judge_tweaked(s, |c, o| {
        if pick(c)
            && let Observation::Egress(e) = o
        {
            for x in &mut e.samples {
                x.outcome = sample.clone();
            }
        }
    })
}

#[test]
fn a_control_cut_off_by_a_407_or_a_timeout_is_diagnosed_by_that_not_by_a_missing_control() {
    let s = scenario(true);
    let control = "control.sipa-lab.test:443 egress not anchored (ipv4)";
    let proxy = samples_all(
        &s,
        |c| egress_of(c, ObserverRole::Control),
        SampleOutcome::Status {
            status: 407,
            excerpt: String::new(),
        },
    );
    let (o, d) = diagnosed(&proxy, control);
    assert_eq!(o.status, Status::Error);
    assert_eq!(d.guide_step, GuideStep::ProxyAuth, "{}", d.likely_cause);
    let timeouts = samples_all(
        &s,
        |c| egress_of(c, ObserverRole::Control),
        SampleOutcome::Timeout,
    );
    let (_, d) = diagnosed(&timeouts, control);
    assert_eq!(d.guide_step, GuideStep::PathToZia, "{}", d.likely_cause);
    assert!(
        d.likely_cause.contains("no answer in time"),
        "{}",
        d.likely_cause
    );
    let never = judge_tweaked(&s, |c, o| {
        if egress_of(c, ObserverRole::Control) {
            *o = Observation::NotRun(NotRun::Timeout {
                after: Duration::from_secs(5),
            });
        }
    });
    let (_, d) = diagnosed(&never, control);
    assert_eq!(d.guide_step, GuideStep::PathToZia, "{}", d.likely_cause);
    // Only an answer that is not an address points at the observer.
    let garbage = samples_all(
        &s,
        |c| egress_of(c, ObserverRole::Control),
        SampleOutcome::Unreadable {
            why: "not an IP address".into(),
            excerpt: "hello".into(),
        },
    );
    let (_, d) = diagnosed(&garbage, control);
    // The control exists: its answer is at fault, not a missing observer.
    assert_eq!(d.cause, crate::cause::Cause::ObserverUnusable);
    assert_eq!(d.guide_step, GuideStep::EchoObserver);
}

#[test]
fn a_check_cut_by_the_deadline_says_how_long_it_ran_and_what_it_expected() {
    let s = scenario(true);
    let echo = "login.windows.net:443 egress anchored (ipv4)";
    let cut = Observation::NotRun(NotRun::Cut {
        by: Cut::Deadline {
            deadline: Duration::from_secs(10),
        },
        ran: Duration::from_millis(2500),
    });
    let outcomes = with_one(&s, echo, cut);
    let o = named(&outcomes, echo);
    assert_eq!(o.status, Status::Error);
    assert_eq!(o.expected, "an egress IP in the anchor set {127.0.0.2}");
    assert_eq!(o.elapsed, Duration::from_millis(2500));
    assert!(o.reason.contains("2.5s"), "{}", o.reason);
    assert!(o.observed.contains("2.5s"), "{}", o.observed);
    assert_ne!(o.reason, o.observed);
}

#[test]
fn an_echo_behind_a_failed_tls_check_is_a_knock_on_skip_never_a_pass() {
    let s = scenario(true);
    let tls = "login.windows.net:443 tls (ipv4)";
    let echo = "login.windows.net:443 egress anchored (ipv4)";
    let outcomes = judge_tweaked(&s, |c, o| {
        if c.name == tls
            && let Observation::Tls(t) = o
        {
            t.outcome = TlsOutcome::Established {
                version: "TLS 1.3".into(),
                cipher: "x".into(),
                chain: vec![],
                matched_name: None,
                trust: ChainTrust::Untrusted {
                    error: "invalid peer certificate: UnknownIssuer".into(),
                },
            };
        }
        if c.name == echo
            && let Observation::Egress(e) = o
        {
            for x in &mut e.samples {
                x.outcome = SampleOutcome::Failed {
                    causes: vec![
                        "the TLS handshake failed: invalid peer certificate: UnknownIssuer".into(),
                        "client error (Connect)".into(),
                        "invalid peer certificate: UnknownIssuer".into(),
                    ],
                };
            }
        }
    });
    let o = named(&outcomes, echo);
    assert_eq!(o.status, Status::Skip);
    assert_eq!(o.reason, format!("not judged: {tls} failed"));
    assert_eq!(o.blocked_by.as_deref(), Some(tls));
    assert_eq!(
        o.diagnosis.as_ref().unwrap().guide_step,
        GuideStep::SslInspection
    );
    // The chain keeps each link once.
    assert_eq!(
        o.causes,
        [
            "the TLS handshake failed: invalid peer certificate: UnknownIssuer: client error (Connect)"
        ]
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Fail);
    // An echo that saw an address is judged on it, knock-on or not.
    let seen = judge_tweaked(&s, |c, o| {
        if c.name == tls {
            *o = Observation::NotRun(NotRun::Timeout {
                after: Duration::from_secs(1),
            });
        }
    });
    assert_eq!(named(&seen, echo).status, Status::Pass);
}

#[test]
fn every_anchored_echo_skipped_leaves_the_port_inconclusive_with_the_blockers_diagnosis() {
    let s = scenario(true);
    let outcomes = judge_tweaked(&s, |c, o| {
        if c.kind == CheckKind::Connect && c.port == Some(Port::HTTPS) {
            *o = connect_ended(ConnectOutcome::ProxyRefused {
                status: 407,
                reason: "Proxy Authentication Required".into(),
            });
        }
        if egress_of(c, ObserverRole::Anchored)
            && c.port == Some(Port::HTTPS)
            && let Observation::Egress(e) = o
        {
            for x in &mut e.samples {
                x.outcome = SampleOutcome::Failed {
                    causes: vec!["tunnel error: proxy authorization required".into()],
                };
            }
        }
    });
    let port443 = named(&outcomes, "port 443 egress anchored (coverage)");
    assert_eq!(port443.status, Status::Error);
    assert_eq!(
        port443.diagnosis.as_ref().unwrap().guide_step,
        GuideStep::ProxyAuth
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Fail);
}

#[test]
fn cause_chains_drop_repeated_links_and_reasons_do_not_repeat_observed() {
    assert_eq!(
        distinct_links(vec![
            "tunnel error: proxy authorization required".into(),
            "client error (Connect)".into(),
            "proxy authorization required".into(),
            "client error (Connect)".into(),
        ]),
        [
            "tunnel error: proxy authorization required",
            "client error (Connect)"
        ]
    );
    let outcomes = judge_with(&scenario(true), healthy);
    let connect = named(&outcomes, "login.windows.net:443 connect (ipv4)");
    assert_eq!(connect.reason, "connected to 127.0.0.1:443");
    assert_eq!(
        connect.observed,
        "127.0.0.1:443: connected from 127.0.0.1:50000"
    );
}

#[test]
fn an_echo_that_never_answered_leaves_its_host_path_only() {
    let s = scenario(true);
    let plan = Plan::build(&s, &[]);
    let planned = crate::verdict::planned_evidence(&plan);
    assert!(
        planned
            .iter()
            .all(|e| e.proof == crate::outcome::Proof::Echo),
        "{planned:?}"
    );
    // login.windows.net's echo on 443 times out: planned, but it proves nothing.
    let outcomes = judge_tweaked(&s, |c, o| {
        if egress_of(c, ObserverRole::Anchored)
            && c.host == "login.windows.net"
            && c.port == Some(Port::HTTPS)
        {
            *o = Observation::NotRun(NotRun::Timeout {
                after: Duration::from_secs(3),
            });
        }
    });
    let proven = crate::verdict::proven_evidence(&plan, &outcomes, &expectation(&s));
    for e in &proven {
        let unproven = e.host == "login.windows.net" && e.port == 443;
        let expected = if unproven {
            crate::outcome::Proof::PathOnly
        } else {
            crate::outcome::Proof::Echo
        };
        assert_eq!(e.proof, expected, "{e:?}");
    }
}

#[test]
fn per_host_requirement_errors_only_on_path_only_tls_ports() {
    let mut s = scenario(false);
    s.limits.require = Require::PerHost;
    let outcomes = judge_with(&s, healthy);
    let unproven: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.name.contains("per-host evidence"))
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(unproven.len(), HOSTS.len(), "{unproven:?}");
    assert!(unproven.iter().all(|n| n.contains(":443 ")), "{unproven:?}");
    // With the default requirement the same run has no such errors.
    let outcomes = judge_with(&scenario(false), healthy);
    assert!(
        !outcomes
            .iter()
            .any(|o| o.name.contains("per-host evidence"))
    );
}

/// Connections that reached nothing: refused at the first attempt.
fn refused_everywhere(_: &Check, o: &mut Observation) {
    match o {
        Observation::Connect(connect) => {
            for a in &mut connect.attempts {
                a.outcome = ConnectOutcome::Refused;
            }
        }
        Observation::Egress(e) => {
            for x in &mut e.samples {
                x.outcome = SampleOutcome::Failed {
                    causes: vec!["connection refused".into()],
                };
            }
        }
        _ => {}
    }
}

#[test]
fn when_the_control_fails_as_the_login_checks_do_the_vantage_is_the_cause_and_anchoring_undecided()
{
    let outcomes = judge_tweaked(&scenario(true), refused_everywhere);
    assert!(
        failing(&outcomes).is_empty(),
        "nothing about the tenant was observed, so nothing fails: {:#?}",
        failing(&outcomes)
    );
    assert_eq!(Tally::of(&outcomes).overall(), Status::Error);
    let (o, d) = diagnosed(&outcomes, "login.windows.net:443 connect (ipv4)");
    assert_eq!(o.status, Status::Error);
    assert_eq!(d.guide_step, GuideStep::PathToZia);
    let vantage_side = [
        GuideStep::PathToZia,
        GuideStep::Dns,
        GuideStep::ProxyAuth,
        GuideStep::ConnectTo,
        GuideStep::Observers,
    ];
    for o in outcomes.iter().filter(|o| o.status != Status::Pass) {
        if let Some(d) = &o.diagnosis {
            assert!(
                vantage_side.contains(&d.guide_step),
                "{} names a tenant step: {:?} {}",
                o.name,
                d.guide_step,
                d.likely_cause
            );
        }
    }
}

#[test]
fn login_connections_refused_while_the_control_gets_through_point_at_the_tenant() {
    let outcomes = judge_tweaked(&scenario(true), |c, o| {
        if c.login_host {
            refused_everywhere(c, o);
        }
    });
    let (o, d) = diagnosed(&outcomes, "login.windows.net:443 connect (ipv4)");
    assert_eq!(o.status, Status::Fail);
    assert_eq!(d.guide_step, GuideStep::AccessPolicy, "{}", d.likely_cause);
}

#[test]
fn a_cut_run_names_the_cut_for_every_check_it_left_undecided() {
    let by = Cut::Deadline {
        deadline: Duration::from_secs(1),
    };
    let outcomes = judge_tweaked(&scenario(true), |c, o| {
        if c.port == Some(Port::HTTPS) && !matches!(c.kind, CheckKind::Resolve) {
            *o = match c.kind {
                // Some probes timed out as the deadline came, others were stopped by it.
                CheckKind::Connect => Observation::NotRun(NotRun::Timeout {
                    after: Duration::from_secs(1),
                }),
                _ => Observation::NotRun(NotRun::Cut {
                    by,
                    ran: Duration::from_secs(1),
                }),
            };
        }
    });
    let errors: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.status == Status::Error)
        .collect();
    assert!(!errors.is_empty());
    for o in errors {
        let d = o.diagnosis.as_ref().expect("a diagnosis");
        assert_eq!(
            d.guide_step,
            GuideStep::RunCut,
            "{}: {}",
            o.name,
            d.likely_cause
        );
        assert!(
            d.likely_cause.contains("deadline of 1.0s"),
            "{}",
            d.likely_cause
        );
    }
}

/// A proxy that answers `status` to every CONNECT: the connect checks, the handshakes that had
/// no transport and every echo sample met its refusal.
fn refused_by_the_proxy(status: u16) -> impl Fn(&Check, &mut Observation) {
    move |_, o| {
        let refusal = ConnectOutcome::ProxyRefused {
            status,
            reason: "Forbidden".into(),
        };
        match o {
            Observation::Connect(connect) => {
                for a in &mut connect.attempts {
                    a.outcome = refusal.clone();
                }
            }
            Observation::Tls(t) => {
                t.outcome = TlsOutcome::NoTransport {
                    outcome: refusal.clone(),
                }
            }
            Observation::Egress(e) => {
                for x in &mut e.samples {
                    x.outcome = SampleOutcome::ProxyRefused {
                        status,
                        reason: "Forbidden".into(),
                    };
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_proxy_refusing_every_tunnel_control_included_is_the_proxy_never_the_access_policy() {
    for status in [403, 502] {
        let outcomes = judge_tweaked(&scenario(true), refused_by_the_proxy(status));
        assert!(
            failing(&outcomes).is_empty(),
            "{status}: nothing about the tenant was observed, so nothing fails: {:#?}",
            failing(&outcomes)
        );
        assert_eq!(Tally::of(&outcomes).overall(), Status::Error, "{status}");
        for name in [
            "login.windows.net:443 connect (ipv4)",
            "login.windows.net:443 egress anchored (ipv4)",
            "control.sipa-lab.test:443 egress not anchored (ipv4)",
        ] {
            let (o, d) = diagnosed(&outcomes, name);
            assert_eq!(o.status, Status::Error, "{status} {name}");
            assert_eq!(
                d.cause,
                Cause::ProxyRefused,
                "{status} {name}: {}",
                d.likely_cause
            );
        }
        for o in outcomes.iter().filter(|o| o.status != Status::Pass) {
            if let Some(d) = &o.diagnosis {
                assert!(
                    !d.guide_step.is_tenant(),
                    "{status}: {} names a tenant step: {:?} {}",
                    o.name,
                    d.cause,
                    d.likely_cause
                );
            }
        }
    }
}

#[test]
fn a_proxy_refusing_the_login_hosts_only_still_points_at_the_access_policy() {
    let refuse = refused_by_the_proxy(403);
    let outcomes = judge_tweaked(&scenario(true), |c, o| {
        if c.login_host {
            refuse(c, o);
        }
    });
    let (o, d) = diagnosed(&outcomes, "login.windows.net:443 connect (ipv4)");
    assert_eq!(o.status, Status::Fail);
    assert_eq!(d.cause, Cause::AccessDenied, "{}", d.likely_cause);
    assert_eq!(d.guide_step, GuideStep::AccessPolicy);
}
