//! What the QUIC checks cost: the bundled lab scenario against the embedded lab (25 ms of WAN
//! latency on every TCP set-up and answer), run with and without its QUIC checks, with UDP 443
//! closed (ICMP port unreachable), open (`quic-open`: handshake and HTTP/3 echo) and silently
//! dropped (a UDP socket that never answers, on the HTTPS door's port number). Prints the
//! median wall time of each (9 runs), and the QUIC probes' own handshake and total times, so
//! that "beside the TCP probes, not after them" can be read off: with QUIC the wall time is the
//! longer of the two, never their sum.
//!
//! `cargo run --release --example quic_bench`

use std::sync::Arc;
use std::time::{Duration, Instant};

use sipa_check::cmd::lab::lab_overrides;
use sipa_check::lab::{Fault, Lab, LabConfig};
use sipa_check::observation::Observation;
use sipa_check::plan::{CheckKind, Plan, Probe};
use sipa_check::runner::{self, Quiet};
use sipa_check::scenario;

const RUNS: usize = 9;
const LATENCY: Duration = Duration::from_millis(25);

/// The plan without its QUIC checks: they and their probes are the plan's last ones.
fn without_quic(plan: &Plan) -> Plan {
    let first = plan
        .checks
        .iter()
        .position(|c| matches!(c.kind, CheckKind::Quic { .. }))
        .expect("the lab plan has QUIC checks");
    assert!(
        plan.checks[first..]
            .iter()
            .all(|c| matches!(c.kind, CheckKind::Quic { .. })),
        "QUIC checks come last"
    );
    let probes = plan
        .probes
        .iter()
        .position(|p| matches!(p, Probe::Quic { .. }))
        .expect("QUIC probes");
    Plan {
        checks: plan.checks[..first].to_vec(),
        probes: plan.probes[..probes].to_vec(),
        entra_mode: plan.entra_mode,
        decisions: plan.decisions.clone(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Case {
    wall_without: Duration,
    wall_with: Duration,
    handshake: Duration,
    quic_total: Duration,
    outcome: String,
}

async fn case(faults: &[Fault], drop_udp: bool) -> anyhow::Result<Case> {
    let lab = Lab::start(LabConfig {
        faults: faults.to_vec(),
        latency: LATENCY,
    })
    .await?;
    // A UDP socket on the HTTPS door's port number that reads nothing and answers nothing: a
    // firewall that drops UDP 443 without a word.
    let _silent = if drop_udp {
        Some(std::net::UdpSocket::bind((
            "127.0.0.1",
            lab.transparent_https_addr().port(),
        ))?)
    } else {
        None
    };
    let mut s = scenario::bundled_lab();
    let (overrides, connect_to) = lab_overrides(&lab, faults, false);
    s.apply(&overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    let full = Arc::new(Plan::build(&s, &connect_to));
    let tcp_only = Arc::new(without_quic(&full));
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let (mut handshakes, mut totals) = (Vec::new(), Vec::new());
    let mut outcome = String::new();
    for _ in 0..RUNS {
        for (plan, walls) in [(&tcp_only, &mut without), (&full, &mut with)] {
            let (ctx, _) = runner::prepare(&s, connect_to.clone())?;
            let started = Instant::now();
            let (seen, cut) = runner::execute(plan, ctx, &s.limits, runner::never(), &Quiet).await;
            walls.push(started.elapsed());
            anyhow::ensure!(cut.is_none(), "the run was cut");
            for o in &seen {
                if let Observation::Quic(q) = o {
                    handshakes.push(q.handshake);
                    totals.push(q.elapsed);
                    outcome = serde_json::to_value(&q.outcome)?["result"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if let Some(by) = serde_json::to_value(&q.outcome)?["by"].as_str() {
                        outcome = format!("{outcome} ({by})");
                    }
                }
            }
        }
    }
    lab.shutdown().await;
    Ok(Case {
        wall_without: median(without),
        wall_with: median(with),
        handshake: median(handshakes),
        quic_total: median(totals),
        outcome,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "lab scenario (3 login hosts × 80/443, 10 observers × 3 samples, IPv4), lab latency {}, median of {RUNS} runs",
        ms(LATENCY)
    );
    println!(
        "{:<34} {:>14} {:>14} {:>16} {:>16}  quic outcome",
        "UDP 443", "wall w/o QUIC", "wall w/ QUIC", "QUIC handshake", "QUIC probe"
    );
    for (what, faults, drop_udp) in [
        ("closed (ICMP port unreachable)", &[][..], false),
        (
            "open (quic-open, + HTTP/3 echo)",
            &[Fault::QuicOpen][..],
            false,
        ),
        ("dropped (no answer: waits 2 s)", &[][..], true),
    ] {
        let c = case(faults, drop_udp).await?;
        println!(
            "{what:<34} {:>14} {:>14} {:>16} {:>16}  {}",
            ms(c.wall_without),
            ms(c.wall_with),
            ms(c.handshake),
            ms(c.quic_total),
            c.outcome
        );
    }
    Ok(())
}
