//! `audit` against the lab's fake ZPA and ZIA APIs on loopback: the good tenant passes every
//! link through legacy and OneAPI credentials, each audit fault fails at its link naming the
//! object and the guide step, paging / 429 / 401 are handled, refusals are inconclusive, and the
//! fakes never see a write.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sipa_check::audit::client::ApiSettings;
use sipa_check::audit::credentials::{AuditCredentials, BaseUrls};
use sipa_check::audit::judge::Requirements;
use sipa_check::audit::report::AuditReport;
use sipa_check::audit::{self, Source};
use sipa_check::guide::GuideStep;
use sipa_check::lab::Fault;
use sipa_check::lab::admin_api::{AdminApi, ApiBehaviour, AuditFault, SEGMENT_ID};
use sipa_check::outcome::Status;
use sipa_check::scenario::model::AnchorSet;

fn urls(api: &AdminApi) -> BaseUrls {
    BaseUrls {
        zpa: Some(api.zpa_url()),
        zia: Some(api.zia_url()),
        oneapi: Some(api.oneapi_url()),
        oneapi_token: Some(api.oneapi_token_url()),
    }
}

fn source(api: &AdminApi, env: Vec<(&'static str, String)>, page: u32) -> Source {
    let env: HashMap<&str, String> = env.into_iter().collect();
    let credentials = AuditCredentials::from_env(|k| env.get(k).cloned(), &urls(api)).unwrap();
    Source::Api {
        credentials: Box::new(credentials),
        settings: ApiSettings {
            ca_files: vec![api.ca_file().to_path_buf()],
            timeout: Duration::from_secs(20),
            zpa_page_size: page,
            zia_page_size: page,
            ..ApiSettings::default()
        },
    }
}

fn req() -> Requirements {
    Requirements {
        login_hosts: sipa_check::lab::LOGIN_HOSTS
            .iter()
            .map(|h| h.to_string())
            .collect(),
        ports: vec![80, 443],
        anchors: AnchorSet(vec!["127.0.0.2/32".parse().unwrap()]),
    }
}

async fn audit_of(source: &Source) -> (audit::Reading, AuditReport) {
    let reading = audit::read(source).await.unwrap();
    let report = audit::report(
        &reading,
        &req(),
        "2026-11-30T00:00:00Z".into(),
        Instant::now(),
    );
    (reading, report)
}

fn assert_read_only(api: &AdminApi) {
    let requests = api.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let auth = matches!(
            r.path.as_str(),
            "/signin" | "/oauth2/v1/token" | "/api/v1/authenticatedSession"
        );
        // Signing out of the ZIA session is the only DELETE.
        let sign_out = r.method == "DELETE" && r.path == "/api/v1/authenticatedSession";
        assert!(
            r.method == "GET" || (r.method == "POST" && auth) || sign_out,
            "a write reached the API: {r:?}"
        );
    }
    // No admin session is left open.
    assert_eq!(api.open_zia_sessions(), 0, "{requests:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_good_tenant_passes_through_legacy_credentials_page_by_page() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let (reading, report) = audit_of(&source(&api, AdminApi::legacy_env(), 1)).await;
    for c in &report.checks {
        assert_eq!(c.status, Status::Pass, "{c:#?}");
        assert!(c.warnings.is_empty(), "{c:#?}");
    }
    assert_eq!(report.overall, Status::Pass);
    assert!(report.checks.len() >= 17);
    // The connectors behind the SIPA server group, with their names.
    assert_eq!(report.connectors.len(), 1);
    assert_eq!(report.connectors[0].name, "ac-sipa-1");
    assert_eq!(report.connectors[0].public_ip.as_deref(), Some("127.0.0.2"));
    // One item per page: ZPA's segments came in two pages, ZIA's three gateways in four.
    let files: Vec<&String> = reading.documents.files().map(|(n, _)| n).collect();
    assert!(
        files.iter().any(|f| *f == "zpa-application.page-2.json"),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| *f == "zia-zpaGateways.page-3.json"),
        "{files:?}"
    );
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.query.contains("pagesize=1")));
    assert!(requests.iter().any(|r| r.query.contains("pageSize=1")));
    assert_eq!(requests.iter().filter(|r| r.path == "/signin").count(), 1);
    let session: Vec<&str> = requests
        .iter()
        .filter(|r| r.path == "/api/v1/authenticatedSession")
        .map(|r| r.method.as_str())
        .collect();
    // Signed in once, and out once at the end, as Zscaler's SDKs do.
    assert_eq!(session, ["POST", "DELETE"]);
    assert_eq!(requests.last().unwrap().method, "DELETE");
    assert_eq!(api.open_zia_sessions(), 0);
    assert_read_only(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneapi_one_token_serves_both_products() {
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let (_, report) = audit_of(&source(&api, AdminApi::oneapi_env(), 500)).await;
    assert_eq!(report.overall, Status::Pass, "{:#?}", report.checks);
    let requests = api.requests();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/oauth2/v1/token")
            .count(),
        1
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/zpa/mgmtconfig/"))
    );
    assert!(requests.iter().any(|r| r.path.starts_with("/zia/api/v1/")));
    assert_read_only(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_audit_fault_fails_its_link_naming_the_object_and_the_step() {
    // (fault, check name, guide step, object id or name that must be named, the check's status:
    // Pass for a warning only, Error for an inconclusive link)
    let table: Vec<(AuditFault, &str, GuideStep, &str, Status)> = vec![
        (
            AuditFault::AnchorOff,
            "segment O365 SIPA: Source IP Anchor",
            GuideStep::SegmentAnchor,
            SEGMENT_ID,
            Status::Fail,
        ),
        (
            AuditFault::HostMissing,
            "login host login.windows.net: in the anchored segment",
            GuideStep::SegmentDomains,
            SEGMENT_ID,
            Status::Fail,
        ),
        (
            AuditFault::Port80Missing,
            "segment O365 SIPA: TCP port 80",
            GuideStep::SegmentPorts,
            SEGMENT_ID,
            Status::Fail,
        ),
        (
            AuditFault::WildcardOnly,
            "login host login.windows.net: in the anchored segment",
            GuideStep::SegmentDomains,
            SEGMENT_ID,
            Status::Pass,
        ),
        (
            AuditFault::ForwardingIntercept,
            "segment O365 SIPA: client forwarding policy",
            GuideStep::ClientForwarding,
            "SIPA O365 forwarding",
            Status::Fail,
        ),
        (
            AuditFault::AccessZiaInspection,
            "segment O365 SIPA: access policy",
            GuideStep::AccessPolicy,
            SEGMENT_ID,
            Status::Fail,
        ),
        (
            AuditFault::WrongConnectorGroup,
            "server group SIPA servers: App Connector IPs expected",
            GuideStep::ServerGroup,
            "SIPA servers",
            Status::Fail,
        ),
        (
            AuditFault::ConnectorDisconnected,
            "server group SIPA servers: App Connectors connected",
            GuideStep::AppConnectors,
            "SIPA servers",
            Status::Fail,
        ),
        (
            AuditFault::GatewayOtherServerGroup,
            "ZIA ZPA gateway: server group",
            GuideStep::ZpaGateway,
            "SIPA gateway",
            Status::Fail,
        ),
        (
            AuditFault::ForwardingRuleDisabled,
            "segment O365 SIPA: ZIA forwarding rule",
            GuideStep::ForwardingRule,
            "SIPA O365",
            Status::Fail,
        ),
        (
            AuditFault::ActivationPending,
            "ZIA activation",
            GuideStep::ZiaActivation,
            "",
            Status::Error,
        ),
    ];
    assert_eq!(table.len(), AuditFault::ALL.len());
    for (fault, name, step, named, expected) in table {
        let api = AdminApi::start(&[], &[fault], ApiBehaviour::default())
            .await
            .unwrap();
        let (_, report) = audit_of(&source(&api, AdminApi::legacy_env(), 500)).await;
        let c = report
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{fault}: no check {name}: {:#?}", report.checks));
        assert_eq!(c.guide_step, step, "{fault}");
        assert_eq!(c.status, expected, "{fault}: {c:#?}");
        assert_eq!(report.overall, expected, "{fault}");
        match expected {
            Status::Pass => assert!(!c.warnings.is_empty(), "{fault}: {c:#?}"),
            Status::Error => {
                // Inconclusive with the reason and the portal action.
                assert!(!c.causes.is_empty(), "{fault}: {c:#?}");
                assert!(c.fix.contains("activate"), "{fault}: {c:#?}");
            }
            _ => {
                let o = c.object.as_ref().unwrap();
                assert!(o.id == named || o.name == named, "{fault}: {o:?}");
                assert!(!c.fix.is_empty());
            }
        }
        assert_read_only(&api);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_fault_breaks_the_configuration_the_same_way() {
    let api = AdminApi::start(&[Fault::OneDomainUnanchored], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let (_, report) = audit_of(&source(&api, AdminApi::legacy_env(), 500)).await;
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        failed,
        ["login host login.windows.net: in the anchored segment"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_an_expired_session_are_handled() {
    let api = AdminApi::start(
        &[],
        &[],
        ApiBehaviour {
            throttle_first: 1,
            expire_sessions_after: Some(3),
            ..ApiBehaviour::default()
        },
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (_, report) = audit_of(&source(&api, AdminApi::legacy_env(), 500)).await;
    assert_eq!(report.overall, Status::Pass, "{:#?}", report.checks);
    // Retry-After: 1s was honoured.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let requests = api.requests();
    // Signed in again after the 401.
    assert_eq!(requests.iter().filter(|r| r.path == "/signin").count(), 2);
    // The ZIA session in use at the end is ended too.
    assert_eq!(api.open_zia_sessions(), 0, "{requests:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_or_garbled_api_is_inconclusive_never_a_pass() {
    for behaviour in [
        ApiBehaviour {
            refuse_with: Some(403),
            ..ApiBehaviour::default()
        },
        ApiBehaviour {
            refuse_with: Some(503),
            ..ApiBehaviour::default()
        },
        ApiBehaviour {
            bad_json: true,
            ..ApiBehaviour::default()
        },
    ] {
        let api = AdminApi::start(&[], &[], behaviour.clone()).await.unwrap();
        let (_, report) = audit_of(&source(&api, AdminApi::legacy_env(), 500)).await;
        assert_eq!(
            report.overall,
            Status::Error,
            "{behaviour:?}: {:#?}",
            report.checks
        );
        assert_eq!(report.tally.errors, 2, "{behaviour:?}");
        assert_eq!(report.tally.passed, 0, "{behaviour:?}");
        assert!(
            report
                .checks
                .iter()
                .all(|c| c.guide_step == GuideStep::AdminApi)
        );
    }
    // Wrong credentials: still 401 after signing in: inconclusive.
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let mut env = AdminApi::legacy_env();
    for (k, v) in &mut env {
        if *k == "ZPA_CLIENT_SECRET" {
            *v = "wrong".into();
        }
    }
    let (_, report) = audit_of(&source(&api, env, 500)).await;
    assert_eq!(report.overall, Status::Error);
    let zpa = report
        .checks
        .iter()
        .find(|c| c.status == Status::Error)
        .unwrap();
    assert!(zpa.found.contains("401"), "{zpa:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_audits_the_same_offline() {
    let api = AdminApi::start(&[], &[AuditFault::Port80Missing], ApiBehaviour::default())
        .await
        .unwrap();
    let (reading, live) = audit_of(&source(&api, AdminApi::legacy_env(), 1)).await;
    let dir = tempfile::tempdir().unwrap();
    reading.documents.write_snapshot(dir.path()).unwrap();
    drop(api);
    let (_, offline) = audit_of(&Source::Snapshot(dir.path().to_path_buf())).await;
    assert_eq!(offline.checks, live.checks);
    assert_eq!(offline.overall, Status::Fail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zia_session_that_cannot_be_ended_is_said_and_changes_no_verdict() {
    let api = AdminApi::start(
        &[],
        &[],
        ApiBehaviour {
            refuse_sign_out: true,
            ..ApiBehaviour::default()
        },
    )
    .await
    .unwrap();
    let (reading, report) = audit_of(&source(&api, AdminApi::legacy_env(), 500)).await;
    assert_eq!(report.overall, Status::Pass, "{:#?}", report.checks);
    // The DELETE was sent, refused, and the session is still open: said, not hidden.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == "/api/v1/authenticatedSession")
    );
    assert_eq!(api.open_zia_sessions(), 1);
    assert_eq!(reading.warnings.len(), 1, "{:?}", reading.warnings);
    assert!(
        reading.warnings[0].contains("the ZIA admin session could not be ended")
            && reading.warnings[0].contains("HTTP 500"),
        "{:?}",
        reading.warnings
    );
    // A clean sign-out leaves no warning.
    let api = AdminApi::start(&[], &[], ApiBehaviour::default())
        .await
        .unwrap();
    let (reading, _) = audit_of(&source(&api, AdminApi::legacy_env(), 500)).await;
    assert!(reading.warnings.is_empty(), "{:?}", reading.warnings);
}
