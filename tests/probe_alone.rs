//! A login path probe run on its own through the library: connect, TLS and HTTP on one
//! connection, one observation per phase, each judged as in a run and timed on its own.

use std::time::Instant;

mod common;

use sipa_check::observation::Observation;
use sipa_check::outcome::Status;
use sipa_check::plan::{CheckKind, Plan, Probe};
use sipa_check::{probe, runner, verdict};

/// A phase's own time, as its observation records it.
fn phase_time(seen: &Observation) -> std::time::Duration {
    match seen {
        Observation::Connect(c) => c
            .attempts
            .iter()
            .map(|a| a.elapsed)
            .max()
            .unwrap_or_default(),
        Observation::Tls(t) => t.elapsed,
        Observation::Http(h) => h.elapsed,
        other => panic!("not a login path phase: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_path_probe_reports_each_phase_with_its_own_time() {
    let (lab, s, connect_to) = common::start_lab(&[], false).await;
    let plan = Plan::build(&s, &connect_to);
    let (ctx, exp) = runner::prepare(&s, connect_to).expect("the run can start");

    let host = "login.windows.net";
    let resolve = plan
        .probes
        .iter()
        .find(|p| {
            let lead = &plan.checks[p.lead()];
            lead.host == host && lead.kind == CheckKind::Resolve
        })
        .expect("a resolve probe");
    let resolved = probe::run(&plan, resolve, &ctx, &[]).await;
    let addresses = match &resolved[..] {
        [Observation::Resolve(dns)] => dns.addresses(),
        other => panic!("a resolve probe observes one resolve check: {other:?}"),
    };
    assert!(!addresses.is_empty(), "{resolved:?}");

    let paths: Vec<&Probe> = plan
        .probes
        .iter()
        .filter(|p| matches!(p, Probe::LoginPath { .. }) && plan.checks[p.lead()].host == host)
        .collect();
    // Ports 80 and 443 over IPv4.
    assert_eq!(paths.len(), 2, "{paths:#?}");
    for path in paths {
        let started = Instant::now();
        let seen = probe::run(&plan, path, &ctx, &addresses).await;
        let wall = started.elapsed();
        let checks = path.checks();
        let port = plan.checks[path.lead()]
            .port
            .expect("a login path has a port");
        // connect and http, with tls between them on 443.
        assert_eq!(
            checks.len(),
            if port.is_tls() { 3 } else { 2 },
            "{checks:?}"
        );
        assert_eq!(seen.len(), checks.len());
        for (&id, obs) in checks.iter().zip(&seen) {
            let check = &plan.checks[id];
            let outcome = verdict::judge_check(check, obs, &exp);
            assert_eq!(
                outcome.status,
                Status::Pass,
                "{}: {} / {}",
                check.name,
                outcome.reason,
                outcome.observed
            );
        }
        // Each phase's time is its own: together they fit in the probe's wall time. (A TLS
        // time that included the connect, or an HTTP time that included the handshake, would
        // count the earlier phases twice.)
        let sum: std::time::Duration = seen.iter().map(phase_time).sum();
        assert!(
            sum <= wall,
            "phases add up to {sum:?}, more than the probe's {wall:?}: {seen:#?}"
        );
    }
    lab.shutdown().await;
}
