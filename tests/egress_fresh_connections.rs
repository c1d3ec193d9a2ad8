//! Each echo sample must travel on a connection of its own: a pooled connection would take one
//! path through the gateway and report it as many independent samples.

use sipa_check::outcome::Status;
mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_echo_sample_and_http_check_uses_a_fresh_connection() {
    let (lab, s, connect_to) = common::start_lab(&[], false).await;
    let samples: u64 = s.observers.iter().map(|o| u64::from(o.samples)).sum();
    let run = common::run_quietly(&s, connect_to).await;
    assert_eq!(run.tally.overall(), Status::Pass);

    let traffic = lab.origin_traffic();
    lab.shutdown().await;
    // 10 observers × 3 samples in the bundled lab scenario.
    assert_eq!(samples, 30);
    assert_eq!(traffic.echo_answers, samples, "{traffic:?}");
    assert_eq!(traffic.requests_on_reused_connections, 0, "{traffic:?}");
    // Every request (the echoes and the 6 login-page checks) had a connection of its own: the
    // HTTPS checks' are the TLS checks' connections, which carry that one request and no other.
    // The connect checks reach only the gateway.
    assert_eq!(traffic.requests, samples + 6, "{traffic:?}");
    assert_eq!(traffic.connections, traffic.requests, "{traffic:?}");
}
