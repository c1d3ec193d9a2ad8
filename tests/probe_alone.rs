//! The plan sends TLS and HTTP on the connect check's connection; run on its own, through the
//! library, such a check opens that connection itself and is judged as in a run.

use std::sync::Arc;

mod common;

use sipa_check::outcome::Status;
use sipa_check::plan::{CheckKind, Plan};
use sipa_check::{probe, runner, verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_http_checks_run_alone_open_their_own_connection() {
    let (lab, s, connect_to) = common::start_lab(&[], false).await;
    let plan = Plan::build(&s, &connect_to);
    let (ctx, exp) = runner::prepare(&s, connect_to).expect("the run can start");

    let host = "login.windows.net";
    let resolve = plan
        .checks
        .iter()
        .find(|c| c.host == host && c.kind == CheckKind::Resolve)
        .expect("a resolve check");
    let resolved = Arc::new(probe::run(resolve, &ctx, &[]).await);
    let alone: Vec<_> = plan
        .checks
        .iter()
        .filter(|c| c.host == host && matches!(c.kind, CheckKind::Tls | CheckKind::Http(_)))
        .collect();
    // TLS on 443, and HTTP on 80 and 443.
    assert_eq!(alone.len(), 3, "{alone:#?}");
    for check in alone {
        assert!(
            check.conn_of.is_some(),
            "{} rides on a connection",
            check.name
        );
        let seen = probe::run(check, &ctx, std::slice::from_ref(&resolved)).await;
        let outcome = verdict::judge_check(check, &seen, &exp);
        assert_eq!(
            outcome.status,
            Status::Pass,
            "{}: {} / {}",
            check.name,
            outcome.reason,
            outcome.observed
        );
    }
    lab.shutdown().await;
}
